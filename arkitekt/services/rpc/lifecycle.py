"""Running an agent's lifecycle hooks (the rules are in :mod:`.hooks`).

Background hooks are supervised: each one's status (running, restarting after an error, failed,
stopped, done) is kept in the agent's built-in ``arkitekt.agent`` state, which its users can
read and watch like any other state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ...context import enter_hook, leave_hook
from ...errors import AgentStartupError, AgentStoppedError
from .hooks import Hook, OnError
from .state import AgentStates, state

logger = logging.getLogger("arkitekt.rpc.agent")

RunSync = Callable[[Callable[[], Any], str | None, Callable[[], None] | None], Awaitable[Any]]
"""Runs a sync function on a worker thread (the named one, if given) and awaits it; the last
argument is called if the waiting is cancelled."""


@dataclass
class BackgroundStatus:
    status: str = "starting"
    """``running``, ``restarting`` (after an error), ``failed`` (stopped the agent),
    ``stopped`` (the agent stopped it) or ``done`` (it returned)."""
    restarts: int = 0
    error: str | None = None
    """The last error, ``Type: message``."""
    since: float = 0.0
    """When it entered this status (seconds since the epoch)."""


@state(name="arkitekt.agent")
@dataclass
class AgentStatus:
    """The agent's own state: how its background hooks are doing."""

    background: dict[str, BackgroundStatus] = dataclasses.field(default_factory=dict)


class Lifecycle:
    """Startup, background and shutdown hooks of one agent."""

    def __init__(
        self,
        *,
        startup: list[Hook],
        background: list[Hook],
        shutdown: list[Hook],
        states: AgentStates,
        run_sync: RunSync,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self._startup = startup
        self._background = background
        self._shutdown = shutdown
        self._states = states
        self._run_sync = run_sync
        self.shutdown_timeout = shutdown_timeout
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = threading.Event()
        self._started = False
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Set with :class:`AgentStoppedError` when a background hook with ``on_error="stop"``
        fails (never resolved otherwise)."""
        self.failed.add_done_callback(lambda f: f.cancelled() or f.exception())

    def state_classes(self) -> list[type]:
        """The states the hooks take."""
        hooks = [*self._startup, *self._background, *self._shutdown]
        return [cls for hook in hooks for cls in hook.states.values()]

    async def call(self, hook: Hook) -> None:
        """Run one hook with its states injected (sync ones on a worker thread)."""
        kwargs = self._states.inject(hook.states)
        token = enter_hook(self._stopping)
        try:
            if hook.is_async:
                await hook.function(**kwargs)
            else:
                await self._run_sync(
                    lambda: hook.function(**kwargs), hook.thread, self._stopping.set
                )
        finally:
            leave_hook(token)
            self._states.flush()

    async def startup(self) -> None:
        """Run the startup hooks in order; the first that fails stops the rest."""
        for hook in self._startup:
            try:
                await self.call(hook)
            except Exception as e:
                raise AgentStartupError(
                    f"the startup hook {hook.name}() failed, so the agent serves nothing: "
                    f"{type(e).__name__}: {e}"
                ) from e
        self._started = True

    def start_background(self) -> None:
        for hook in self._background:
            self._tasks[hook.name] = asyncio.create_task(
                self._supervise(hook), name=f"arkitekt-background-{hook.name}"
            )

    async def stop(self) -> None:
        """Cancel the background hooks, then (if startup completed) run the shutdown hooks."""
        self._stopping.set()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if not self._started:
            return
        self._started = False
        for hook in reversed(self._shutdown):
            try:
                await asyncio.wait_for(self.call(hook), self.shutdown_timeout)
            except TimeoutError:
                logger.error(
                    "the shutdown hook %s() did not end within %g s",
                    hook.name,
                    self.shutdown_timeout,
                )
            except Exception:
                logger.exception("the shutdown hook %s() failed", hook.name)

    # -- background ------------------------------------------------------------------------------

    def _status(self, hook: Hook, status: str, error: BaseException | None = None) -> None:
        agent: AgentStatus = self._states.instance(AgentStatus)
        entry = agent.background.get(hook.name) or BackgroundStatus()
        entry.status = status
        entry.since = time.time()
        if error is not None:
            entry.error = f"{type(error).__name__}: {error}"
            if status == "restarting":
                entry.restarts += 1
        agent.background[hook.name] = entry
        agent.background = agent.background  # an assignment: published soon

    async def _supervise(self, hook: Hook) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self._status(hook, "running")
            try:
                await self.call(hook)
            except asyncio.CancelledError:
                self._status(hook, "stopped")
                raise
            except Exception as e:
                if hook.on_error is OnError.STOP:
                    logger.error(
                        "background hook %s() failed; stopping the agent", hook.name, exc_info=e
                    )
                    self._status(hook, "failed", e)
                    if not self.failed.done():
                        error = AgentStoppedError(
                            f"the background hook {hook.name}() failed: {type(e).__name__}: {e}"
                        )
                        error.__cause__ = e
                        self.failed.set_exception(error)
                    return
                if loop.time() - started > hook.max_backoff:
                    failures = 0  # it ran fine for a good while: start the pauses over
                delay = min(hook.max_backoff, 0.1 * 2**failures)
                failures += 1
                logger.error(
                    "background hook %s() failed; restarting it in %.1f s",
                    hook.name,
                    delay,
                    exc_info=e,
                )
                self._status(hook, "restarting", e)
                await asyncio.sleep(delay)
            else:
                self._status(hook, "done")
                return

    async def aclose(self) -> None:
        """Forget the tasks (after :meth:`stop`)."""
        for task in self._tasks.values():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
