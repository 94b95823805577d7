"""The database: an async SQLAlchemy engine, sessions, and Alembic migrations."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from .config import ServerConfig

MIGRATIONS = Path(__file__).parent / "migrations"

_MIGRATION_LOCK = threading.Lock()
"""Alembic's ``context`` and ``op`` are process-wide proxies (module attributes pointing at the
running migration), so two migrations in one process must not overlap, even on different
databases: the second would run on the first one's connection. Servers in one process (several
``local()`` apps, each with its own loop thread) take turns here."""

_SQLITE_BUSY_TIMEOUT_MS = 5000
_SQLITE_MIGRATION_WAIT_MS = 60000
_PG_MIGRATION_LOCK_ID = 0x61726B69746B74  # "arkitkt": an application-wide advisory lock id


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the server and a CLI command (`arkitekt user add`) use one file at once.
    cursor = dbapi_connection.cursor()
    # The busy timeout first: switching a new file to WAL needs a lock another process may hold,
    # for as long as its migration runs (bounded by the migration's own wait).
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_MIGRATION_WAIT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """One engine and its session factory."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            # One connection per process: SQLite has a single writer, and queueing in the pool
            # (an await) is far cheaper than writers spinning on the file lock (busy_timeout).
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=pool_timeout)
        else:
            kwargs.update(
                pool_pre_ping=True,  # a restarted PostgreSQL leaves dead connections behind
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=pool_timeout,
            )
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic ``upgrade head``).

        Safe to call from several servers at once: in one process they take turns (Alembic's
        proxies are process-wide), and across processes sharing one database the migration is
        one write transaction that the others wait for (SQLite ``BEGIN IMMEDIATE``, a
        PostgreSQL advisory lock), after which they find the schema current.
        """
        await _acquire(_MIGRATION_LOCK)
        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(_upgrade)
        finally:
            _MIGRATION_LOCK.release()

    async def dispose(self) -> None:
        """Close every pooled connection (and, for SQLite, their threads)."""
        await self.engine.dispose()

    @classmethod
    def of(cls, config: ServerConfig) -> Database:
        """The database a server's configuration names, with its pool sizes."""
        return cls(
            config.sqlalchemy_url(),
            pool_size=config.database_pool_size,
            max_overflow=config.database_max_overflow,
            pool_timeout=config.database_pool_timeout,
        )

    def new_session(self) -> AsyncSession:
        return self.session()

    def insert_or_ignore(self, model: Any, *unique: str) -> Any:
        """``INSERT ... ON CONFLICT (unique) DO NOTHING`` for this database's dialect.

        For rows that several servers on one database (processes sharing a data folder,
        replicas) may create at the same moment: the loser inserts nothing, then reads the
        winner's row, instead of failing on the unique constraint.
        """
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(model).on_conflict_do_nothing(index_elements=list(unique))
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model).on_conflict_do_nothing(index_elements=list(unique))

    def insert_or_update(self, model: Any, unique: list[str], columns: list[str]) -> Any:
        """``INSERT ... ON CONFLICT (unique) DO UPDATE`` of ``columns`` (from the new row)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(model)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(model)
        return statement.on_conflict_do_update(
            index_elements=unique, set_={c: statement.excluded[c] for c in columns}
        )


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    dialect = connection.dialect.name
    if dialect == "sqlite":
        # pysqlite runs DDL outside a transaction unless one is open: open a write transaction
        # now, so the whole migration is atomic and another process migrating the same file
        # waits (busy_timeout) and then sees the new revision instead of half a schema.
        # A first migration takes a fraction of a second; wait longer than busy_timeout for it.
        connection.exec_driver_sql(f"PRAGMA busy_timeout={_SQLITE_MIGRATION_WAIT_MS}")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    elif dialect == "postgresql":
        # Released at the end of the transaction; replicas starting together migrate in turn.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK_ID})")
    command.upgrade(alembic_config(connection), "head")


async def _acquire(lock: threading.Lock) -> None:
    """Take a threading lock without blocking the event loop (whose other tasks may hold it).

    A helper thread waits for the lock and hands it to the loop; when the waiting task was
    cancelled meanwhile (or its loop has closed), the helper releases the lock again, so a
    cancellation never leaves it taken.
    """
    if lock.acquire(blocking=False):
        return
    loop = asyncio.get_running_loop()
    taken: asyncio.Future[None] = loop.create_future()

    def hand_over() -> None:  # on the loop, so it cannot race the cancellation of `taken`
        if taken.cancelled():
            lock.release()
        else:
            taken.set_result(None)

    def wait() -> None:
        lock.acquire()
        try:
            loop.call_soon_threadsafe(hand_over)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            lock.release()

    threading.Thread(target=wait, name="arkitekt-migration-wait", daemon=True).start()
    await taken
