"""The database the test servers run on: SQLite in their data folder (the default), or a fresh
PostgreSQL database each when ``ARKITEKT_TEST_DATABASE=postgresql``.

PostgreSQL is the one at ``ARKITEKT_TEST_POSTGRES`` (default ``127.0.0.1:5432``, user
``postgres``, trust authentication: what ``.ci/run`` starts). A server's database is created
when the server is configured and is left for the engine's owner to drop (each has a unique
name, ``arkitekt_test_<hex>``); :func:`drop_test_databases` removes those of this run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid

POSTGRES = os.environ.get("ARKITEKT_TEST_POSTGRES", "postgres@127.0.0.1:5432")
PREFIX = "arkitekt_test_"


def engine() -> str:
    """``sqlite`` or ``postgresql``: what this test run's servers use."""
    chosen = os.environ.get("ARKITEKT_TEST_DATABASE", "sqlite")
    if chosen not in ("sqlite", "postgresql"):
        raise RuntimeError(f"ARKITEKT_TEST_DATABASE={chosen!r}: choose sqlite or postgresql")
    return chosen


def _admin_dsn() -> str:
    return f"postgresql://{POSTGRES}/postgres"


async def _execute(statement: str) -> None:
    import asyncpg  # the postgres extra

    try:
        connection = await asyncpg.connect(_admin_dsn(), timeout=10)
    except (OSError, asyncpg.PostgresError) as e:
        raise RuntimeError(
            f"ARKITEKT_TEST_DATABASE=postgresql but PostgreSQL at {POSTGRES} cannot be "
            f"reached ({e}); start it (.ci/run does) or run the tests on SQLite"
        ) from e
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def new_postgres_database() -> str:
    """A new, empty PostgreSQL database; its SQLAlchemy URL. (Callable from async tests too:
    the statement runs on a loop of its own, on a thread.)"""
    name = f"{PREFIX}{uuid.uuid4().hex[:16]}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _execute(f'CREATE DATABASE "{name}"')).result(timeout=60)
    _created.append(name)
    return f"postgresql+asyncpg://{POSTGRES}/{name}"


_created: list[str] = []
"""The databases this test run created."""


def drop_test_databases() -> None:
    """Drop the databases this test run created (at its end; another run's stay)."""
    names, _created[:] = list(_created), []
    if not names:
        return

    async def drop() -> None:
        import asyncpg

        connection = await asyncpg.connect(_admin_dsn(), timeout=10)
        try:
            for name in names:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())
