"""The App: an ordered composition of services, entered as a context manager.

``with app:`` (or ``async with app:``) starts the services in order, makes the app current for
the code inside the block, and on the way out stops the services in reverse order and restores
whatever app was current before — also when an exception escapes. Sync use runs the services on
a private event loop thread (koil); async use runs them on the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from koil import Koil, unkoil
from koil.context import global_koil_loop

from . import context
from ._loops import on_app_loop
from ._twins import sync_twin
from .errors import AppStateError, UsageError
from .services.base import Service

if TYPE_CHECKING:
    import httpx
    from fakts import Manifest

    from .services.auth import AuthService
    from .services.fakts import FaktsService
    from .services.rpc.service import RpcService
    from .services.storage.service import StorageService

logger = logging.getLogger("arkitekt")

STOP_TIMEOUT = 10.0
"""Seconds each service gets to stop before the App moves on (leaving never hangs)."""


class App:
    """An arkitekt app: a manifest plus services, entered as a context manager.

    Build it with :func:`arkitekt.easy`, :func:`arkitekt.local` or :func:`arkitekt.jupy` rather
    than by hand. Configure it before entering: adding services to an entered app raises.
    """

    def __init__(self, manifest: Manifest, services: Sequence[Service] = ()) -> None:
        self.manifest = manifest
        self._services: dict[str, Service] = {}
        self._koil: Koil | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._koil_loop_token: contextvars.Token[Any] | None = None
        """The loop the services run on while entered (see :mod:`arkitekt._loops`)."""
        self._token: context.AppToken | None = None
        self._started: list[Service] = []
        self._entered = False
        for service in services:
            self.add_service(service)

    # -- composition -----------------------------------------------------------------------------

    def add_service(self, service: Service) -> None:
        """Add a service (started after the ones already added). Only before entering."""
        if self._entered:
            raise AppStateError(
                f"cannot add the service {service.name!r}: the app is entered already. "
                "Configure the app before `with app:`."
            )
        if not isinstance(service, Service):
            raise UsageError(f"{service!r} does not implement the Service protocol")
        if service.name in self._services:
            raise AppStateError(f"the app has a service named {service.name!r} already")
        self._services[service.name] = service

    @property
    def services(self) -> dict[str, Service]:
        """The services, in start order (a copy)."""
        return dict(self._services)

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally: app.fakts, app.auth, app.rpc, ...
        services = self.__dict__.get("_services", {})
        if name in services:
            return services[name]
        raise AttributeError(
            f"{type(self).__name__!s} has no attribute or service {name!r} "
            f"(services: {', '.join(services) or 'none'})"
        )

    if TYPE_CHECKING:

        @property
        def fakts(self) -> FaktsService: ...

        @property
        def auth(self) -> AuthService: ...

        @property
        def rpc(self) -> RpcService: ...

        @property
        def storage(self) -> StorageService: ...

    @property
    def identifier(self) -> str:
        return str(self.manifest.identifier)

    @property
    def entered(self) -> bool:
        return self._entered

    @property
    def app_loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the services run on while the app is entered (else None)."""
        return self._loop

    # -- lifecycle -------------------------------------------------------------------------------

    async def _astart(self) -> None:
        if self._entered:
            raise AppStateError(f"the app {self.identifier!r} is entered already")
        self._entered = True
        self._loop = asyncio.get_running_loop()
        try:
            for service in self._services.values():
                await service.astart(self)
                self._started.append(service)
        except BaseException:
            await self._astop()
            raise

    async def _astop(self) -> None:
        errors: list[BaseException] = []
        while self._started:
            service = self._started.pop()
            try:
                await asyncio.wait_for(service.astop(), STOP_TIMEOUT)
            except Exception as e:  # keep stopping the others; report below
                logger.warning("stopping the %s service failed: %s", service.name, e)
                errors.append(e)
        self._entered = False
        self._loop = None
        if errors:
            logger.debug("errors while stopping %s: %r", self.identifier, errors)

    async def __aenter__(self) -> Self:
        # Sync code started from here (a served sync function on its thread, a worker thread of
        # a web framework) finds this loop through koil and runs the sync API on it.
        self._koil_loop_token = global_koil_loop.set(asyncio.get_running_loop())
        try:
            await self._astart()
        except BaseException:
            self._reset_koil_loop()
            raise
        self._token = context.enter_app(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._reset_current()
        try:
            await self._astop()
        finally:
            self._reset_koil_loop()

    def _reset_koil_loop(self) -> None:
        token, self._koil_loop_token = self._koil_loop_token, None
        if token is not None:
            # ValueError: left in another context than it was entered in (nothing to undo there)
            with contextlib.suppress(ValueError):
                global_koil_loop.reset(token)

    def __enter__(self) -> Self:
        koil = Koil()
        koil.__enter__()
        self._koil = koil
        try:
            unkoil(self._astart)
        except BaseException:
            # Ctrl-C only signals the start to cancel; stop what did start before leaving.
            try:
                unkoil(self._astop)
            finally:
                self._close_koil()
            raise
        self._token = context.enter_app(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._reset_current()
        try:
            unkoil(self._astop)
        finally:
            self._close_koil()

    def _reset_current(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            context.leave_app(token, self)

    def _close_koil(self) -> None:
        koil, self._koil = self._koil, None
        if koil is not None:
            koil.__exit__(None, None, None)

    def close(self) -> None:
        """Leave the app (the same as the end of a ``with`` block); idempotent."""
        context.forget_notebook_app(self)
        if self._entered:
            self.__exit__(None, None, None)

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (from any loop: a notebook cell may ``await`` it)."""
        context.forget_notebook_app(self)
        if not self._entered:
            return
        if self._koil is not None:  # entered sync: its loop lives on a thread of its own
            await asyncio.to_thread(self.__exit__, None, None, None)
        else:
            await self.__aexit__(None, None, None)

    # -- auth and HTTP (Keystone-style) ----------------------------------------------------------

    @on_app_loop
    async def alogin(self, username: str | None = None, password: str | None = None) -> None:
        """Log in (again); with ``username``/``password``, switch to that user (direct mode)."""
        await self.auth.alogin(username=username, password=password)

    login = sync_twin(alogin)

    @on_app_loop
    async def alogout(self) -> None:
        """Revoke the session on the server and forget it on this machine."""
        await self.auth.alogout()

    logout = sync_twin(alogout)

    def is_authenticated(self) -> bool:
        """Whether the app holds a usable session (no network request)."""
        return "auth" in self._services and self.auth.is_authenticated()

    async def ais_authenticated(self) -> bool:
        """Async twin of :meth:`is_authenticated`."""
        return self.is_authenticated()

    @on_app_loop
    async def ahttp_request(self, method: str, path: str, /, **kwargs: Any) -> httpx.Response:
        """Send a request to the server with the access token attached (async)."""
        return await self.auth.arequest(method, path, **kwargs)

    async def ahttp_get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET ``path`` on the server (async); returns the ``httpx.Response``."""
        return await self.ahttp_request("GET", path, **kwargs)

    async def ahttp_post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST to ``path`` on the server (async); returns the ``httpx.Response``."""
        return await self.ahttp_request("POST", path, **kwargs)

    async def ahttp_put(self, path: str, **kwargs: Any) -> httpx.Response:
        """PUT to ``path`` on the server (async); returns the ``httpx.Response``."""
        return await self.ahttp_request("PUT", path, **kwargs)

    async def ahttp_patch(self, path: str, **kwargs: Any) -> httpx.Response:
        """PATCH ``path`` on the server (async); returns the ``httpx.Response``."""
        return await self.ahttp_request("PATCH", path, **kwargs)

    async def ahttp_delete(self, path: str, **kwargs: Any) -> httpx.Response:
        """DELETE ``path`` on the server (async); returns the ``httpx.Response``."""
        return await self.ahttp_request("DELETE", path, **kwargs)

    http_get = sync_twin(ahttp_get)
    http_post = sync_twin(ahttp_post)
    http_put = sync_twin(ahttp_put)
    http_patch = sync_twin(ahttp_patch)
    http_delete = sync_twin(ahttp_delete)

    # -- presentation ----------------------------------------------------------------------------

    # -- remote functions ------------------------------------------------------------------------

    def register(
        self,
        function: Any = None,
        /,
        *,
        interface: str | None = None,
        name: str | None = None,
        description: str | None = None,
        concurrency: int | None = 1,
        locks: list[str] | None = None,
        thread: str | None = None,
    ) -> Any:
        """``@app.register``: serve this function from this app only (see :func:`register`)."""
        from .rpc import register

        decorate = register(
            interface=interface,
            name=name,
            description=description,
            concurrency=concurrency,
            locks=locks,
            thread=thread,
            app=self,
        )
        return decorate if function is None else decorate(function)

    async def aserve(self, *, thread: str | None = None) -> None:
        """Start serving the registered functions in the background (returns once the server
        has them, after the ``@startup`` hooks); serving stops when the app is left.

        ``thread`` runs every sync function and hook that names no thread of its own on one
        dedicated thread of that name (for instrument SDKs bound to one thread).
        """
        await self.rpc.aserve(thread=thread)

    serve = sync_twin(aserve)

    async def arun(self, *, thread: str | None = None) -> None:
        """Serve the registered functions as an agent until cancelled (see :meth:`aserve`)."""
        await self.rpc.arun(thread=thread)

    def run(self, *, thread: str | None = None) -> None:
        """Serve the registered functions as an agent until stopped (Ctrl-C stops cleanly)."""
        try:
            unkoil(self.rpc.arun, thread=thread)
        except KeyboardInterrupt:
            logger.info("stopped serving %s", self.identifier)

    def _repr_html_(self) -> str:
        from .display import app_html

        return app_html(self)

    def __repr__(self) -> str:
        state = "entered" if self._entered else "not entered"
        services = ", ".join(self._services)
        return f"<App {self.identifier!r} {self.manifest.version} ({state}; services: {services})>"
