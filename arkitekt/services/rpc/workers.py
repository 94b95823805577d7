"""The threads an agent runs sync functions on: long-lived, so a call never pays for a new one.

Two kinds, both started on first use and stopped when the agent stops:

- the **pool**: threads shared by every function without a thread of its own; one is taken
  per running call and handed back when it ends, and the pool grows to what runs at once
  (bounded by the functions' concurrency);
- **named threads**: ``@register(thread="camera")`` runs every call of the function (and of
  every other function or hook naming the same thread) on one dedicated thread, for SDKs that
  must always be driven from the thread that opened them.

A job runs in a copy of the submitting task's context, so ``progress``, ``log``, the current
app and child calls work there as in an async function. Its result is handed back to the
agent's loop with one ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger("arkitekt.rpc.agent")

_STOP = object()


class _Job:
    __slots__ = ("context", "fn", "future", "loop")

    def __init__(
        self,
        fn: Callable[[], Any],
        context: contextvars.Context,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
    ) -> None:
        self.fn = fn
        self.context = context
        self.loop = loop
        self.future = future


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class WorkerThread:
    """One thread that runs jobs one after the other, until :meth:`stop`."""

    def __init__(self, name: str, on_idle: Callable[[WorkerThread], None] | None = None) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._on_idle = on_idle
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def stop(self) -> None:
        """Finish the jobs already given, then end."""
        self._jobs.put(_STOP)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                result = job.context.run(job.fn)
            except BaseException as e:
                outcome: tuple[Any, BaseException | None] = (None, e)
            else:
                outcome = (result, None)
            del job.fn  # drop the call's arguments before idling
            if self._on_idle is not None:
                self._on_idle(self)  # back in the pool before the caller hears the result
            # the loop may have closed meanwhile: then nobody waits any more
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, *outcome)


class Workers:
    """The pool and the named threads of one agent (see the module docstring)."""

    def __init__(self, name: str = "arkitekt") -> None:
        self._name = name
        self._idle: list[WorkerThread] = []
        self._all: list[WorkerThread] = []
        self._named: dict[str, WorkerThread] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._closing = asyncio.Event()
        """Set when the agent stops: calls stop waiting for functions that ignore cancellation."""

    def thread_ids(self) -> dict[str, int | None]:
        """Named thread -> its thread id (for tests and diagnostics)."""
        return {name: worker.ident for name, worker in self._named.items()}

    async def run(
        self,
        fn: Callable[[], T],
        *,
        thread: str | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> T:
        """Run ``fn`` on a worker (the named ``thread``, or one of the pool) and await it.

        If the awaiting task is cancelled, ``on_cancel`` is called (to raise the flag ``fn``
        checks) and ``fn`` still runs to its end (a thread cannot be interrupted: sync
        functions stop at ``progress``/``log``/``check_cancelled``); the cancellation is raised
        once it has, so nothing the call holds (a lock, a slot) is released while it still
        runs.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = _Job(fn, contextvars.copy_context(), loop, future)
        self._worker(thread).submit(job)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if on_cancel is not None:
                on_cancel()
            await _wait_out(future, self._closing)
            raise

    def _worker(self, thread: str | None) -> WorkerThread:
        with self._lock:
            if self._closed:
                raise RuntimeError("the agent's worker threads are stopped")
            if thread is not None:
                worker = self._named.get(thread)
                if worker is None:
                    worker = WorkerThread(f"{self._name}-{thread}")
                    self._named[thread] = worker
                    self._all.append(worker)
                return worker
            if self._idle:
                return self._idle.pop()
            worker = WorkerThread(f"{self._name}-worker-{len(self._all) + 1}", self._back)
            self._all.append(worker)
            return worker

    def _back(self, worker: WorkerThread) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(worker)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop every thread once its jobs are done; waits up to ``timeout`` seconds, then
        names the threads still busy (a sync function that ignores cancellation)."""
        self._closing.set()
        with self._lock:
            self._closed = True
            workers, self._all, self._idle, self._named = list(self._all), [], [], {}
        for worker in workers:
            worker.stop()
        deadline = time.monotonic() + timeout
        while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        busy = [w.name for w in workers if w.is_alive()]
        if busy:
            logger.warning(
                "a sync function is still running on %s after the agent stopped; "
                "it ends when the function returns",
                ", ".join(busy),
            )


async def _wait_out(future: asyncio.Future[Any], closing: asyncio.Event) -> None:
    """Wait for ``future`` although the waiting task is being cancelled (again and again),
    until the workers close."""
    future.add_done_callback(lambda f: f.cancelled() or f.exception())  # seen: not raised
    while not future.done() and not closing.is_set():
        closed = asyncio.ensure_future(closing.wait())
        try:
            await asyncio.wait([future, closed], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            continue
        finally:
            closed.cancel()
