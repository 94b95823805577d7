"""A call running in the background: what ``node.start(...)`` returns.

``call()`` waits for the result; ``start()`` returns at once with an :class:`Assignation` whose
status, progress and latest message follow the remote call's events, and whose result can be
awaited later. In a notebook it shows as a status line with a progress bar that updates in
place while the call runs.
"""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING, Any

from koil import unkoil

from ..._loops import on_app_loop
from ...errors import AppStateError, CallCancelledError

if TYPE_CHECKING:
    from ...app import App
    from .node import Node

_COLOURS = {"done": "#16a34a", "error": "#dc2626", "critical": "#dc2626", "cancelled": "#6b7280"}


class Assignation:
    """One call of a remote function, started with :meth:`Node.start` (terms from rekuest)."""

    def __init__(self, node: Node, app: App) -> None:
        self.node = node
        self._app = app
        self.id: str | None = None
        """The call's id on the server (known once it is sent)."""
        self.status = "starting"
        """``starting``, then the latest event: ``queued``, ``assigned``, ``progress``, ``log``,
        ``done``, ``error``, ``critical`` or ``cancelled``."""
        self.progress: float | None = None
        """Percent (0-100) as last reported by the function, if it reports any."""
        self.message: str | None = None
        self._task: asyncio.Task[Any] | None = None
        self._display: Any = None

    # -- state -----------------------------------------------------------------------------------

    def attach(self, task: asyncio.Task[Any]) -> None:
        """The task following the call to its result (the RPC service starts it)."""
        self._task = task

    @property
    def app_loop(self) -> asyncio.AbstractEventLoop | None:
        return self._app.app_loop

    @property
    def done(self) -> bool:
        """Whether the call has ended (successfully or not)."""
        return self._task is not None and self._task.done()

    def update(self, status: str, progress: float | None, message: str | None) -> None:
        """Follow one event of the call (the RPC service calls it as events arrive)."""
        self.status = status
        if progress is not None:
            self.progress = float(progress)
        if message:
            self.message = message
        if self._display is not None:
            self._display.update(_Html(self._repr_html_()))

    # -- results ---------------------------------------------------------------------------------

    async def aresult(self, timeout: float | None = None) -> Any:
        """Wait for the call's result (raises the remote exception, like :func:`acall`)."""
        task = self._task
        if task is None:
            raise AppStateError("the call was not started")
        if task.cancelled():
            raise CallCancelledError(f"the call of {self.node.name} was cancelled (by you)")
        return await _awaited_on_app_loop(self._app, task, timeout)

    def result(self, timeout: float | None = None) -> Any:
        """Sync :meth:`aresult` (Ctrl-C stops waiting; the call keeps running)."""
        return unkoil(self.aresult, timeout)

    @on_app_loop
    async def acancel(self) -> None:
        """Cancel the remote call (no-op once it ended)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])

    def cancel(self) -> None:
        """Sync :meth:`acancel`."""
        unkoil(self.acancel)

    # -- display ---------------------------------------------------------------------------------

    def show(self) -> None:
        """In a notebook: display the status and keep it updated while the call runs."""
        import importlib

        ipython_display: Any = importlib.import_module("IPython.display")  # untyped
        self._display = ipython_display.display(_Html(self._repr_html_()), display_id=True)

    def _repr_html_(self) -> str:
        colour = _COLOURS.get(self.status, "#2563eb")
        percent = "" if self.progress is None else f" {self.progress:.0f}%"
        bar = (
            f"<progress value='{self.progress:.0f}' max='100' style='width:12em'></progress>"
            if self.progress is not None and self.status not in ("done", "error", "cancelled")
            else ""
        )
        message = f" — {html.escape(self.message)}" if self.message else ""
        return (
            f"<div><strong>{html.escape(self.node.name)}</strong> "
            f"<span style='color:{colour}'>{html.escape(self.status)}{percent}</span> "
            f"{bar}{message}</div>"
        )

    def __repr__(self) -> str:
        percent = "" if self.progress is None else f" {self.progress:.0f}%"
        return f"<Assignation {self.node.name} {self.status}{percent} id={self.id}>"


class _Html:
    """What IPython displays: an object with ``_repr_html_`` (avoids importing IPython early)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


async def _awaited_on_app_loop(app: App, task: asyncio.Task[Any], timeout: float | None) -> Any:
    loop = app.app_loop
    if loop is None or loop is asyncio.get_running_loop():
        return await asyncio.wait_for(asyncio.shield(task), timeout)

    async def wait() -> Any:
        return await asyncio.wait_for(asyncio.shield(task), timeout)

    from ..._loops import run_on

    return await run_on(loop, wait())
