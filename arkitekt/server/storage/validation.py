"""Checks on what clients declare and write: image metadata, and the zarr array they stored.

Every image is checked twice against the same :class:`StorageLimits`: when it is announced,
and at finish against the ``zarr.json`` actually written (a client may announce one thing and
write another). The limits bound what a reader must allocate: a chunk is decompressed whole, so
its uncompressed size is bounded, and only codecs whose output size is known before decoding
(checked by :mod:`.thumbnails` on every chunk the server reads) are accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import ServerConfig

ITEMSIZE = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "float16": 2,
    "int32": 4,
    "uint32": 4,
    "float32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "complex64": 8,
    "complex128": 16,
}
DTYPES = frozenset(ITEMSIZE)
COMPRESSORS = frozenset({"blosc", "zstd"})
"""Compressors whose encoded chunks state their decoded size up front (checked before decoding;
gzip, for one, does not)."""
CODECS = frozenset({"bytes", "transpose", "crc32c"} | COMPRESSORS)
MAX_NAME = 1024
MAX_TAGS = 64
_DIM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class InvalidUpload(ValueError):
    """What a client declared or wrote is not acceptable; the message says why."""


@dataclass(frozen=True)
class StorageLimits:
    """What one image may declare (see the ``storage_max_*`` settings)."""

    max_chunk_bytes: int = 128 << 20
    max_itemsize: int = 16
    max_dims: int = 16
    max_image_bytes: int = 64 << 40

    @classmethod
    def of(cls, config: ServerConfig) -> StorageLimits:
        return cls(
            max_chunk_bytes=config.storage_max_chunk_bytes,
            max_itemsize=config.storage_max_itemsize,
            max_dims=config.storage_max_dims,
            max_image_bytes=config.storage_max_image_bytes,
        )


def chunk_bytes(chunks: Sequence[int], dtype: str) -> int:
    """Uncompressed bytes of one chunk."""
    return math.prod(chunks) * ITEMSIZE[dtype]


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def check_limits(
    shape: Sequence[int], dtype: str, chunks: Sequence[int], limits: StorageLimits
) -> None:
    """The array's size, chunk size and item size are within ``limits``."""
    itemsize = ITEMSIZE[dtype]
    if itemsize > limits.max_itemsize:
        raise InvalidUpload(
            f"dtype {dtype} has {itemsize}-byte items; this server accepts at most "
            f"{limits.max_itemsize} bytes per item"
        )
    size = chunk_bytes(chunks, dtype)
    if size > limits.max_chunk_bytes:
        raise InvalidUpload(
            f"chunks {list(chunks)} of {dtype} are {_mib(size)} each, uncompressed; this server "
            f"accepts chunks of at most {_mib(limits.max_chunk_bytes)}: use smaller chunks "
            "(e.g. planes of at most 2048 x 2048)"
        )
    total = math.prod(shape) * itemsize
    if total > limits.max_image_bytes:
        raise InvalidUpload(
            f"the image is {total:,} bytes uncompressed; this server accepts images of at most "
            f"{limits.max_image_bytes:,} bytes"
        )


def check_image_metadata(
    name: str,
    shape: Sequence[int],
    dims: Sequence[str],
    dtype: str,
    chunks: Sequence[int],
    tags: Sequence[str],
    limits: StorageLimits,
) -> None:
    """What an upload announces is well-formed and within ``limits``."""
    check_name(name)
    if not 1 <= len(shape) <= limits.max_dims:
        raise InvalidUpload(f"shape must have 1 to {limits.max_dims} dimensions, got {len(shape)}")
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
    check_limits(shape, dtype, chunks, limits)
    check_tags(tags)


def check_name(name: str) -> None:
    if not name or not name.strip() or len(name) > MAX_NAME:
        raise InvalidUpload(f"name must be 1 to {MAX_NAME} characters")


def check_tags(tags: Sequence[str]) -> None:
    if len(tags) > MAX_TAGS or any(not t or len(t) > 200 for t in tags):
        raise InvalidUpload(f"tags must be at most {MAX_TAGS} strings of 1 to 200 characters")


def check_zarr_metadata(
    raw: bytes | None,
    shape: Sequence[int],
    dims: Sequence[str],
    dtype: str,
    chunks: Sequence[int],
    limits: StorageLimits,
) -> dict[str, Any]:
    """The stored ``zarr.json`` describes the array that was announced, within ``limits``, with
    codecs the server can read within bounds. Returns the parsed metadata."""
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
    if not isinstance(grid, dict) or grid.get("name") != "regular":
        raise InvalidUpload("zarr.json must use a regular chunk grid")
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
    if meta.get("storage_transformers"):
        raise InvalidUpload("zarr.json must not use storage transformers")
    check_codecs(meta.get("codecs"))
    check_limits(shape, dtype, chunks, limits)
    return meta


def check_codecs(codecs: Any) -> None:
    """Only codecs whose decoded size is known before decoding, at most one compressor."""
    if not isinstance(codecs, list) or not all(isinstance(c, dict) for c in codecs):
        raise InvalidUpload("zarr.json must list its codecs")
    names = [str(c.get("name")) for c in codecs]
    unknown = sorted(set(names) - CODECS)
    if unknown:
        raise InvalidUpload(
            f"codecs {unknown} are not accepted; use {sorted(CODECS)} (the SDK writes blosc)"
        )
    if sum(name in COMPRESSORS for name in names) > 1 or names.count("bytes") != 1:
        raise InvalidUpload("zarr.json must use the bytes codec and at most one compressor")
