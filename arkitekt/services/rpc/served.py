"""The call a function running inside an agent serves (for progress, log, cancellation and
child calls). The agent makes it current around the function (:mod:`arkitekt.context`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import AssignationCancelledError, UsageError
from ...protocol.messages import EventKind, LogLevel


@dataclass(eq=False)
class ServedCall:
    """The call being served (``arkitekt.context.current_served_call()`` inside the function).

    Not to be confused with :class:`~arkitekt.Assignation`, the caller's handle on a call.
    """

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

    def request_cancel(self) -> None:
        """Raise the flag the function's next ``progress``/``log``/``check_cancelled`` sees."""
        self.cancel_requested = True

    @property
    def cancelled(self) -> bool:
        return self.cancel_requested

    def check_cancelled(self) -> None:
        """Raise :class:`AssignationCancelledError` if the caller cancelled this call."""
        if self.cancel_requested:
            raise AssignationCancelledError(f"the call {self.id} was cancelled")

    def progress(self, percent: int | float, message: str | None = None) -> None:
        if not isinstance(percent, int | float) or isinstance(percent, bool):
            raise UsageError(f"progress(percent=...) must be a number, got {percent!r}")
        value = max(0, min(100, int(percent)))
        self.check_cancelled()
        if value == self._last_progress and message is None:
            return  # nothing new: spare the wire
        self._last_progress = value
        self.report(EventKind.PROGRESS, progress=value, message=message)

    def log(self, message: str, level: LogLevel | str = LogLevel.INFO) -> None:
        self.check_cancelled()
        self.report(EventKind.LOG, message=str(message), level=LogLevel(level))
