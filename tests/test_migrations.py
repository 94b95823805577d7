"""The Alembic migrations build exactly the schema the models describe (a forgotten migration
fails here, not on a user's server)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from arkitekt.server.db import alembic_config


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'check.db'}")
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            command.upgrade(config, "head")
            command.check(config)  # raises when autogenerate would find differences
    finally:
        engine.dispose()
