"""Run blocking work on a thread of its own, so no pool thread outlives the app."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def run_in_thread(fn: Callable[[], T], name: str = "arkitekt-worker") -> T:
    """Run ``fn`` on a fresh thread and await its result.

    Returns (or raises) only once the thread has ended, so a caller that checks for leftover
    threads right after never sees it. If the awaiting task is cancelled, ``fn`` still runs to
    its end (it cannot be interrupted); the cancellation is raised once it has, so callers can
    clean up what it produced.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    # After a cancellation nobody awaits it: mark its error seen (the caller already reported
    # the cancellation), instead of asyncio logging "exception was never retrieved".
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    context = contextvars.copy_context()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = context.run(fn)
        except BaseException as e:
            loop.call_soon_threadsafe(settle, None, e)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        return await asyncio.shield(future)
    finally:
        # The result is posted just before the thread ends: this wait is normally one poll.
        await _join(thread)


async def _join(thread: threading.Thread) -> None:
    while thread.is_alive():
        await asyncio.sleep(0.001)
