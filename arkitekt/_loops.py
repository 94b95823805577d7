"""Running an app's coroutines on the loop the app lives on, whichever loop awaits them.

An app's connections (websocket, HTTP pools, the GraphQL client) belong to the event loop its
services were started on. A sync ``with app:`` starts them on a private loop thread; a notebook
cell's ``await`` or a web framework's endpoint runs on another loop. Service methods decorated
here hop: on the app's own loop they just run; from any other loop the coroutine is handed to the
app's loop and awaited from where it was called (cancelling the awaiter cancels it there).
The caller's contextvars travel with it (``call_soon_threadsafe`` copies them).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``loop`` and await its result from the current loop."""
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()
        raise


class OnAppLoop(Protocol):
    """What owns methods that hop: an App, a service, anything tied to one app."""

    @property
    def app_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the app lives on while entered (None when it is not)."""
        ...


Owner = TypeVar("Owner", bound=OnAppLoop)


def _elsewhere(owner: OnAppLoop) -> asyncio.AbstractEventLoop | None:
    """The app's loop when it is not the running one (else None: run in place)."""
    loop = owner.app_loop
    if loop is None or loop.is_closed() or loop is asyncio.get_running_loop():
        return None
    return loop


def on_app_loop(
    method: Callable[Concatenate[Owner, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Owner, P], Coroutine[Any, Any, T]]:
    """Decorate an async method of an App or a service so it runs on the app's loop."""

    @functools.wraps(method)
    async def hop(owner: Owner, /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = _elsewhere(owner)
        if loop is None:
            return await method(owner, *args, **kwargs)
        return await run_on(loop, method(owner, *args, **kwargs))

    return hop


def on_app_loop_gen(
    method: Callable[Concatenate[Owner, P], AsyncIterator[T]],
) -> Callable[Concatenate[Owner, P], AsyncGenerator[T, None]]:
    """:func:`on_app_loop` for async generator methods: each step runs on the app's loop."""

    @functools.wraps(method)
    async def hop(owner: Owner, /, *args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[T, None]:
        loop = _elsewhere(owner)
        source = method(owner, *args, **kwargs)
        if loop is None:
            async for item in source:
                yield item
            return
        assert isinstance(source, AsyncGenerator)
        try:
            while True:
                try:
                    item = await run_on(loop, source.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            await run_on(loop, source.aclose())

    return hop
