"""A progress bar for long transfers: shown on a terminal, silent otherwise."""

from __future__ import annotations

import sys
from typing import Any, Protocol

SHOW_ABOVE = 32 << 20
"""Transfers smaller than this (bytes) never show a bar."""


class Progress(Protocol):
    def update(self, n: int) -> Any: ...

    def close(self) -> None: ...


class _Silent:
    def update(self, n: int) -> None:
        return None

    def close(self) -> None:
        return None


def transfer_progress(total: int, description: str, *, show: bool | None = None) -> Progress:
    """A byte-counting bar (tqdm) when ``show`` (default: stderr is a terminal and the transfer
    is large), else a no-op with the same methods."""
    if show is None:
        show = total >= SHOW_ABOVE and sys.stderr.isatty()
    if not show:
        return _Silent()
    from tqdm.auto import tqdm

    bar: Progress = tqdm(
        total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024, leave=False
    )
    return bar
