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
from sqlalchemy import event, text
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


def _on_with_foreign_keys(url: str, work: Callable[[Connection], Any]) -> Any:
    """Like :func:`_on`, with SQLite enforcing foreign keys as the server's connections do."""

    async def run() -> Any:
        engine = create_async_engine(url)
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine.sync_engine, "connect")
            def enforce(connection: Any, record: Any) -> None:
                connection.execute("PRAGMA foreign_keys=ON")

        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


NOW = "'2026-01-01 00:00:00+00:00'"


def test_table_links_to_rois_and_datasets_follow_deletions(empty_database: str) -> None:
    """0006 makes a table's ROI a foreign key (ON DELETE SET NULL; ids stored before it name no
    ROI and are cleared) and datasets hold tables (a deleted table leaves its datasets)."""

    def tables_with_a_loose_roi_id(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "0005")
        connection.execute(
            text(
                "INSERT INTO users (id, username, password_hash, is_active, is_admin, created_at)"
                f" VALUES ('u1', 'alice', 'hash', true, false, {NOW})"
            )
        )
        connection.execute(
            text(
                "INSERT INTO storage_images (id, owner_id, name, store, datalayer, status, shape,"
                " dims, dtype, chunks, shared_with_everyone, created_at) VALUES ('i1', 'u1',"
                " 'img', 'images/i1', 'local', 'ready', '[4, 4]', '[\"y\", \"x\"]', 'uint8',"
                f" '[4, 4]', false, {NOW})"
            )
        )
        for table_id in ("t1", "t2"):
            connection.execute(
                text(
                    "INSERT INTO storage_tables (id, owner_id, name, store, datalayer, status,"
                    " image_id, roi_id, shared_with_everyone, created_at) VALUES"
                    f" ('{table_id}', 'u1', 'tbl', 'tables/{table_id}', 'local', 'ready', 'i1',"
                    f" 'roi-1', false, {NOW})"
                )
            )

    def links(connection: Connection) -> dict[str, Any]:
        command.upgrade(alembic_config(connection), "head")
        loose = connection.execute(text("SELECT roi_id FROM storage_tables")).scalars().all()
        connection.execute(
            text(
                "INSERT INTO storage_rois (id, image_id, creator_id, kind, vectors, label,"
                f" created_at) VALUES ('r1', 'i1', 'u1', 'point', '[[1, 1]]', '', {NOW})"
            )
        )
        connection.execute(text("UPDATE storage_tables SET roi_id = 'r1'"))
        connection.execute(
            text(
                "INSERT INTO storage_datasets (id, owner_id, name, shared_with_everyone,"
                f" created_at) VALUES ('d1', 'u1', 'set', false, {NOW})"
            )
        )
        for table_id in ("t1", "t2"):
            connection.execute(
                text(
                    "INSERT INTO storage_dataset_tables (dataset_id, table_id, added_at)"
                    f" VALUES ('d1', '{table_id}', {NOW})"
                )
            )
        connection.execute(text("DELETE FROM storage_rois WHERE id = 'r1'"))
        after_roi = connection.execute(text("SELECT roi_id FROM storage_tables")).scalars().all()
        connection.execute(text("DELETE FROM storage_tables WHERE id = 't1'"))
        members = connection.execute(text("SELECT table_id FROM storage_dataset_tables"))
        return {"loose": loose, "after_roi": after_roi, "members": members.scalars().all()}

    _on_with_foreign_keys(empty_database, tables_with_a_loose_roi_id)
    assert _on_with_foreign_keys(empty_database, links) == {
        "loose": [None, None],
        "after_roi": [None, None],
        "members": ["t2"],
    }
