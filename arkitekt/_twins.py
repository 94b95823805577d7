"""Sync twins, derived from the async original: one signature, one docstring, one body.

Every I/O operation is written once, as ``async def aname``; ``name = sync_twin(aname)`` gives
its blocking twin, which runs it on koil's loop (explicitly: ``@koiled`` would hand coroutines
back inside Jupyter). Works for functions and methods alike. The twin keeps the original's
signature for mypy and IDEs (ParamSpec), and for ``inspect.signature``/``help()``
(``__wrapped__``).

The crossing itself is :func:`run_blocking`: koil finds the loop and refuses what it refuses
(no loop, a sync twin called from async code); the coroutine then runs as one task in a copy
of the caller's context, and the caller waits on a lock the task releases. That is what
:func:`koil.unkoil` does too, minus its per-call machinery (three tasks, a cancel event and an
``asyncio.wait`` on the loop, a ``concurrent.futures`` waiter on the caller's side): about
0.1 ms less per call, which is most of what a sync ``call()`` costs over an ``await acall()``.
Inside koil's ``run_threaded`` workers (a cancel event in the context), twins keep using
:func:`koil.unkoil`, which honours that event.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import Any, Generic, ParamSpec, TypeVar

from koil import unkoil, unkoil_gen
from koil.bridge import get_koiled_loop_or_raise
from koil.context import current_cancel_event
from koil.errors import KoilError

from .context import maybe_current_app
from .errors import AppStateError, NoActiveAppError

P = ParamSpec("P")
T = TypeVar("T")


def _name(twin: Any, original: Any) -> None:
    name: str = original.__name__
    if not name.startswith("a"):
        raise ValueError(f"{name!r} is not the name of an async operation (aname)")
    twin.__name__ = name[1:]
    owner, _, _ = original.__qualname__.rpartition(".")
    twin.__qualname__ = f"{owner}.{twin.__name__}" if owner else twin.__name__
    twin.__doc__ = f"Sync twin of ``{name}`` (same arguments).\n\n{original.__doc__ or ''}"


def _no_loop(error: KoilError, name: str) -> BaseException:
    """koil found no loop: outside any app that is the user's mistake; say so in our words."""
    return NoActiveAppError(f"{name}()") if maybe_current_app() is None else error


def _check_entered(args: tuple[Any, ...]) -> None:
    """A method of an app (or of one of its services) needs the app entered."""
    owner: Any = args[0] if args else None
    if hasattr(owner, "app_loop") and owner.app_loop is None:
        raise AppStateError(
            "the app is not entered: use `with app:` (or `async with app:`) around this call"
        )


_UNSET = object()
WAIT_SLICE = 0.1
"""Seconds the caller waits at a time, so a Ctrl-C reaches a waiting main thread promptly on
every platform (on POSIX the wait is interrupted at once anyway)."""


class _Crossing(Generic[T]):
    """One coroutine run on the loop for a thread that waits for its outcome."""

    __slots__ = ("cancelled", "context", "done", "error", "released", "result", "task")

    def __init__(self) -> None:
        self.context = contextvars.copy_context()
        self.done = threading.Lock()
        self.done.acquire()
        self.task: asyncio.Task[None] | None = None
        self.result: T | None = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.done.release()

    def ended(self, _: object = None) -> None:
        """The task's done callback (a task cancelled before it ran never released), or the
        end of a crossing cancelled before its task was made."""
        if not self.released:
            self.error = asyncio.CancelledError("the loop cancelled the call")
            self.release()

    def cancel(self) -> None:
        """On the loop: the waiting thread was interrupted (Ctrl-C)."""
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


def run_blocking(
    afunction: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run ``afunction(*args, **kwargs)`` on koil's loop and block until it returns.

    The caller's contextvars travel with the coroutine and the ones it set come back (as with
    :func:`koil.unkoil`); Ctrl-C while waiting cancels the coroutine and is raised here.
    """
    if current_cancel_event.get() is not None:
        return unkoil(afunction, *args, **kwargs)  # a koil worker: its cancel event applies
    loop = get_koiled_loop_or_raise(fn=afunction)
    crossing: _Crossing[T] = _Crossing()

    async def run() -> None:
        try:
            crossing.result = await afunction(*args, **kwargs)
        except BaseException as e:  # handed to the waiting thread, which raises it
            crossing.error = e
        finally:
            crossing.release()  # here rather than in a done callback: one loop turn sooner

    def start() -> None:
        if crossing.cancelled:
            crossing.ended()
            return
        task = loop.create_task(run(), context=crossing.context)
        task.add_done_callback(crossing.ended)
        crossing.task = task

    loop.call_soon_threadsafe(start)
    try:
        while not crossing.done.acquire(timeout=WAIT_SLICE):
            pass
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(crossing.cancel)
        raise
    for var, value in crossing.context.items():
        if var.get(_UNSET) is not value:
            var.set(value)  # what the coroutine set is seen by the caller (as after unkoil)
    if crossing.error is not None:
        error, crossing.error = crossing.error, None  # no cycle through the frame
        raise error
    return crossing.result  # type: ignore[return-value]


def sync_twin(afunction: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of an async function or method.

    Outside any app it raises :class:`~arkitekt.NoActiveAppError`, as the async one does, not
    koil's complaint about a missing loop.
    """

    @functools.wraps(afunction)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        _check_entered(args)
        try:
            return run_blocking(afunction, *args, **kwargs)
        except KoilError as e:
            raise _no_loop(e, twin.__name__) from None

    _name(twin, afunction)
    return twin


def sync_generator_twin(
    agenerator: Callable[P, AsyncGenerator[T, None]],
) -> Callable[P, Iterator[T]]:
    """The blocking twin of an async generator function or method (each item through koil)."""

    @functools.wraps(agenerator)
    def twin(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        try:
            yield from unkoil_gen(agenerator, *args, **kwargs)
        except KoilError as e:
            raise _no_loop(e, twin.__name__) from None

    _name(twin, agenerator)
    return twin
