"""Checks on what clients declare and write: image metadata, and the zarr array they stored."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

DTYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    }
)
MAX_DIMS = 32
MAX_NAME = 1024
MAX_TAGS = 64
_DIM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class InvalidUpload(ValueError):
    """What a client declared or wrote is not acceptable; the message says why."""


def check_image_metadata(
    name: str,
    shape: Sequence[int],
    dims: Sequence[str],
    dtype: str,
    chunks: Sequence[int],
    tags: Sequence[str],
) -> None:
    check_name(name)
    if not 1 <= len(shape) <= MAX_DIMS:
        raise InvalidUpload(f"shape must have 1 to {MAX_DIMS} dimensions, got {len(shape)}")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise InvalidUpload(f"shape must be non-negative integers, got {list(shape)}")
    if len(dims) != len(shape):
        raise InvalidUpload(f"dims {list(dims)} must name each of the {len(shape)} dimensions")
    if len(set(dims)) != len(dims) or not all(_DIM.match(d) for d in dims):
        raise InvalidUpload(
            f"dims {list(dims)} must be distinct identifiers (letters, digits, '_'), e.g. "
            "['c', 'z', 'y', 'x']"
        )
    if dtype not in DTYPES:
        raise InvalidUpload(f"dtype {dtype!r} is not supported; use one of {sorted(DTYPES)}")
    if len(chunks) != len(shape) or any(not isinstance(c, int) or c < 1 for c in chunks):
        raise InvalidUpload(f"chunks {list(chunks)} must be one positive size per dimension")
    check_tags(tags)


def check_name(name: str) -> None:
    if not name or not name.strip() or len(name) > MAX_NAME:
        raise InvalidUpload(f"name must be 1 to {MAX_NAME} characters")


def check_tags(tags: Sequence[str]) -> None:
    if len(tags) > MAX_TAGS or any(not t or len(t) > 200 for t in tags):
        raise InvalidUpload(f"tags must be at most {MAX_TAGS} strings of 1 to 200 characters")


def check_zarr_metadata(
    raw: bytes | None, shape: Sequence[int], dims: Sequence[str], dtype: str, chunks: Sequence[int]
) -> None:
    """The stored ``zarr.json`` describes the array that was announced."""
    if raw is None:
        raise InvalidUpload("nothing was written: zarr.json is missing")
    try:
        meta: Any = json.loads(raw)
    except ValueError as e:
        raise InvalidUpload(f"zarr.json is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("zarr_format") != 3:
        raise InvalidUpload("zarr.json is not zarr v3 metadata")
    if meta.get("node_type") != "array":
        raise InvalidUpload("zarr.json does not describe an array")
    grid = meta.get("chunk_grid") or {}
    found = {
        "shape": list(meta.get("shape") or []),
        "dtype": meta.get("data_type"),
        "chunks": list((grid.get("configuration") or {}).get("chunk_shape") or []),
        "dims": list(meta.get("dimension_names") or []),
    }
    expected = {"shape": list(shape), "dtype": dtype, "chunks": list(chunks), "dims": list(dims)}
    wrong = [k for k in expected if found[k] != expected[k]]
    if wrong:
        details = ", ".join(f"{k}: announced {expected[k]}, stored {found[k]}" for k in wrong)
        raise InvalidUpload(f"the stored array differs from the announced one ({details})")
