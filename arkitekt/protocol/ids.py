"""Time-ordered call ids: what lets the server check a client-chosen id for reuse at once.

Callers choose their calls' ids, so a call needs no round trip before its events can be matched.
The ids have the UUIDv7 layout (RFC 9562): 48 bits of Unix time in milliseconds, the version
nibble ``7``, the variant bits, and 74 random bits, written as 32 lowercase hex digits. The
server admits an id only when its time is within a window of its own clock and it has not
admitted the id within that window (:mod:`arkitekt.server.rpc.call_ids`), so a reused id is
refused at ``Assign`` without a database lookup: an id older than the window is refused by its
time alone. Clients mint ids on the server's clock (``Welcome.server_time``), so a lab PC whose
clock is off still makes valid ids.

Hex order is time order, so "every id minted since t" is a range of the primary key.
"""

from __future__ import annotations

import secrets
import time

_MS_BITS = 48
_RANDOM_BITS = 74


def time_ordered_id(now: float | None = None) -> str:
    """A new id minted at ``now`` (seconds since the epoch; default: this machine's clock)."""
    ms = int((time.time() if now is None else now) * 1000) & ((1 << _MS_BITS) - 1)
    random = secrets.randbits(_RANDOM_BITS)
    value = (
        (ms << 80)
        | (0x7 << 76)
        | ((random >> 62) << 64)  # 12 random bits after the version
        | (0b10 << 62)  # the RFC 9562 variant
        | (random & ((1 << 62) - 1))
    )
    return f"{value:032x}"


def minted_at(value: str) -> float | None:
    """When a time-ordered id was minted (seconds since the epoch); None when ``value`` is not
    one (wrong length, version or variant, or not lowercase hex)."""
    if len(value) != 32 or value[12] != "7" or value[16] not in "89ab":
        return None
    try:
        if value != value.lower():
            return None
        return int(value[:12], 16) / 1000
    except ValueError:
        return None


def lowest_id_since(moment: float) -> str:
    """The smallest id minted at or after ``moment``: ``id >= lowest_id_since(t)`` selects the
    ids minted since ``t`` (for the ids of this layout)."""
    return f"{int(moment * 1000):012x}" + "0" * 20
