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
import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

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


def new_postgres_database(*, empty: bool = False) -> str:
    """A new PostgreSQL database; its SQLAlchemy URL. It is a copy of one migrated once per
    run (a server finds its schema current, and starts in a fraction of the time), or, with
    ``empty``, empty. (Callable from async tests too: the statements run on a loop of their
    own, on a thread.)"""
    name = f"{PREFIX}{uuid.uuid4().hex[:16]}"
    copy_of = "" if empty else f' TEMPLATE "{_migrated_template()}"'
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _execute(f'CREATE DATABASE "{name}"{copy_of}')).result(60)
    _created.append(name)
    return f"postgresql+asyncpg://{POSTGRES}/{name}"


def _migrated_template() -> str:
    """The database new ones copy: created and migrated by the first call of this run."""
    if not _template:
        name = f"{PREFIX}template_{uuid.uuid4().hex[:12]}"

        async def create() -> None:
            from arkitekt.server.db import Database

            await _execute(f'CREATE DATABASE "{name}"')
            database = Database(f"postgresql+asyncpg://{POSTGRES}/{name}")
            try:
                await database.migrate()
            finally:
                await database.dispose()  # a template has no connections while it is copied

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, create()).result(timeout=120)
        _created.append(name)
        _template.append(name)
    return _template[0]


_template: list[str] = []


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


class PostgresProcess:
    """A PostgreSQL of its own (Debian's binaries, a fresh cluster in a temporary folder, a
    free loopback port, trust authentication), for a test that crashes and restarts it.
    PostgreSQL refuses to run as root: as root it runs as the ``postgres`` user (then the
    folder is outside the tests' own, which only root may enter)."""

    def __init__(self) -> None:
        import tempfile

        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("this test needs PostgreSQL's binaries (.ci/run installs them)")
        self.bin = found[-1].parent
        self.folder = Path(tempfile.mkdtemp(prefix="arkitekt-test-postgres-"))
        self.data = self.folder / "pgdata"
        from servers import free_port

        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        if not self.data.exists():
            if self._as:
                shutil.chown(self.folder, "postgres", "postgres")
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
            )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.folder / "log"), "start")  # fmt: skip

    def stop(self, *, crash: bool = False) -> None:
        """Stop it; ``crash``: at once, without a checkpoint (as a power cut would)."""
        mode = "immediate" if crash else "fast"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def new_database(self) -> str:
        """A new database on it; its SQLAlchemy URL."""
        name = f"{PREFIX}{uuid.uuid4().hex[:16]}"

        async def create() -> None:
            import asyncpg

            connection = await asyncpg.connect(
                f"postgresql://postgres@127.0.0.1:{self.port}/postgres", timeout=10
            )
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, create()).result(timeout=60)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> PostgresProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self.stop(crash=True)
        shutil.rmtree(self.folder, ignore_errors=True)
