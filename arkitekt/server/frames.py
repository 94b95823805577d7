"""Checks on one incoming websocket frame, shared by ``/rekuest/ws`` and the GraphQL sockets.

Every websocket of the server speaks JSON text. A binary frame, a message over the size limit,
or JSON with ``NaN``/``Infinity`` (Python's ``json`` reads them, no other JSON parser does, and
they cannot be stored or sent on) is refused with a reason instead of reaching a handler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_NON_FINITE = ("NaN", "Infinity")
MAX_CLOSE_REASON_BYTES = 123
"""The longest reason a close frame carries, in UTF-8 bytes (RFC 6455 §5.5: 125 minus the code)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def frame_problem(message: Mapping[str, Any], max_bytes: int) -> str | None:
    """Why the ASGI ``websocket.receive`` ``message`` cannot be read as a JSON text frame of at
    most ``max_bytes`` bytes, else None (the JSON itself is checked by :func:`json_problem`)."""
    text = message.get("text")
    if not isinstance(text, str):
        return "binary frames are not spoken here; send JSON text"
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        return f"messages are limited to {max_bytes} bytes"
    return None


def json_problem(text: str, *, full: bool = True) -> str | None:
    """Why ``text`` is not standard JSON, else None. With ``full=False`` only ``NaN`` and
    ``Infinity`` are looked for (the caller's own parser checks the rest), and only when the
    text holds one of those words."""
    if not full and not any(word in text for word in _NON_FINITE):
        return None
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        return "the message is nested too deeply"
    except ValueError as e:  # JSONDecodeError included
        return f"the message is not valid JSON ({e})"
    return None


def close_reason(text: str) -> str:
    """``text`` cut to what a close frame can carry (whole characters, at most 123 UTF-8 bytes):
    a longer reason makes the websocket library raise instead of closing."""
    encoded = text.encode()
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return text
    return encoded[: MAX_CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."
