"""An xarray's metadata as OME-Zarr (NGFF 0.5) group attributes, and back.

What is written at an image's prefix (a zarr v3 group) is ``{"ome": {...}, "arkitekt": {...}}``:

- ``ome`` (only when NGFF can describe the dims, see :func:`arkitekt.protocol.ngff.ngff_order`):
  ``multiscales`` with the axes in NGFF order, one dataset per level with its ``scale`` and
  ``translation`` (the pixel size and origin from uniform coordinates), and ``omero`` channels
  when there is a channel axis;
- ``arkitekt``: what NGFF has no place for, so that the DataArray comes back as it went in —
  the user's dim order, every coordinate (uniform ones as start/step, others as values),
  attrs, and the channels (with their wavelengths).

Everything is checked before a byte is uploaded: attrs must be JSON-safe, units known, and the
whole attribute at most :data:`MAX_ATTRIBUTES_BYTES`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import InvalidDataError, UsageError
from ...protocol import ngff

if TYPE_CHECKING:
    import xarray as xr

MAX_ATTRIBUTES_BYTES = 1 << 20
"""The group's attributes (coordinates and attrs included), as JSON."""
MAX_DEPTH = 32
_HEX = re.compile(r"^#?[0-9A-Fa-f]{6}$")
_PALETTE = ("00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00")


class Channel(BaseModel):
    """One channel of an image: a name, a display colour, and its wavelengths (nm)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    color: str | None = None
    """``#RRGGBB``."""
    excitation_wavelength: float | None = Field(default=None, gt=0, lt=1e6)
    emission_wavelength: float | None = Field(default=None, gt=0, lt=1e6)

    @field_validator("color")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _HEX.match(value):
            raise ValueError(f"color must be a hex colour like '#00FF00', got {value!r}")
        return "#" + value.lstrip("#").upper()


@dataclass(frozen=True)
class Metadata:
    """What :func:`describe` made of an array: the group attributes and what the server
    records (format, per-dim pixel size and unit, channels)."""

    attributes: dict[str, Any]
    format: str
    stored_dims: tuple[str, ...]


# -- JSON-safe values ----------------------------------------------------------------------------


def json_safe(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as plain JSON (numpy scalars converted); InvalidDataError naming ``where``."""
    if depth > MAX_DEPTH:
        raise InvalidDataError(f"{where} is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidDataError(f"{where} is {value}; only finite numbers can be stored")
        return value
    if isinstance(value, (list, tuple)):
        return [json_safe(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidDataError(f"{where} has the key {k!r}; keys must be strings")
            out[k] = json_safe(v, f"{where}[{k!r}]", depth + 1)
        return out
    raise InvalidDataError(
        f"{where} is a {type(value).__name__}; attrs can hold str, int, finite float, bool, "
        "None and lists/dicts of them"
    )


# -- coordinates ---------------------------------------------------------------------------------


def _uniform(values: np.ndarray[Any, Any]) -> tuple[float, float] | None:
    """(start, step) of an evenly spaced increasing numeric coordinate (pixel size), else None."""
    if values.dtype.kind not in "iuf" or values.size < 1 or not np.all(np.isfinite(values)):
        return None
    if values.size == 1:
        return float(values[0]), 1.0
    steps = np.diff(values.astype("float64"))
    step = float(steps.mean())
    if step <= 0 or not np.allclose(steps, step, rtol=1e-6, atol=0):
        return None
    return float(values[0]), step


def encode_coord(name: str, coord: Any) -> dict[str, Any]:
    """One coordinate as JSON: exact start/step when the values are an exact range, else its
    values (datetimes as ISO text, NaN as null)."""
    values = np.asarray(coord.values)
    where = f"coordinate {name!r}"
    if values.ndim > 1:
        raise InvalidDataError(
            f"{where} has {values.ndim} dims {list(coord.dims)}; only 0-d and 1-d coordinates "
            "can be stored (drop it with array.drop_vars(...))"
        )
    entry: dict[str, Any] = {"dims": [str(d) for d in coord.dims], "dtype": values.dtype.str}
    kind = values.dtype.kind
    flat = values.reshape(-1)
    if kind in "iu" and flat.size >= 2:
        istep = int(flat[1]) - int(flat[0])
        if np.array_equal(flat, flat[0] + istep * np.arange(flat.size, dtype=flat.dtype)):
            entry.update(start=int(flat[0]), step=istep, size=int(flat.size))
    if kind == "f" and flat.size >= 2 and np.all(np.isfinite(flat)):
        start, fstep = float(flat[0]), float(flat[1]) - float(flat[0])
        if np.array_equal(flat, start + fstep * np.arange(flat.size, dtype="float64")):
            entry.update(start=start, step=fstep, size=int(flat.size))
    if "start" not in entry:
        if kind in "biu":
            entry["values"] = flat.tolist()
        elif kind == "f":
            entry["values"] = [None if not math.isfinite(v) else v for v in flat.tolist()]
        elif kind == "M":
            entry["values"] = np.datetime_as_string(flat).tolist()
        elif kind == "m":
            entry["values"] = flat.astype("int64").tolist()
        elif kind == "U":
            entry["values"] = flat.tolist()
        elif kind == "O" and all(isinstance(v, str) for v in flat.tolist()):
            entry["values"], entry["dtype"] = flat.tolist(), "object"
        else:
            raise InvalidDataError(
                f"{where} has dtype {values.dtype}; coordinates can be numbers, booleans, "
                "datetimes, timedeltas or strings"
            )
    if coord.attrs:
        entry["attrs"] = json_safe(dict(coord.attrs), f"{where}'s attrs")
    return entry


def decode_coord(entry: dict[str, Any]) -> tuple[tuple[str, ...], np.ndarray[Any, Any]]:
    """The (dims, values) of an encoded coordinate."""
    dims = tuple(entry["dims"])
    dtype = np.dtype(entry["dtype"])
    if "start" in entry:
        values = entry["start"] + entry["step"] * np.arange(entry["size"], dtype="float64")
        if dtype.kind in "iu":
            values = entry["start"] + entry["step"] * np.arange(entry["size"], dtype="int64")
        return dims, values.astype(dtype)
    raw = entry["values"]
    if dtype.kind == "f":
        raw = [math.nan if v is None else v for v in raw]
    if dtype.kind == "m":
        array = np.asarray(raw, dtype="int64").view(dtype)
    elif dtype.kind == "O":
        array = np.empty(len(raw), dtype=object)
        array[:] = raw
    else:
        array = np.asarray(raw, dtype=dtype)
    return dims, array.reshape(()) if not dims else array


# -- channels ------------------------------------------------------------------------------------


def settle_channels(
    channels: Sequence[Channel | dict[str, Any] | str] | None, array: Any, dims: Sequence[str]
) -> list[Channel] | None:
    """The channels of the channel axis: those given (``Channel``, dicts or names), else the
    names of its coordinate; None without a channel axis or anything to say."""
    axis = next((d for d in dims if ngff.axis_type(d) == ngff.CHANNEL), None)
    if channels is None:
        coord = _dim_coord(array, axis) if axis else None
        if coord is None:
            return None
        names = [str(v) for v in np.asarray(coord.values).tolist()]
        if len(names) > ngff.MAX_CHANNELS or not all(1 <= len(n) <= 200 for n in names):
            return None  # a coordinate that does not name channels: it is kept as it is
        channels = names
    if isinstance(channels, (str, bytes)):
        raise UsageError("channels= takes a list, e.g. channels=['DAPI', 'GFP']")
    if axis is None:
        raise InvalidDataError(
            f"channels= was given but no dim is a channel axis (one of c, ch, channel) in "
            f"{list(dims)}"
        )
    size = int(array.shape[list(dims).index(axis)])
    if len(channels) != size or size > ngff.MAX_CHANNELS:
        raise InvalidDataError(
            f"channels= names {len(channels)} channels; dim {axis!r} has {size} "
            f"(at most {ngff.MAX_CHANNELS})"
        )
    settled: list[Channel] = []
    for i, c in enumerate(channels):
        try:
            if isinstance(c, Channel):
                settled.append(c)
            elif isinstance(c, str):
                settled.append(Channel(name=c))
            elif isinstance(c, Mapping):
                settled.append(Channel(**c))
            else:
                raise TypeError(f"a {type(c).__name__}")
        except (ValueError, TypeError) as e:
            raise InvalidDataError(f"channels[{i}] is not a channel: {e}") from None
    return settled


def _dim_coord(array: Any, dim: str) -> Any:
    coords = getattr(array, "coords", None)
    return coords[dim] if coords is not None and dim in coords and coords[dim].ndim == 1 else None


def _omero(channels: list[Channel], dtype: np.dtype[Any]) -> dict[str, Any]:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = float(info.min), float(info.max)
    else:  # floats: the usual [0, 1] (a viewer adjusts); bool: 0/1
        low, high = 0.0, 1.0
    return {
        "channels": [
            {
                "label": c.name,
                "color": (c.color or "#" + _PALETTE[i % len(_PALETTE)]).lstrip("#")
                if len(channels) > 1 or c.color
                else "FFFFFF",
                "active": True,
                "window": {"min": low, "max": high, "start": low, "end": high},
            }
            for i, c in enumerate(channels)
        ]
    }


# -- the whole group -----------------------------------------------------------------------------


def describe(
    array: Any,
    dims: Sequence[str],
    shape: Sequence[int],
    dtype: np.dtype[Any],
    channels: list[Channel] | None,
    level_factors: Sequence[Sequence[int]],
    name: str,
) -> Metadata:
    """The group attributes for ``array`` (an xarray.DataArray, or a bare array) with ``dims``
    (the user's order); ``level_factors``: per level (level 0 first), how many level-0 pixels
    one of its pixels spans along each dim, in that order."""
    import xarray as xr

    dims = tuple(dims)
    order = ngff.ngff_order(dims)
    coords: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    if isinstance(array, xr.DataArray):
        for cname, coord in array.coords.items():
            coords[str(cname)] = encode_coord(str(cname), coord)
        attrs = json_safe(dict(array.attrs), "attrs")
        for key in attrs:
            if not isinstance(key, str):
                raise InvalidDataError(f"attrs has the key {key!r}; keys must be strings")
    own: dict[str, Any] = {"version": ngff.ARKITEKT_VERSION, "dims": list(dims)}
    if coords:
        own["coords"] = coords
    if attrs:
        own["attrs"] = attrs
    if channels is not None:
        own["channels"] = [c.model_dump(exclude_none=True) for c in channels]
    attributes: dict[str, Any] = {"arkitekt": own}
    if order is not None:
        attributes["ome"] = _ome(array, order, dims, dtype, channels, level_factors, name)
    size = len(json.dumps(attributes, allow_nan=False))
    if size > MAX_ATTRIBUTES_BYTES:
        raise InvalidDataError(
            f"the image's coordinates and attrs take {size:,} bytes as JSON; at most "
            f"{MAX_ATTRIBUTES_BYTES:,} can be stored (drop large coordinates or attrs)"
        )
    return Metadata(
        attributes=attributes,
        format=ngff.FORMAT_OME if order is not None else ngff.FORMAT_GROUP,
        stored_dims=order if order is not None else dims,
    )


def _ome(
    array: Any,
    order: tuple[str, ...],
    dims: tuple[str, ...],
    dtype: np.dtype[Any],
    channels: list[Channel] | None,
    level_factors: Sequence[Sequence[int]],
    name: str,
) -> dict[str, Any]:
    axes: list[dict[str, Any]] = []
    scale: list[float] = []
    translation: list[float] = []
    for dim in order:
        kind = ngff.axis_type(dim)
        axis: dict[str, Any] = {"name": dim}
        if kind != ngff.CUSTOM:
            axis["type"] = kind
        step, origin = 1.0, 0.0
        coord = _dim_coord(array, dim)
        if kind in (ngff.SPACE, ngff.TIME) and coord is not None:
            unit = coord.attrs.get("units", coord.attrs.get("unit"))
            if unit is not None:
                found = ngff.canonical_unit(str(unit), kind)
                if found is None:
                    known = sorted(ngff.SPACE_UNITS if kind == ngff.SPACE else ngff.TIME_UNITS)
                    raise InvalidDataError(
                        f"coordinate {dim!r} has units {unit!r}, which is not a {kind} unit "
                        f"OME-NGFF knows; use one of {', '.join(known)} (or um, µm, s, ms...)"
                    )
                axis["unit"] = found
            uniform = _uniform(np.asarray(coord.values))
            if uniform is not None:
                origin, step = uniform
        axes.append(axis)
        scale.append(step)
        translation.append(origin)
    datasets = []
    for k, level in enumerate(level_factors):
        by_dim = dict(zip(dims, level, strict=True))
        factors = [by_dim[d] for d in order]
        datasets.append(
            {
                "path": str(k),
                "coordinateTransformations": [
                    {
                        "type": "scale",
                        "scale": [s * f for s, f in zip(scale, factors, strict=True)],
                    },
                    {
                        "type": "translation",
                        # a pixel of level k covers f pixels of level 0: its centre moves
                        "translation": [
                            t + (f - 1) * s / 2
                            for t, s, f in zip(translation, scale, factors, strict=True)
                        ],
                    },
                ],
            }
        )
    ome: dict[str, Any] = {
        "version": ngff.NGFF_VERSION,
        "multiscales": [{"name": name, "axes": axes, "datasets": datasets}],
    }
    if channels is not None:
        ome["omero"] = _omero(channels, dtype)
    return ome


def _coarser(entry: dict[str, Any], values: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
    """A coordinate along a dim a pyramid level has shrunk ``f`` times: a pixel centre of the
    level (the mean of ``f`` level-0 pixels) for evenly spaced numbers, else every ``f``-th."""
    f = 2 ** round(math.log2(len(values) / max(n, 1)))  # levels halve: a power of two
    if "start" in entry and values.dtype.kind == "f":
        start, step = float(entry["start"]), float(entry["step"])
        centres: np.ndarray[Any, Any] = start + (f - 1) * step / 2 + f * step * np.arange(n)
        return centres.astype(values.dtype)
    return values[::f][:n]


def restore(
    data: xr.DataArray, image_dims: Sequence[str], attributes: dict[str, Any]
) -> xr.DataArray:
    """The DataArray as it was given: ``data`` (in stored order) transposed back, with its
    coordinates and attrs."""
    own = attributes.get("arkitekt") or {}
    dims = tuple(own.get("dims") or image_dims)
    if tuple(data.dims) != dims:
        data = data.transpose(*dims)
    coords = {}
    for cname, entry in (own.get("coords") or {}).items():
        cdims, values = decode_coord(entry)
        if cdims and int(data.sizes[cdims[0]]) != len(values):
            values = _coarser(entry, values, int(data.sizes[cdims[0]]))
        coords[cname] = (cdims, values, entry.get("attrs") or {})
    if coords:
        data = data.assign_coords(coords)
    ours = dict(data.attrs)  # image_id: this image's, also when the attrs came from another
    data.attrs.update(own.get("attrs") or {})
    data.attrs.update(ours)
    return data
