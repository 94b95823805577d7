"""Real servers and agent processes for the tests: one way to start each.

- :class:`TestServer`: an arkitekt server on a loopback port, either ``arkitekt server`` in a
  subprocess (:meth:`TestServer.standalone`) or the same ASGI app on a thread of this process
  (:meth:`TestServer.in_process`), with the :class:`~arkitekt.server.config.ServerConfig` a test
  chooses, its users (password :data:`PASSWORD`) and their mandate keys. ``with`` starts it,
  creates its users and stops it; :meth:`~TestServer.stop` / :meth:`~TestServer.start` restart it
  on the same port and data.
- :func:`start_agent`: a ``python`` process logged in to a server with a user's mandate key, as
  a user's agent is (:class:`AgentProcess` stops it with Ctrl-C or kills it).

The in-process part builds on the public pytest plugin (:mod:`arkitekt.testing`). Every wait is
bounded: :func:`wait_for` polls with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import databases
import httpx

if TYPE_CHECKING:
    from arkitekt import App
    from arkitekt.server.config import ServerConfig
    from arkitekt.server.embedded import EmbeddedServer
    from arkitekt.server.state import ServerState

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
"""The password of every user the tests create."""
TEST_SETTINGS: dict[str, Any] = {"device_code_interval": 1, "datalayer": "local"}
"""What every test server runs with unless a test says otherwise."""
FAST_RPC: dict[str, Any] = {
    "rpc_heartbeat_interval": 0.5,
    "rpc_heartbeat_timeout": 3,
    "rpc_reconnect_grace": 2,
}
"""Server settings that make link failures show within seconds."""
SERVER_COMMAND = (sys.executable, "-m", "arkitekt.cli", "server")


# -- small things --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    condition: Callable[[], T | None], timeout: float = 20.0, what: str = "condition"
) -> T:
    """Poll ``condition`` until it returns something true (returned); TimeoutError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


SWEEP_GRANT_TTL = 3
"""Seconds of upload grant (``storage_grant_ttl``) for tests that let an upload be abandoned
and swept: long enough for its first objects to be written on a loaded machine (one second
was not). The upload counts as abandoned this long after it was requested (with
``storage_upload_grace=0``): sleep ``SWEEP_GRANT_TTL + 0.2`` after writing."""


def wait_healthy(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    timeout: float = 30,
    path: str = "/health",
) -> None:
    """Wait until ``url + path`` answers 200; RuntimeError at once if ``process`` exits."""

    def answers() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            return httpx.get(f"{url}{path}", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answers, timeout, f"{url}{path} answering")


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def env_variables(settings: Mapping[str, Any]) -> dict[str, str]:
    """Server settings as the ``ARKITEKT_*`` variables a server process reads (None: left out)."""
    from pydantic import SecretStr

    return {
        f"ARKITEKT_{name.upper()}": (
            value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        )
        for name, value in settings.items()
        if value is not None
    }


def cli(
    *args: str,
    data_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``arkitekt`` command in a subprocess (on the data folder ``data_dir``)."""
    environment = dict(os.environ if env is None else env)
    if data_dir is not None:
        environment["ARKITEKT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "arkitekt.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
        **kwargs,
    )


# -- servers -------------------------------------------------------------------------------------


@dataclass
class TestServer:
    """A real arkitekt server for tests: ``arkitekt server`` in a subprocess, or in-process."""

    __test__: ClassVar[bool] = False  # not a test class, whatever its name

    config: ServerConfig
    """What it runs with (a subprocess gets the settings as ``ARKITEKT_*`` variables)."""
    mode: Literal["standalone", "in_process"]
    users: tuple[str, ...] = ()
    """Created (password :data:`PASSWORD`) when the server is entered with ``with``."""
    log: Path | None = None
    """standalone: the file its output is appended to (default: this process's output)."""
    port: int = 0
    """Its loopback port: chosen at the first start, kept for restarts."""
    process: subprocess.Popen[bytes] | None = None
    """standalone: the ``arkitekt server`` process while it runs."""
    embedded: EmbeddedServer | None = None
    """in_process: the EmbeddedServer while it runs."""
    keys: dict[str, str] = field(default_factory=dict)
    """The mandate key of each user, issued on first use by :meth:`key`."""

    @classmethod
    def standalone(
        cls, data_dir: Path, *, users: Iterable[str] = (), log: Path | None = None, **settings: Any
    ) -> TestServer:
        """``arkitekt server`` in a subprocess with these ServerConfig ``settings``, not started."""
        config = _config(data_dir, settings)
        return cls(config=config, mode="standalone", users=tuple(users), log=log)

    @classmethod
    def in_process(
        cls, data_dir: Path, *, users: Iterable[str] = (), **settings: Any
    ) -> TestServer:
        """The server on a thread of this process (an EmbeddedServer) with these ServerConfig
        ``settings`` (not started)."""
        return cls(config=_config(data_dir, settings), mode="in_process", users=tuple(users))

    # -- running -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    def start(self, timeout: float = 30) -> None:
        """Start serving (again: same port, same data); returns once it answers."""
        if self.mode == "in_process":
            from arkitekt.server.embedded import EmbeddedServer

            server = EmbeddedServer(self.config, port=self.port)
            server.start(timeout)
            self.embedded, self.port = server, server.port
            return
        self.port = self.port or free_port()
        with contextlib.ExitStack() as files:
            out = files.enter_context(self.log.open("ab")) if self.log else None
            self.process = subprocess.Popen(
                [*SERVER_COMMAND, "--port", str(self.port), "--log-level", "warning"],
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
            )
        try:
            wait_healthy(self.url, self.process, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop serving (idempotent); the data stays for a restart."""
        if self.process is not None:
            process, self.process = self.process, None
            stop_process(process)
        if self.embedded is not None:
            embedded, self.embedded = self.embedded, None
            embedded.stop()

    def kill(self) -> None:
        """Kill the standalone server with SIGKILL, as a crash would (no flush, no goodbye);
        the data stays for a restart."""
        if self.process is None:
            raise RuntimeError(f"not a running standalone server ({self.mode})")
        process, self.process = self.process, None
        process.kill()
        process.wait(10)

    def __enter__(self) -> TestServer:
        self.start()
        try:
            for user in self.users:
                self.add_user(user)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """This process's environment with the server's settings (for its processes and CLI)."""
        settings = {name: getattr(self.config, name) for name in self.config.model_fields_set}
        unset = {f"ARKITEKT_{name.upper()}" for name, value in settings.items() if value is None}
        env = {name: value for name, value in os.environ.items() if name not in unset}
        return {**env, **env_variables(settings)}

    # -- in-process access -------------------------------------------------------------------

    @property
    def state(self) -> ServerState:
        """The running in-process server's state (keys, database, storage)."""
        return self._embedded().state

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine on the in-process server's loop."""
        return self._embedded().call(fn, timeout)

    def _embedded(self) -> EmbeddedServer:
        if self.embedded is None:
            raise RuntimeError(f"not a running in-process server ({self.mode})")
        return self.embedded

    # -- users and credentials ---------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``arkitekt ARGS`` in a subprocess, on this server's data (and database)."""
        return cli(*args, env=self.environment(), check=check)

    def add_user(self, name: str, password: str = PASSWORD) -> None:
        """Create a user: with the CLI for a subprocess, through the plugin in-process."""
        if self.mode == "standalone":
            self.cli("user", "add", name, "--password", password)
            return
        from arkitekt.testing import TestingServer

        TestingServer(self._embedded()).add_user(name, password)

    def mandate_key(self, user: str, *, app: str | None = None) -> str:
        """A new mandate key for ``user`` (for any app unless ``app`` is given)."""
        if self.mode == "standalone":
            only_app = ("--app", app) if app else ()
            out = self.cli("user", "mandate", user, "--label", "tests", *only_app).stdout
            return out.strip().splitlines()[-1]
        from arkitekt.server.credentials import create_mandate_key

        state = self.state

        async def issue() -> str:
            async with state.db.session() as session:
                return await create_mandate_key(session, user, name="tests", app_identifier=app)

        return self.call(issue)

    def key(self, user: str) -> str:
        """The mandate key of ``user`` (issued the first time it is asked for)."""
        if user not in self.keys:
            self.keys[user] = self.mandate_key(user)
        return self.keys[user]

    def app(self, username: str = "alice", identifier: str = "test-app", **kwargs: Any) -> App:
        """A remote-mode app (not entered) logged in as ``username`` with :data:`PASSWORD`.

        ``kwargs`` go to :func:`arkitekt.easy` (``no_cache`` defaults to True)."""
        from arkitekt import easy

        kwargs.setdefault("no_cache", True)
        return easy(identifier, url=self.url, username=username, password=PASSWORD, **kwargs)

    def client_env(self, user: str, cache_dir: Path, *, url: str | None = None) -> dict[str, str]:
        """The variables a client process logs in with: this server (or ``url``), ``user``'s
        mandate key, a session cache of its own."""
        return {
            "ARKITEKT_URL": url or self.url,
            "ARKITEKT_MANDATE_KEY": self.key(user),
            "ARKITEKT_CACHE_DIR": str(cache_dir),
        }

    def stored_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a read-only ``sql`` query on the server's database, read behind its back
        (SQLite file or PostgreSQL alike; the server may be stopped)."""
        return self._behind_its_back(sql, write=False)

    def tamper(self, sql: str) -> None:
        """Run a statement on the server's database behind its back (committed at once), as
        another process would."""
        self._behind_its_back(sql, write=True)

    def _behind_its_back(self, sql: str, *, write: bool) -> list[tuple[Any, ...]]:
        import asyncio
        import concurrent.futures

        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        async def run() -> list[tuple[Any, ...]]:
            engine = create_async_engine(self.config.sqlalchemy_url())
            try:
                if write:
                    async with engine.begin() as connection:
                        await connection.execute(text(sql))
                    return []
                async with engine.connect() as connection:
                    return [tuple(row) for row in await connection.execute(text(sql))]
            finally:
                await engine.dispose()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # async tests have a loop
            return pool.submit(asyncio.run, run()).result(timeout=60)

    # -- the datalayer -----------------------------------------------------------------------

    def stored_keys(self, prefix: str = "") -> list[str]:
        """Every object key in the datalayer under ``prefix`` (read behind the server's back)."""
        config = self.config
        if config.datalayer == "local":
            root = Path(config.data_dir) / "datalayer"
            for _ in range(10):
                try:
                    return sorted(
                        str(p.relative_to(root)) for p in (root / prefix).rglob("*") if p.is_file()
                    )
                except FileNotFoundError:  # the server removed a folder while it was walked
                    continue
            raise AssertionError(f"the datalayer under {prefix!r} kept changing while listed")
        import obstore
        from obstore.store import S3Store

        assert config.s3_secret_access_key is not None
        store = S3Store(
            config.s3_bucket,
            endpoint=config.s3_endpoint_url,
            region=config.s3_region,
            access_key_id=config.s3_access_key_id,
            secret_access_key=config.s3_secret_access_key.get_secret_value(),
            client_options={"allow_http": True},
        )
        return sorted(
            meta["path"] for batch in obstore.list(store, prefix=prefix or None) for meta in batch
        )


def _config(data_dir: Path, settings: Mapping[str, Any]) -> ServerConfig:
    from arkitekt.server.config import ServerConfig

    chosen = dict(settings)
    if databases.engine() == "postgresql" and "database_url" not in chosen:
        chosen["database_url"] = databases.new_postgres_database()
    return ServerConfig(**{**TEST_SETTINGS, **chosen, "data_dir": data_dir})


class Servers:
    """The ``servers`` fixture: in-process servers for one test, each with a folder of its own,
    all stopped at the end of the test (the newest first)."""

    def __init__(self, folder: Path, s3_endpoint: Callable[[], str]) -> None:
        self._folder = folder
        self._s3_endpoint = s3_endpoint
        self._stack = contextlib.ExitStack()
        self._count = 0

    def in_process(
        self, *, users: Iterable[str] = (), s3: bool = False, **settings: Any
    ) -> TestServer:
        """A started in-process server with these users and ServerConfig ``settings``; ``s3``:
        its datalayer is a new bucket on the session's S3 server (moto)."""
        if s3:
            from s3_helpers import s3_settings

            settings = {**s3_settings(self._s3_endpoint()), **settings}
        folder = self._folder / f"server{self._count}"
        self._count += 1
        server = TestServer.in_process(folder, users=users, **settings)
        return self._stack.enter_context(server)

    def close(self) -> None:
        self._stack.close()


# -- agents --------------------------------------------------------------------------------------


@dataclass
class AgentProcess:
    """A client process (an agent, or a caller) started by :func:`start_agent`."""

    process: subprocess.Popen[bytes]
    log: Path
    """Its stdout and stderr."""
    group: bool = False
    """Whether it leads a process group of its own (signals then reach its children too)."""

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        """Wait until ``text`` appears in its output (TimeoutError with the output if not)."""
        try:
            wait_for(lambda: text in self.output(), timeout, f"{text!r} from {self.log.stem}")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; its output:\n{self.output()}") from None

    def _signal(self, number: int) -> None:
        if self.group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, number)
        else:
            self.process.send_signal(number)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 15) -> int:
        """Ctrl-C, as a user would; returns the exit code (AssertionError if it would not stop)."""
        if self.process.poll() is None:
            self._signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"the process did not stop on Ctrl-C:\n{self.output()}"
                ) from None
        return self.process.returncode


def start_agent(
    *argv: str | Path,
    server: TestServer,
    tmp_path: Path,
    user: str = "alice",
    name: str = "agent",
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    group: bool = False,
) -> AgentProcess:
    """``python ARGV`` (a script, or ``-m module ...``) logged in to ``server`` (or through
    ``url``) with ``user``'s mandate key; output in ``tmp_path/<name>.log``."""
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *map(str, argv)],
            env={
                **os.environ,
                **server.client_env(user, tmp_path / f"{name}-cache", url=url),
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=group,
        )
    return AgentProcess(process=process, log=log, group=group)


# -- the login pages -----------------------------------------------------------------------------


def approve_device_code(
    base_url: str,
    verification_uri: str,
    username: str,
    action: str = "approve",
    password: str = PASSWORD,
) -> httpx.Response:
    """Log in on the server's pages and approve (or deny) a device code, as a browser form would."""
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=10) as browser:
        page = browser.get(verification_uri)
        assert "/login" in str(page.url), page.url
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        nxt = re.search(r'name="next" value="([^"]+)"', page.text)
        assert csrf and nxt
        page = browser.post(
            "/login",
            data={
                "username": username,
                "password": password,
                "csrf": csrf.group(1),
                "next": nxt.group(1).replace("&amp;", "&"),
            },
        )
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        code = re.search(r'name="code" value="([^"]+)"', page.text)
        assert csrf and code, page.text
        return browser.post(
            "/device", data={"csrf": csrf.group(1), "code": code.group(1), "action": action}
        )
