"""What a function running inside an agent can reach: its assignation (for progress, log,
cancellation and child calls)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import ArkitektError
from .messages import EventKind, LogLevel


class AssignationCancelledError(asyncio.CancelledError):
    """Raised inside a running sync function at a cancellation check once its call is cancelled.

    It derives from :class:`asyncio.CancelledError` so the same ``except`` handles both kinds of
    functions; let it propagate (or clean up and re-raise).
    """


class NotInAssignationError(ArkitektError):
    """``progress``/``log``/``cancelled`` were used outside of a function run by an agent."""


@dataclass(eq=False)
class Assignation:
    """The call being served: available as :func:`current_assignation` inside the function."""

    id: str
    interface: str
    user: str
    parent: str | None
    report: Callable[..., None]
    """Thread-safe: sends a report for this assignation."""
    loop: asyncio.AbstractEventLoop
    cancel_requested: bool = False
    """Set by the agent (a plain flag: reading it from the function's thread is safe)."""
    _last_progress: int = -1

    @property
    def cancelled(self) -> bool:
        return self.cancel_requested

    def check_cancelled(self) -> None:
        """Raise :class:`AssignationCancelledError` if the caller cancelled this call."""
        if self.cancel_requested:
            raise AssignationCancelledError(f"the call {self.id} was cancelled")

    def progress(self, percent: int | float, message: str | None = None) -> None:
        if not isinstance(percent, int | float) or isinstance(percent, bool):
            raise TypeError(f"progress(percent=...) must be a number, got {percent!r}")
        value = max(0, min(100, int(percent)))
        self.check_cancelled()
        if value == self._last_progress and message is None:
            return  # nothing new: spare the wire
        self._last_progress = value
        self.report(EventKind.PROGRESS, progress=value, message=message)

    def log(self, message: str, level: LogLevel | str = LogLevel.INFO) -> None:
        self.check_cancelled()
        self.report(EventKind.LOG, message=str(message), level=LogLevel(level))


_current: contextvars.ContextVar[Assignation | None] = contextvars.ContextVar(
    "arkitekt_assignation", default=None
)


def current_assignation() -> Assignation:
    """The call being served by this function; raises outside of one."""
    assignation = _current.get()
    if assignation is None:
        raise NotInAssignationError(
            "this is only available inside a function that an agent is running "
            "(registered with @register and called remotely)"
        )
    return assignation


def maybe_assignation() -> Assignation | None:
    return _current.get()


def set_assignation(assignation: Assignation | None) -> contextvars.Token[Assignation | None]:
    return _current.set(assignation)
