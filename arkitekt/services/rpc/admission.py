"""Which calls an agent may start now: per-function slots and named locks, in arrival order.

A call needs one slot of its function (``@register(concurrency=N)``, 1 by default, none when
``None``) and every lock it names (``@register(locks=["stage"])``, one holder at a time, shared
by every function of the agent naming it). It takes all of them at once or waits; it never
holds some while waiting for others, so two functions locking ``["a", "b"]`` and ``["b", "a"]``
cannot deadlock.

Waiting calls are served in arrival order: a call may start before an earlier waiting one only
if it needs nothing that one waits for. A free call passes without awaiting anything (the
common case costs a few dictionary lookups).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Resource = tuple[str, str]
"""("function", interface) or ("lock", name)."""


@dataclass(frozen=True)
class Needs:
    """What one call of a function takes while it runs."""

    limits: tuple[tuple[Resource, int], ...]
    """Each resource with how many calls may hold it at once."""

    @classmethod
    def of(cls, interface: str, concurrency: int | None, locks: Iterable[str]) -> Needs:
        limits: list[tuple[Resource, int]] = []
        if concurrency is not None:
            limits.append((("function", interface), concurrency))
        limits.extend((("lock", name), 1) for name in dict.fromkeys(locks))
        return cls(tuple(limits))

    def describe(self, busy: Iterable[Resource]) -> str:
        """Why a call waits, for its caller: the locks held and the slots taken."""
        held = set(busy)
        reasons = [
            f"lock {name!r}" if kind == "lock" else "a free slot"
            for (kind, name), _ in self.limits
            if (kind, name) in held
        ]
        return "waiting for " + (" and ".join(reasons) or "the calls queued before it")


class _Waiter:
    __slots__ = ("future", "needs")

    def __init__(self, needs: Needs, future: asyncio.Future[None]) -> None:
        self.needs = needs
        self.future = future


class Admission:
    """The slots and locks of one agent (see the module docstring). Used on the agent's loop."""

    def __init__(self) -> None:
        self._held: dict[Resource, int] = {}
        self._waiting: deque[_Waiter] = deque()

    def queued(self) -> int:
        """How many calls wait now."""
        return len(self._waiting)

    def try_enter(self, needs: Needs) -> bool:
        """Take what the call needs if it can start now (nobody waits for any of it)."""
        if self._waiting and self._conflicts(needs):
            return False
        if not self._free(needs):
            return False
        self._take(needs)
        return True

    async def enter(self, needs: Needs, on_queued: Callable[[str], None] | None = None) -> bool:
        """Take what the call needs, waiting in line when it must. Returns whether it waited.

        ``on_queued`` is told why (once) when the call has to wait. Cancelling the awaiting
        task leaves the line (and lets the next ones go).
        """
        if self.try_enter(needs):
            return False
        waiter = _Waiter(needs, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        if on_queued is not None:
            on_queued(needs.describe(r for r, n in self._held.items() if n))
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.leave(needs)  # granted just as it was cancelled: give it back
            else:
                self._remove(waiter)
            raise
        return True

    def leave(self, needs: Needs) -> None:
        """Give back what a call took; start the waiting calls that can go now."""
        for resource, _ in needs.limits:
            count = self._held.get(resource, 0) - 1
            if count > 0:
                self._held[resource] = count
            else:
                self._held.pop(resource, None)
        self._grant()

    # -- internals -------------------------------------------------------------------------------

    def _free(self, needs: Needs) -> bool:
        return all(self._held.get(resource, 0) < limit for resource, limit in needs.limits)

    def _take(self, needs: Needs) -> None:
        for resource, _ in needs.limits:
            self._held[resource] = self._held.get(resource, 0) + 1

    def _conflicts(self, needs: Needs) -> bool:
        """Whether a waiting call needs any of what ``needs`` takes (it goes first)."""
        wanted = {resource for resource, _ in needs.limits}
        return any(resource in wanted for w in self._waiting for resource, _ in w.needs.limits)

    def _remove(self, waiter: _Waiter) -> None:
        try:
            self._waiting.remove(waiter)
        except ValueError:
            return
        self._grant()  # it may have held back the calls behind it

    def _grant(self) -> None:
        """Start, in order, every waiting call whose needs are free and not wanted by an
        earlier waiting call."""
        blocked: set[Resource] = set()
        for waiter in list(self._waiting):
            resources = [resource for resource, _ in waiter.needs.limits]
            if waiter.future.done():  # cancelled, being removed
                continue
            if not blocked.intersection(resources) and self._free(waiter.needs):
                self._take(waiter.needs)
                self._waiting.remove(waiter)
                waiter.future.set_result(None)
            else:
                blocked.update(resources)
