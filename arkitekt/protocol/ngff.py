"""OME-NGFF 0.5 facts both sides need: how dimension names become axes, their order on disk,
and the units NGFF accepts (UDUNITS-2 names) with the spellings people use for them.

The client maps an image's dims to axes and writes them; the server checks what was written
against the same rules. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

NGFF_VERSION = "0.5"
FORMAT_ARRAY = "zarr-array"
"""Images written before OME-Zarr: a plain zarr v3 array at the image's prefix."""
FORMAT_OME = "ome-zarr-0.5"
"""A zarr v3 group with NGFF 0.5 ``multiscales``; level 0 at ``<prefix>/0``."""
FORMAT_GROUP = "zarr-group"
"""The same group layout for dims NGFF cannot describe (no ``ome`` multiscales)."""
FORMATS = (FORMAT_ARRAY, FORMAT_OME, FORMAT_GROUP)
GROUP_FORMATS = (FORMAT_OME, FORMAT_GROUP)
ARKITEKT_VERSION = 1
"""Version of our own ``arkitekt`` group attribute (dims, coords, attrs, channels)."""
MAX_LEVELS = 32
MAX_CHANNELS = 1024

TIME, CHANNEL, SPACE, CUSTOM = "time", "channel", "space", "custom"
_TYPES = {"t": TIME, "time": TIME, "c": CHANNEL, "ch": CHANNEL, "channel": CHANNEL}
_SPACE_ORDER = ("z", "y", "x")

SPACE_UNITS = frozenset(
    [
        "angstrom",
        "attometer",
        "centimeter",
        "decimeter",
        "exameter",
        "femtometer",
        "foot",
        "gigameter",
        "hectometer",
        "inch",
        "kilometer",
        "megameter",
        "meter",
        "micrometer",
        "mile",
        "millimeter",
        "nanometer",
        "parsec",
        "petameter",
        "picometer",
        "terameter",
        "yard",
        "yoctometer",
        "yottameter",
        "zeptometer",
        "zettameter",
    ]
)
TIME_UNITS = frozenset(
    [
        "attosecond",
        "centisecond",
        "day",
        "decisecond",
        "exasecond",
        "femtosecond",
        "gigasecond",
        "hectosecond",
        "hour",
        "kilosecond",
        "megasecond",
        "microsecond",
        "millisecond",
        "minute",
        "nanosecond",
        "petasecond",
        "picosecond",
        "second",
        "terasecond",
        "yoctosecond",
        "yottasecond",
        "zeptosecond",
        "zettasecond",
    ]
)
_ALIASES = {
    "um": "micrometer",
    "µm": "micrometer",  # micro sign
    "μm": "micrometer",  # greek mu
    "micron": "micrometer",
    "microns": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "pm": "picometer",
    "km": "kilometer",
    "å": "angstrom",
    "s": "second",
    "sec": "second",
    "ms": "millisecond",
    "us": "microsecond",
    "µs": "microsecond",
    "μs": "microsecond",
    "ns": "nanosecond",
    "min": "minute",
    "h": "hour",
    "hr": "hour",
    "d": "day",
}


def axis_type(dim: str) -> str:
    """``time``, ``channel``, ``space`` or ``custom`` for a dimension name."""
    if dim in _SPACE_ORDER:
        return SPACE
    return _TYPES.get(dim.lower(), CUSTOM)


def ngff_order(dims: Sequence[str]) -> tuple[str, ...] | None:
    """The dims in NGFF order (time, channel or custom, then z, y, x), or None when NGFF cannot
    describe them: 2 to 5 axes, y and x present, at most one time and one channel-or-custom."""
    if not 2 <= len(dims) <= 5 or "y" not in dims or "x" not in dims:
        return None
    kinds = [axis_type(d) for d in dims]
    if kinds.count(TIME) > 1 or kinds.count(CHANNEL) + kinds.count(CUSTOM) > 1:
        return None
    rank = {TIME: 0, CHANNEL: 1, CUSTOM: 1}
    lead = sorted((d for d in dims if axis_type(d) != SPACE), key=lambda d: rank[axis_type(d)])
    space = [d for d in _SPACE_ORDER if d in dims]
    return (*lead, *space)


def canonical_unit(unit: str, kind: str) -> str | None:
    """The NGFF (UDUNITS-2) name of ``unit`` on an axis of type ``kind``, or None."""
    valid = SPACE_UNITS if kind == SPACE else TIME_UNITS if kind == TIME else frozenset()
    word = unit.strip()
    for candidate in (word, word.lower(), _ALIASES.get(word, ""), _ALIASES.get(word.lower(), "")):
        if candidate in valid:
            return candidate
        if candidate.endswith("s") and candidate[:-1] in valid:  # "micrometers", "seconds"
            return candidate[:-1]
    return None
