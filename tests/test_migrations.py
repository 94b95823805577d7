"""The Alembic migrations, on both engines: from an empty database they build exactly the schema
the models describe (a forgotten migration fails here, not on a user's server), and a database
of the previous release's schema, with data in it, is brought to the newest one keeping it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import databases
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from arkitekt.server.db import alembic_config

PREVIOUS_RELEASE = "0002"
"""The newest revision of the previous release (0.1: users, keys and remote functions)."""


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database's async URL, on each engine (PostgreSQL must be running)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"
    else:
        yield databases.new_postgres_database(empty=True)


def _on(url: str, work: Callable[[Connection], Any]) -> Any:
    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_from_empty_match_the_models(empty_database: str) -> None:
    def upgrade_and_check(connection: Connection) -> None:
        config = alembic_config(connection)
        command.upgrade(config, "head")
        command.check(config)  # raises when autogenerate would find differences

    _on(empty_database, upgrade_and_check)


def test_the_previous_releases_schema_is_upgraded_keeping_its_data(empty_database: str) -> None:
    def previous_release_with_data(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), PREVIOUS_RELEASE)
        connection.execute(
            text(
                "INSERT INTO users (id, username, password_hash, is_active, is_admin, created_at)"
                " VALUES ('u1', 'alice', 'hash', true, false, '2026-01-01 00:00:00+00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO rpc_nodes (id, hash, name, description, kind, definition, created_at)"
                " VALUES ('n1', 'h1', 'add', 'Add.', 'function', '{\"name\": \"add\"}',"
                " '2026-01-01 00:00:00+00:00')"
            )
        )

    def upgrade(connection: Connection) -> list[Any]:
        config = alembic_config(connection)
        command.upgrade(config, "head")
        command.check(config)
        users = connection.execute(text("SELECT username, is_admin FROM users")).all()
        nodes = connection.execute(text("SELECT name, description FROM rpc_nodes")).all()
        return [tuple(row) for row in [*users, *nodes]]

    _on(empty_database, previous_release_with_data)
    assert _on(empty_database, upgrade) == [("alice", False), ("add", "Add.")]
