"""pytest plugin: test the functions you ``@register`` against a real server, with pytest alone.

Installing arkitekt registers this plugin with pytest (nothing to configure); its server needs
the ``server`` extra (``pip install "arkitekt[server]"``). It offers three fixtures:

- ``arkitekt_server`` (session): a real arkitekt server in the test process, on a free loopback
  port, with its data in a temporary folder. Started the first time a test needs it, stopped at
  the end of the session.
- ``arkitekt_app_factory``: ``make(username="alice", identifier="test-app", **easy_kwargs)``
  returns an entered :class:`~arkitekt.App` logged in as that user (created on first use). Make
  several (one per user) to test sharing; all are left at the end of the test, in reverse.
- ``arkitekt_app``: ``arkitekt_app_factory()``, the app of user ``alice``.

Example (``test_lab.py``, next to a ``lab.py`` that registers ``double``)::

    import lab  # registers its functions with @register
    from arkitekt import App, call, find
    from arkitekt.testing import AppFactory  # only for the type hint


    def test_double(arkitekt_app: App) -> None:
        arkitekt_app.serve()  # this app is the agent ...
        assert call(find(interface="double"), 21) == 42  # ... and the caller


    def test_bob_calls_alice(arkitekt_app_factory: AppFactory) -> None:
        alice = arkitekt_app_factory("alice")
        alice.serve()
        alice.rpc.share("double", users=["bob"])
        bob = arkitekt_app_factory("bob")
        assert call(find(interface="double", app=bob), 2) == 4

Apps are entered the sync way (each runs on a loop thread of its own), so tests may be plain
functions; async tests (pytest-asyncio, anyio) may request the fixtures too and use the sync API
(``find``, ``call``, ``iterate``, ``app.serve()``) or the async API (``afind``, ``acall``...),
whose calls hop to the app's loop. ``arkitekt_app_factory.build("alice")`` gives an app to enter
on the test's own loop instead (``async with``).

Only these fixtures import the server: loading the plugin costs nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import secrets
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from arkitekt.app import App
    from arkitekt.server.embedded import EmbeddedServer

__all__ = ["AppFactory", "TestingServer"]


class TestingServer:
    """The session's server (``arkitekt_server``): its URL and its users."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, embedded: EmbeddedServer) -> None:
        self.embedded = embedded
        """The :class:`~arkitekt.server.embedded.EmbeddedServer` itself."""
        self._passwords: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The server's base URL (``http://127.0.0.1:<port>``), for ``easy(url=...)``."""
        return self.embedded.url

    def add_user(self, username: str, password: str | None = None) -> str:
        """Create a user (with a random password unless one is given); returns the password."""
        from arkitekt.server.users import create_user

        password = password or secrets.token_urlsafe(16)

        async def create() -> None:
            async with self.embedded.state.db.session() as session:
                await create_user(session, username, password)

        with self._lock:
            self.embedded.call(create)
            self._passwords[username] = password
        return password

    def password(self, username: str) -> str:
        """The password of ``username``, who is created first when needed."""
        with self._lock:
            known = self._passwords.get(username)
        return known if known is not None else self.add_user(username)


class AppFactory:
    """``arkitekt_app_factory``: makes apps logged in to the session's server as some user."""

    def __init__(self, server: TestingServer) -> None:
        self.server = server
        self._entered: list[tuple[App, contextvars.Context | None]] = []

    def build(self, username: str = "alice", identifier: str = "test-app", **kwargs: Any) -> App:
        """An app logged in as ``username`` (created on first use), not entered yet.

        ``kwargs`` go to :func:`arkitekt.easy`. Enter it yourself (``with`` / ``async with``);
        the factory does not leave it for you.
        """
        from arkitekt import easy

        kwargs.setdefault("no_cache", True)
        return easy(
            identifier,
            url=self.server.url,
            username=username,
            password=self.server.password(username),
            **kwargs,
        )

    def __call__(self, username: str = "alice", identifier: str = "test-app", **kwargs: Any) -> App:
        """An entered app logged in as ``username``; it becomes the current app and is left
        at the end of the test."""
        app = self.build(username, identifier, **kwargs)
        app.__enter__()
        # Made inside an async test, the app's loop is known only to the test's task context
        # (gone by teardown): keep a copy of it to leave the app in.
        context = contextvars.copy_context() if _loop_running() else None
        self._entered.append((app, context))
        return app

    def close(self) -> None:
        """Leave every app this factory entered, the newest first."""
        error: BaseException | None = None
        while self._entered:
            app, context = self._entered.pop()
            try:
                if context is None:
                    app.close()
                else:
                    context.run(app.close)
            except BaseException as e:  # leave the others all the same; report the first
                error = error or e
        if error is not None:
            raise error


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture(scope="session")
def arkitekt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestingServer]:
    """A real arkitekt server in this process for the whole session (data in a temp folder)."""
    from arkitekt.services.server import load_server

    EmbeddedServer = load_server()  # a clear error without the server extra
    from arkitekt.server.config import ServerConfig

    # Pinned so that a developer's ARKITEKT_DATABASE_URL / ARKITEKT_DATALAYER never reach tests.
    config = ServerConfig(
        data_dir=tmp_path_factory.mktemp("arkitekt-server"), database_url=None, datalayer="local"
    )
    # The server outlives every test; its thread is not one of the threads an app leaves behind.
    embedded = EmbeddedServer(config, thread_name="pytest-arkitekt-server")
    embedded.start()
    try:
        yield TestingServer(embedded)
    finally:
        embedded.stop()


@pytest.fixture
def arkitekt_app_factory(
    arkitekt_server: TestingServer,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AppFactory]:
    """Make entered apps as any user: ``make(username="alice", identifier="test-app", **kw)``.

    Every app is left at the end of the test (the newest first). The client's cache (device id)
    lives in a temporary folder, so tests touch nothing in your home directory.
    """
    from arkitekt.settings import get_settings

    monkeypatch.setenv("ARKITEKT_CACHE_DIR", str(tmp_path_factory.mktemp("arkitekt-cache")))
    get_settings.cache_clear()
    factory = AppFactory(arkitekt_server)
    try:
        yield factory
    finally:
        factory.close()
        get_settings.cache_clear()


@pytest.fixture
def arkitekt_app(arkitekt_app_factory: AppFactory) -> App:
    """An entered app logged in as ``alice`` on the session's server (the current app)."""
    return arkitekt_app_factory()
