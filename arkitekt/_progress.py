"""Progress bars: for remote calls that report progress and for long transfers.

Shown where someone watches — a terminal (rich) or a notebook (tqdm's widget, or its text bar
without ipywidgets) — and never in logs, pipes or CI. ``ARKITEKT_PROGRESS=true/false`` forces
it either way.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

SHOW_TRANSFERS_ABOVE = 32 << 20
"""Transfers smaller than this (bytes) never show a bar."""


class Progress(Protocol):
    def update(self, n: int) -> Any: ...

    def close(self) -> None: ...


class _Silent:
    def update(self, n: int) -> None:
        return None

    def close(self) -> None:
        return None


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = getattr(shell, "get_ipython", lambda: None)()
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def watched() -> bool:
    """Whether progress should show: the setting, else a terminal or a notebook."""
    from .settings import get_settings

    setting = get_settings().progress
    if setting is not None:
        return setting
    return in_notebook() or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


class _RichBar:
    """A rich progress bar with the few tqdm methods used here (``update``, ``n``, postfix)."""

    def __init__(self, total: int, desc: str, unit: str = "%", **_: Any) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(stderr=True)
        extra = (
            [DownloadColumn(binary_units=True), TransferSpeedColumn()]
            if unit == "B"
            else [TextColumn("{task.fields[note]}")]
        )
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            *extra,
            TimeRemainingColumn(),
            console=console,
            transient=console.is_terminal,  # a terminal keeps no finished bar; a log keeps one
        )
        self._progress.start()
        self._task = self._progress.add_task(desc, total=total, note="")
        self.n = 0.0

    def update(self, n: float) -> None:
        self.n += n
        self._progress.update(self._task, advance=n)

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self._progress.update(self._task, note=text)

    def close(self) -> None:
        self._progress.stop()


def _bar_class() -> Any:
    """In a notebook tqdm's widget (with ipywidgets) or its text bar, without its monitor
    thread (it would outlive the app); elsewhere a rich bar."""
    if not in_notebook():
        return _RichBar
    from tqdm.std import tqdm as text_bar

    base = text_bar
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import tqdm as widget_bar

        base = widget_bar
    except ImportError:
        pass

    class Bar(base):  # type: ignore[misc, valid-type]
        monitor_interval = 0

    return Bar


def transfer_progress(total: int, description: str, *, show: bool | None = None) -> Progress:
    """A byte-counting bar when ``show`` (default: watched and the transfer is large), else a
    no-op with the same methods."""
    if show is None:
        show = total >= SHOW_TRANSFERS_ABOVE and watched()
    if not show:
        return _Silent()
    bar: Progress = _bar_class()(
        total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024, leave=False
    )
    return bar


class CallProgress:
    """The bar of one remote call: created at its first progress report, moved to each
    reported percentage, closed when the call ends."""

    def __init__(self, label: str, *, show: bool | None = None) -> None:
        self.label = label
        self.show = show
        """Whether to show it; None: decided at the first report (most calls report nothing,
        and every call makes one of these)."""
        self._bar: Any = None

    def report(self, percent: int | float | None, message: str | None) -> None:
        if percent is None:
            return
        if self.show is None:
            self.show = watched()
        if not self.show:
            return
        if self._bar is None:
            self._bar = _bar_class()(total=100, desc=self.label, unit="%", leave=False)
        bar = self._bar
        bar.update(max(0.0, min(100.0, float(percent))) - bar.n)
        if message:
            bar.set_postfix_str(message[:60], refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
