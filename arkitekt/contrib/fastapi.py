"""One arkitekt App for the whole life of a FastAPI application.

Example::

    from fastapi import FastAPI
    from arkitekt import acall, afind, call, easy, find
    from arkitekt.contrib.fastapi import ArkitektApp, arkitekt_lifespan

    api = FastAPI(lifespan=arkitekt_lifespan(easy("my-service")))

    @api.get("/greet/{name}")
    async def greet(name: str, app: ArkitektApp) -> str:      # on the event loop
        return await acall(await afind(interface="greet", app=app), name)

    @api.get("/greet-sync/{name}")
    def greet_sync(name: str, app: ArkitektApp) -> str:        # on a worker thread
        return call(find(interface="greet", app=app), name)

The App is entered with ``async with`` on the server's event loop when the web application
starts, and left when it stops. Endpoints receive it through the :data:`ArkitektApp`
dependency, which also makes it the current app of the request and gives ``def`` endpoints
(run by FastAPI on a worker thread) a way back to that loop, so the sync API
(``find``, ``call``, ``from_xarray``, ...) works there without ever blocking the loop.

This module is the only one importing ``fastapi`` (the ``arkitekt[fastapi]`` extra).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, TypeAlias, overload

from fastapi import Depends, FastAPI, HTTPException, Request
from koil.context import global_koil_loop

from .. import context
from ..app import App

__all__ = ["ArkitektApp", "arkitekt_lifespan", "get_arkitekt_app"]

STATE_ATTRIBUTE = "arkitekt"
"""The attribute of ``fastapi_app.state`` the entered App is stored on."""

_LOOP_ATTRIBUTE = "arkitekt_loop"

StatelessLifespan: TypeAlias = Callable[[FastAPI], AbstractAsyncContextManager[None]]
StatefulLifespan: TypeAlias = Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any]]]


@overload
def arkitekt_lifespan(
    app: App | Callable[[], App], *, inner: StatelessLifespan | None = None
) -> StatelessLifespan: ...


@overload
def arkitekt_lifespan(
    app: App | Callable[[], App], *, inner: StatefulLifespan
) -> StatefulLifespan: ...


def arkitekt_lifespan(
    app: App | Callable[[], App],
    *,
    inner: StatelessLifespan | StatefulLifespan | None = None,
) -> StatelessLifespan | StatefulLifespan:
    """A FastAPI lifespan that keeps ``app`` entered while the web application runs.

    ``FastAPI(lifespan=arkitekt_lifespan(easy("my-service")))``. At startup the App is entered
    with ``async with`` on the server's event loop (so its connections live on that loop) and
    stored on ``fastapi_app.state.arkitekt``; at shutdown it is left, stopping its services.

    Args:
        app: The App, or a factory returning a fresh App for every start (useful in tests, where
            one FastAPI application may start several times; an App is entered once at a time).
        inner: Your own lifespan (``@asynccontextmanager async def lifespan(api): ... yield``),
            run inside the entered App: register and serve functions there
            (``app.register(fn)``, ``await app.aserve()``). The App is the current app of that
            code, and whatever state it yields is handed on to Starlette.

    A startup failure (the server unreachable, a failed login) fails the web application's
    startup, so the server never accepts requests without an App.
    """
    if not isinstance(app, App) and not callable(app):
        raise TypeError(
            f"arkitekt_lifespan() takes an App or a function returning one, not {app!r}"
        )

    @asynccontextmanager
    async def lifespan(fastapi_app: FastAPI) -> AsyncIterator[Any]:
        arkitekt_app = app if isinstance(app, App) else app()
        if not isinstance(arkitekt_app, App):
            raise TypeError(
                f"the factory given to arkitekt_lifespan() returned {arkitekt_app!r}, not an App"
            )
        loop = asyncio.get_running_loop()
        # Set before entering, so the tasks the App starts (its connection, its agent) inherit
        # it: a served sync function, which runs on a thread of its own, can then use the sync
        # API too (it blocks its own thread, never the loop).
        loop_token = global_koil_loop.set(loop)
        try:
            async with arkitekt_app:
                setattr(fastapi_app.state, STATE_ATTRIBUTE, arkitekt_app)
                setattr(fastapi_app.state, _LOOP_ATTRIBUTE, loop)
                try:
                    if inner is None:
                        yield None
                    else:
                        async with inner(fastapi_app) as state:
                            yield state
                finally:
                    # Requests arriving after this (there should be none) get a 503, not an
                    # App that is being left.
                    _forget(fastapi_app)
        finally:
            _reset(global_koil_loop, loop_token)

    return lifespan


def _forget(fastapi_app: FastAPI) -> None:
    for name in (STATE_ATTRIBUTE, _LOOP_ATTRIBUTE):
        if hasattr(fastapi_app.state, name):
            delattr(fastapi_app.state, name)


def _reset(var: contextvars.ContextVar[Any], token: contextvars.Token[Any]) -> None:
    try:
        var.reset(token)
    except ValueError:  # left in another context than it was entered in
        var.set(None)


async def get_arkitekt_app(request: Request) -> App:
    """FastAPI dependency: the App :func:`arkitekt_lifespan` entered (``Depends(...)``).

    Besides returning it, it makes the App the current app of the request (so ``find()``
    without ``app=`` finds it) and lets sync code of the request reach the App's event loop:
    a ``def`` endpoint runs on a worker thread, where the sync API (``find``, ``call``,
    ``from_xarray``, ``Image.data``, ...) submits its work to that loop and waits on the thread.
    Being an ``async def`` dependency, it runs on the loop in the request's own context, which
    FastAPI copies to the endpoint's thread.

    Raises ``HTTPException(503)`` when the application was not started with
    :func:`arkitekt_lifespan` (or has already stopped).
    """
    state = request.app.state
    app = getattr(state, STATE_ATTRIBUTE, None)
    loop = getattr(state, _LOOP_ATTRIBUTE, None)
    if not isinstance(app, App) or not app.entered or loop is None:
        raise HTTPException(
            status_code=503,
            detail=(
                "no arkitekt app is available: create the FastAPI application with "
                "FastAPI(lifespan=arkitekt_lifespan(...)) from arkitekt.contrib.fastapi, and "
                "run it with a server that runs lifespans (uvicorn does; a TestClient only "
                "inside `with TestClient(api):`)"
            ),
        )
    if asyncio.get_running_loop() is not loop:
        raise HTTPException(
            status_code=503,
            detail=(
                "the arkitekt app runs on another event loop than this request: serve the "
                "application from one event loop (one uvicorn worker per process)"
            ),
        )
    # The request's context is its own (a task per request): nothing to reset afterwards.
    context.enter_app(app)  # the request's own context: popped with it
    global_koil_loop.set(loop)
    return app


ArkitektApp = Annotated[App, Depends(get_arkitekt_app)]
"""``app: ArkitektApp`` in an endpoint's parameters: the entered App (see
:func:`get_arkitekt_app`)."""
