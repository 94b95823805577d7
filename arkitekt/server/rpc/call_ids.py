"""Admitting client-chosen call ids: each at most once, checked at ``Assign`` in memory.

Ids are time-ordered (:mod:`arkitekt.protocol.ids`). An id is admitted when it was minted within
``window`` seconds of the server's clock and was not admitted before; the ids admitted within
the window are remembered (and, after a restart, read back from the database by their key
range), and anything older is refused by its time alone. So every stored call's id is refused
again, without a database lookup per call, and memory holds only the last window's ids.
"""

from __future__ import annotations

import time
from collections import deque

from arkitekt.protocol.ids import minted_at


class RecentCallIds:
    """The call ids admitted within the last ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._ids: set[str] = set()
        self._order: deque[tuple[float, str]] = deque()
        """(minted at, id) in admission order, for forgetting ids older than the window."""

    def __len__(self) -> int:
        return len(self._ids)

    def refusal(self, call_id: str, now: float | None = None) -> tuple[str, str] | None:
        """Why a new call may not have this id, as ``(code, message)``: not time-ordered
        (``bad_request``), minted too far from the server's clock (``expired_id``), or admitted
        before (``duplicate``). None when it may: :meth:`remember` it once the call is taken."""
        minted = minted_at(call_id)
        if minted is None:
            return (
                "bad_request",
                "call ids must be time-ordered (UUIDv7 layout, see arkitekt.protocol.ids)",
            )
        now = time.time() if now is None else now
        if abs(minted - now) > self.window:
            return (
                "expired_id",
                f"the call id was minted {minted - now:+.0f} s from the server's clock "
                f"(at most {self.window:g} s either way): make a new one",
            )
        self._forget_before(now - self.window)
        if call_id in self._ids:
            return ("duplicate", "an assignation with this id exists already")
        return None

    def remember(self, call_id: str) -> None:
        """Hold an id as taken: a call was accepted with it (or, after a restart, is stored)."""
        if call_id not in self._ids:
            self._ids.add(call_id)
            self._order.append((minted_at(call_id) or 0.0, call_id))

    def _forget_before(self, oldest: float) -> None:
        # admission order is nearly time order; an id minted early but admitted late stays a
        # little longer than needed, which is only safer
        while self._order and self._order[0][0] < oldest:
            self._ids.discard(self._order.popleft()[1])
