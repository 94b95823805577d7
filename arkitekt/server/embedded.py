"""Run the server inside the current process: a background thread, its own loop, a loopback port.

This is the integrated mode: ``local()`` starts one of these, creates (once) a local user and logs
in with a fresh mandate key, so nothing has to be configured. Stopping it closes the port, the
database connections and the thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import logging
import socket
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import uvicorn

from arkitekt.errors import ServerUnavailableError

from .app import create_app
from .config import ServerConfig
from .credentials import create_mandate_key, revoke_mandate_key
from .serving import uvicorn_options
from .state import ServerState
from .users import ensure_user

logger = logging.getLogger("arkitekt.server.embedded")
T = TypeVar("T")


def local_username() -> str:
    """The name of the local user the integrated server logs in as."""
    try:
        name = getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        name = "local"
    cleaned = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in name)
    return cleaned or "local"


class EmbeddedServer:
    """The server on a background thread. Use :meth:`start` / :meth:`stop` (or ``with``)."""

    def __init__(
        self,
        config: ServerConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        asgi_app: Any = None,
        thread_name: str = "arkitekt-server",
    ) -> None:
        self.config = config
        self.thread_name = thread_name
        self.host = host
        self.port = port
        self._app = asgi_app if asgi_app is not None else create_app(config)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self._startup_error: Exception | None = None
        self._startup_failure: str | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> ServerState:
        state: ServerState = self._app.state.arkitekt
        return state

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 20.0) -> None:
        """Start serving; returns once requests are answered. Raises ServerUnavailableError."""
        if self._thread is not None:
            raise RuntimeError("this embedded server was started already")
        # proto named: accepted sockets inherit it, and asyncio turns Nagle off (TCP_NODELAY)
        # only when it is IPPROTO_TCP; with 0, every response on a kept-alive connection whose
        # body is a second write waited ~40 ms for the client's delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise ServerUnavailableError(
                f"the integrated server could not listen on {self.host}:{self.port} ({e})"
            ) from e
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            log_level=logging.WARNING,
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=2,
            **uvicorn_options(self.config),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ServerUnavailableError(f"the integrated server did not start within {timeout} s")
        if self._error is not None or not self._server.started:
            # uvicorn ends a failed startup with SystemExit(3) and only logs the app's error.
            error = self._startup_error or self._error
            reason = self._startup_failure or (str(error) if error else "") or "see the log above"
            self.stop()
            raise ServerUnavailableError(
                f"the integrated server failed to start: {reason}"
            ) from error

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        """The app, noting why its startup failed (uvicorn only logs it)."""
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def send_noting_failure(message: Any) -> None:
            if message.get("type") == "lifespan.startup.failed":
                # Starlette reports the failure from inside its ``except`` block.
                error = sys.exc_info()[1]
                if isinstance(error, Exception):
                    self._startup_error = error
                    first = str(error).strip().splitlines()
                    self._startup_failure = f"{type(error).__name__}: {first[0] if first else ''}"
                else:
                    lines = str(message.get("message", "")).splitlines()
                    causes = [line for line in lines if line and line[0] not in " \t[("]
                    self._startup_failure = causes[-1] if causes else None
            await send(message)

        await self._app(scope, receive, send_noting_failure)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # reported to start()
            self._error = e
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        watcher = asyncio.ensure_future(self._signal_ready())
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            watcher.cancel()

    async def _signal_ready(self) -> None:
        assert self._server is not None
        while not self._server.started:
            await asyncio.sleep(0.005)
        self._ready.set()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop (e.g. to prepare a login) and return its result."""
        if self._loop is None or not self.running:
            raise ServerUnavailableError("the integrated server is not running")
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(fn), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread; idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("the integrated server thread did not stop within %s s", timeout)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the integrated login ----------------------------------------------------------------

    def issue_local_key(self, app_identifier: str, username: str | None = None) -> str:
        """A mandate key for the local user, valid for this app for one day (revoked at stop)."""
        name = username or local_username()

        async def issue() -> str:
            async with self.state.db.session() as session:
                await ensure_user(session, name)
                return await create_mandate_key(
                    session,
                    name,
                    name="integrated",
                    app_identifier=app_identifier,
                    expires_in=dt.timedelta(days=1),
                )

        return self.call(issue)

    def revoke_local_key(self, key: str) -> None:
        async def revoke() -> None:
            async with self.state.db.session() as session:
                await revoke_mandate_key(session, key)

        self.call(revoke)


async def _as_coroutine(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
