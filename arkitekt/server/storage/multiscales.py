"""Checks on an OME-Zarr image group at finish: the group's ``zarr.json`` (NGFF 0.5
``multiscales``, our ``arkitekt`` attribute) and every level's array, against what was announced.

An image group holds level 0 at ``<prefix>/0`` and coarser levels at ``1``, ``2``, ...; each
level is an array with the announced dims (stored in NGFF order, which may differ from the
user's) and is checked like a plain image (:func:`.validation.check_zarr_metadata`). What was
verified — levels, pixel sizes, units, channels — is what the server records; readers trust
nothing else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from arkitekt.protocol import ngff

from .datalayer import Datalayer
from .validation import InvalidUpload, StorageLimits, check_limits, check_zarr_metadata

MAX_GROUP_BYTES = 2 << 20
"""A group's ``zarr.json`` (coordinates and attrs up to 1 MiB, the rest NGFF metadata)."""
MAX_LEVEL_BYTES = 1 << 20


@dataclass(frozen=True)
class Level:
    """One announced level, in the user's dim order."""

    shape: list[int]
    chunks: list[int]


@dataclass
class Verified:
    """What the server records of a verified image group."""

    levels: list[dict[str, Any]] = field(default_factory=list)
    """Per level: ``path``, ``shape``, ``chunks`` (user's dim order) and ``scale``."""
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channels: list[dict[str, Any]] | None = None
    stored_dims: list[str] = field(default_factory=list)
    metas: list[dict[str, Any]] = field(default_factory=list)
    """Each level's parsed ``zarr.json``."""


def check_levels(
    shape: Sequence[int], chunks: Sequence[int], levels: Sequence[Level], limits: StorageLimits
) -> None:
    """Announced levels: level 0 is the image, then shapes that never grow, within limits."""
    if not 1 <= len(levels) <= ngff.MAX_LEVELS:
        raise InvalidUpload(f"an image has 1 to {ngff.MAX_LEVELS} levels, got {len(levels)}")
    if list(levels[0].shape) != list(shape) or list(levels[0].chunks) != list(chunks):
        raise InvalidUpload("levels[0] must be the image itself (its shape and chunks)")
    for k, level in enumerate(levels):
        if len(level.shape) != len(shape) or len(level.chunks) != len(shape):
            raise InvalidUpload(f"levels[{k}] must give a shape and chunks per dim")
        if any(n < 0 for n in level.shape) or any(c < 1 for c in level.chunks):
            raise InvalidUpload(f"levels[{k}] has a negative size or a chunk size below 1")
        if k and any(a > b for a, b in zip(level.shape, levels[k - 1].shape, strict=True)):
            raise InvalidUpload(f"levels[{k}] is larger than levels[{k - 1}]")


def _parse(raw: bytes | None, what: str, max_bytes: int) -> dict[str, Any]:
    if raw is None:
        raise InvalidUpload(f"nothing was written: {what} is missing")
    if len(raw) > max_bytes:
        raise InvalidUpload(f"{what} is larger than {max_bytes:,} bytes")
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise InvalidUpload(f"{what} is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise InvalidUpload(f"{what} is not a JSON object")
    return meta


def _floats(value: Any, n: int, what: str) -> list[float]:
    if (
        not isinstance(value, list)
        or len(value) != n
        or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    ):
        raise InvalidUpload(f"{what} must be {n} finite numbers")
    return [float(v) for v in value]


def _channels(own: dict[str, Any]) -> list[dict[str, Any]] | None:
    channels = own.get("channels")
    if channels is None:
        return None
    if not isinstance(channels, list) or len(channels) > ngff.MAX_CHANNELS:
        raise InvalidUpload(f"arkitekt.channels must be a list of at most {ngff.MAX_CHANNELS}")
    kept: list[dict[str, Any]] = []
    for c in channels:
        name = c.get("name") if isinstance(c, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise InvalidUpload("every channel needs a name of 1 to 200 characters")
        entry: dict[str, Any] = {"name": name}
        color = c.get("color")
        if color is not None:
            if not isinstance(color, str) or len(color) != 7 or not color.startswith("#"):
                raise InvalidUpload(f"channel {name!r}: color must be '#RRGGBB'")
            entry["color"] = color
        for key in ("excitation_wavelength", "emission_wavelength"):
            value = c.get(key)
            if value is not None:
                entry[key] = _floats([value], 1, f"channel {name!r}: {key}")[0]
        kept.append(entry)
    return kept


def _multiscales(
    ome: Any, stored_dims: list[str], n_levels: int
) -> tuple[list[list[float]], dict[str, str]]:
    """Each level's scale (stored order) and the axes' units, from NGFF 0.5 ``multiscales``."""
    if not isinstance(ome, dict) or ome.get("version") != ngff.NGFF_VERSION:
        raise InvalidUpload(f"attributes.ome must be NGFF {ngff.NGFF_VERSION} metadata")
    found = ome.get("multiscales")
    if not isinstance(found, list) or len(found) != 1 or not isinstance(found[0], dict):
        raise InvalidUpload("attributes.ome.multiscales must hold one multiscale")
    axes = found[0].get("axes")
    if not isinstance(axes, list) or [a.get("name") for a in axes if isinstance(a, dict)] != (
        stored_dims
    ):
        raise InvalidUpload(f"the multiscale's axes must be the level arrays' dims {stored_dims}")
    if ngff.ngff_order(stored_dims) != tuple(stored_dims):
        raise InvalidUpload(f"dims {stored_dims} are not in NGFF order")
    units: dict[str, str] = {}
    for axis in axes:
        kind = ngff.axis_type(axis["name"])
        if axis.get("type", None if kind == ngff.CUSTOM else kind) != (
            None if kind == ngff.CUSTOM else kind
        ):
            raise InvalidUpload(f"axis {axis['name']!r} must have type {kind!r}")
        unit = axis.get("unit")
        if unit is not None:
            if not isinstance(unit, str) or ngff.canonical_unit(unit, kind) != unit:
                raise InvalidUpload(f"axis {axis['name']!r} has unit {unit!r}, not an NGFF unit")
            units[axis["name"]] = unit
    datasets = found[0].get("datasets")
    if not isinstance(datasets, list) or len(datasets) != n_levels:
        raise InvalidUpload(f"the multiscale must list {n_levels} datasets (one per level)")
    scales: list[list[float]] = []
    for k, dataset in enumerate(datasets):
        if not isinstance(dataset, dict) or dataset.get("path") != str(k):
            raise InvalidUpload(f"dataset {k} must have the path {str(k)!r}")
        transforms = dataset.get("coordinateTransformations")
        if not isinstance(transforms, list) or not transforms:
            raise InvalidUpload(f"dataset {k} needs a scale transformation")
        first = transforms[0]
        if not isinstance(first, dict) or first.get("type") != "scale":
            raise InvalidUpload(f"dataset {k}: the first transformation must be a scale")
        scale = _floats(first.get("scale"), len(stored_dims), f"dataset {k}'s scale")
        if any(s <= 0 for s in scale):
            raise InvalidUpload(f"dataset {k}'s scale must be positive")
        for t in transforms[1:]:
            if not isinstance(t, dict) or t.get("type") != "translation":
                raise InvalidUpload(f"dataset {k}: only a translation may follow the scale")
            _floats(t.get("translation"), len(stored_dims), f"dataset {k}'s translation")
        scales.append(scale)
    return scales, units


async def verify_group(
    read: Callable[[str, int], Awaitable[bytes | None]],
    store: str,
    format: str,
    dims: Sequence[str],
    dtype: str,
    levels: Sequence[Level],
    limits: StorageLimits,
) -> Verified:
    """Check an image group as written against what was announced (``dims`` and ``levels`` in
    the user's order); ``read(key, max_bytes)`` reads a small object of the datalayer."""
    group = _parse(await read(f"{store}/zarr.json", MAX_GROUP_BYTES), "zarr.json", MAX_GROUP_BYTES)
    if group.get("zarr_format") != 3 or group.get("node_type") != "group":
        raise InvalidUpload("zarr.json must describe a zarr v3 group")
    attributes = group.get("attributes")
    if not isinstance(attributes, dict):
        raise InvalidUpload("the group has no attributes")
    own = attributes.get("arkitekt")
    if not isinstance(own, dict) or own.get("version") != ngff.ARKITEKT_VERSION:
        raise InvalidUpload(f"attributes.arkitekt must be version {ngff.ARKITEKT_VERSION}")
    if own.get("dims") != list(dims):
        raise InvalidUpload(f"attributes.arkitekt.dims must be the announced dims {list(dims)}")
    verified = Verified(channels=_channels(own))
    for k, level in enumerate(levels):
        raw = await read(f"{store}/{k}/zarr.json", MAX_LEVEL_BYTES)
        meta = _parse(raw, f"{k}/zarr.json", MAX_LEVEL_BYTES)
        stored = meta.get("dimension_names")
        if not isinstance(stored, list) or sorted(map(str, stored)) != sorted(dims):
            raise InvalidUpload(f"level {k} must have the dims {list(dims)}, in any order")
        if k and stored != verified.stored_dims:
            raise InvalidUpload(f"level {k} stores its dims in another order than level 0")
        verified.stored_dims = [str(d) for d in stored]
        order = [list(dims).index(d) for d in stored]
        check_limits(level.shape, dtype, level.chunks, limits)
        verified.metas.append(
            check_zarr_metadata(
                raw,
                [level.shape[i] for i in order],
                stored,
                dtype,
                [level.chunks[i] for i in order],
                limits,
            )
        )
    stored_dims = verified.stored_dims
    scales: list[list[float]] = [[1.0] * len(dims) for _ in levels]
    if format == ngff.FORMAT_OME:
        scales, verified.units = _multiscales(attributes.get("ome"), stored_dims, len(levels))
        for d, s in zip(stored_dims, scales[0], strict=True):
            if ngff.axis_type(d) in (ngff.SPACE, ngff.TIME):
                verified.scale[d] = s
    elif "ome" in attributes:
        raise InvalidUpload(f"a {format} image must not carry NGFF metadata")
    elif stored_dims != list(dims):
        raise InvalidUpload("a zarr-group image stores its dims in the announced order")
    for k, level in enumerate(levels):
        by_dim = dict(zip(stored_dims, scales[k], strict=True))
        verified.levels.append(
            {
                "path": str(k),
                "shape": list(level.shape),
                "chunks": list(level.chunks),
                "scale": [by_dim[d] for d in dims],
            }
        )
    return verified


def announced_levels(row: Any) -> list[Level]:
    """The levels an image record announced (level 0 alone when it named none)."""
    if not row.levels:
        return [Level(list(row.shape), list(row.chunks))]
    return [Level(list(lv["shape"]), list(lv["chunks"])) for lv in row.levels]


async def verify_image(datalayer: Datalayer, row: Any, limits: StorageLimits) -> Verified:
    """Check an image's stored metadata against its record: a plain array (``zarr-array``,
    images from before OME-Zarr) or an image group."""
    if row.format == ngff.FORMAT_ARRAY:
        raw = await datalayer.read(f"{row.store}/zarr.json")
        meta = check_zarr_metadata(raw, row.shape, row.dims, row.dtype, row.chunks, limits)
        return Verified(stored_dims=list(row.dims), metas=[meta])
    return await verify_group(
        datalayer.read, row.store, row.format, row.dims, row.dtype, announced_levels(row), limits
    )


def recorded(verified: Verified) -> dict[str, Any]:
    """The columns of an image record set from a verified group."""
    return {
        "levels": verified.levels,
        "scale": verified.scale or None,
        "units": verified.units or None,
        "channels": verified.channels,
    }
