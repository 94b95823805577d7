"""Thumbnails of stored images (the dashboard's): a bounded read, made once, kept.

A thumbnail shows an image's first plane (index 0 of every dim but the last two), sampled to at
most 128 px a side (:mod:`arkitekt.protocol.thumbnail`). Whatever an image holds, making one
must not let it make the server allocate without bound (a 40000 x 40000 chunk of ones is 49 KB
stored and 1.6 GB decoded). So:

- the array is opened from its ``zarr.json`` only after that has been checked again against the
  verified record and the upload limits (:mod:`.validation`);
- chunks are read one at a time, and each is checked *before* it is decoded: its stored size,
  and the decoded size its compressor (blosc or zstd) declares, must fit the chunk's shape;
- at most ``storage_thumbnail_max_chunks`` chunks and ``storage_thumbnail_max_read_bytes``
  decoded bytes per thumbnail: a plane spread over more chunks is sampled from evenly spread
  chunks (same output size, nearest-pixel sampling within each); an image whose single chunk is
  larger than that gets no thumbnail;
- at most ``storage_thumbnail_concurrency`` thumbnails are made at once, one image only once
  at a time (viewers asking together wait for the same one), and the result — or that there is
  none — is kept in the datalayer under ``thumbnails/<image id>/``, which no grant reaches, and
  removed with the image.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from arkitekt.protocol.ngff import FORMAT_ARRAY
from arkitekt.protocol.thumbnail import THUMBNAIL_EDGE, to_png

from ..config import ServerConfig
from .datalayer import Datalayer, LocalDatalayer
from .models import Image
from .multiscales import verify_image
from .validation import (
    COMPRESSORS,
    InvalidUpload,
    StorageLimits,
    chunk_bytes,
)

logger = logging.getLogger("arkitekt.server.storage.thumbnails")

_SLACK = 64
"""Bytes a decoded chunk may exceed its shape by (a crc32c checksum inside the compressor)."""
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Unthumbnailable(Exception):
    """This image cannot be shown within the bounds; the message says why."""


class _NotNow(Exception):
    """Reading failed in a way that may not last: no thumbnail this time, nothing kept."""


# -- which pixels --------------------------------------------------------------------------------


def _strided(n: int) -> np.ndarray[Any, Any]:
    """The positions :func:`arkitekt.protocol.thumbnail.first_plane` shows along one axis."""
    return np.arange(0, n, max(1, -(-n // THUMBNAIL_EDGE)))


def _spread(n: int, edge: int, count: int, k: int) -> np.ndarray[Any, Any]:
    """``count`` ascending positions in ``[0, n)`` taken from ``k`` evenly spread chunks."""
    grid = -(-n // edge)
    positions: list[np.ndarray[Any, Any]] = []
    for j, share in enumerate(np.array_split(np.arange(count), k)):
        start = (j * grid // k) * edge
        extent = min(n, start + edge) - start
        m = len(share)
        positions.append(start + (np.arange(m) * extent) // max(m, 1))
    return np.concatenate(positions)


def plane_positions(
    shape: Sequence[int], chunks: Sequence[int], max_chunks: int
) -> list[np.ndarray[Any, Any]]:
    """Per plane axis (the last two, or one), the positions read: the strided ones when they
    touch at most ``max_chunks`` chunks, else as many positions from fewer chunks."""
    axes = list(range(max(0, len(shape) - 2), len(shape)))
    strided = [_strided(shape[a]) for a in axes]
    touched = [len(np.unique(p // chunks[a])) for p, a in zip(strided, axes, strict=True)]
    if math.prod(touched) <= max_chunks:
        return strided
    if len(axes) == 1:
        ks = [min(touched[0], max_chunks)]
    else:
        ky = min(touched[0], max_chunks, max(1, math.isqrt(max_chunks * touched[0] // touched[1])))
        ks = [ky, min(touched[1], max(1, max_chunks // ky))]
    return [
        _spread(shape[a], chunks[a], len(p), k) for a, p, k in zip(axes, strided, ks, strict=True)
    ]


# -- chunks checked before they are decoded ------------------------------------------------------


def zstd_content_size(data: bytes) -> int | None:
    """The decoded size a zstd frame declares in its header (None: not stated)."""
    if len(data) < 6 or data[:4] != _ZSTD_MAGIC:
        return None
    descriptor = data[4]
    single_segment = (descriptor >> 5) & 1
    position = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3]
    width = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    if width == 0 or len(data) < position + width:
        return None
    size = int.from_bytes(data[position : position + width], "little")
    return size + 256 if width == 2 else size


def blosc_content_size(data: bytes) -> int | None:
    """The decoded size a blosc (1.x) buffer declares in its header."""
    if len(data) < 16:
        return None
    return int(struct.unpack_from("<I", data, 4)[0])


class ChunkGuard:
    """What one stored chunk may be: its size stored, and decoded as its compressor declares."""

    def __init__(self, expected: int, compressor: str | None) -> None:
        self.expected = expected
        self.compressor = compressor
        self.max_stored = expected + expected // 16 + 4096

    def check(self, data: bytes) -> None:
        if self.compressor is None:
            declared: int | None = len(data)
        elif self.compressor == "blosc":
            declared = blosc_content_size(data)
        else:
            declared = zstd_content_size(data)
        if declared is None or declared > self.expected + _SLACK:
            raise Unthumbnailable(
                f"a chunk declares {declared} bytes decoded, its shape holds {self.expected}"
            )


class _GuardedStore(WrapperStore[Store]):
    """A read-only store whose chunks pass a :class:`ChunkGuard` before zarr decodes them."""

    def __init__(self, store: Store, guard: ChunkGuard) -> None:
        super().__init__(store)
        self._guard = guard

    def _with_store(self, store: Store) -> _GuardedStore:
        return _GuardedStore(store, self._guard)

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        if key.endswith("zarr.json"):
            return None  # metadata comes from the checked record, never from here
        try:
            size = await self._store.getsize(key)
        except FileNotFoundError:
            return None  # an unwritten chunk: the fill value
        if size > self._guard.max_stored:
            raise Unthumbnailable(f"a chunk is stored as {size} bytes, more than its shape holds")
        found = await self._store.get(key, prototype, byte_range)
        if found is not None:
            self._guard.check(found.to_bytes())
        return found


def _compressor(meta: dict[str, Any]) -> str | None:
    names = [str(c.get("name")) for c in meta.get("codecs") or []]
    found = [n for n in names if n in COMPRESSORS]
    return found[0] if found else None


# -- the thumbnails ------------------------------------------------------------------------------


def thumbnail_level(shapes: Sequence[Sequence[int]]) -> int:
    """The smallest level whose plane (its last two dims) still holds a thumbnail's pixels,
    else level 0 (the image is smaller than a thumbnail anyway)."""
    best = 0
    for k, shape in enumerate(shapes):
        if all(n >= THUMBNAIL_EDGE for n in shape[-2:]):
            best = k
    return best


def _store_of(datalayer: Datalayer, config: ServerConfig, image: Image, prefix: str) -> Store:
    """A read-only zarr store over one of the image's arrays (``prefix``), with the server's
    own access."""
    import zarr.storage

    if isinstance(datalayer, LocalDatalayer):
        if image.datalayer != datalayer.name:
            raise Unthumbnailable(f"the image is kept in the {image.datalayer} datalayer")
        return zarr.storage.LocalStore(datalayer.root / prefix, read_only=True)
    if image.datalayer != "s3" or datalayer.name != "s3":
        raise Unthumbnailable(f"the image is kept in the {image.datalayer} datalayer")
    from obstore.store import S3Store

    options: dict[str, Any] = {"region": config.s3_region, "prefix": prefix}
    if config.s3_endpoint_url:
        options["endpoint"] = config.s3_endpoint_url
    if config.s3_access_key_id:
        options["access_key_id"] = config.s3_access_key_id
    if config.s3_secret_access_key is not None:
        options["secret_access_key"] = config.s3_secret_access_key.get_secret_value()
    allow_http = (config.s3_endpoint_url or "").startswith("http://")
    store = S3Store(config.s3_bucket, client_options={"allow_http": allow_http}, **options)
    return zarr.storage.ObjectStore(store, read_only=True)


def cache_key(image_id: str) -> str:
    return f"thumbnails/{image_id}/{THUMBNAIL_EDGE}.png"


class Thumbnails:
    """Makes thumbnails within bounds, once per image, and keeps them in the datalayer."""

    def __init__(self, datalayer: Datalayer, config: ServerConfig) -> None:
        self.datalayer = datalayer
        self.config = config
        self.limits = StorageLimits.of(config)
        self.max_read_bytes = config.storage_thumbnail_max_read_bytes
        self.max_chunks = config.storage_thumbnail_max_chunks
        self.made = 0
        """How many thumbnails this process has made (not taken from the datalayer)."""
        self._turns = asyncio.Semaphore(max(1, config.storage_thumbnail_concurrency))
        self._making: dict[str, asyncio.Future[bytes | None]] = {}

    async def get(self, image: Image) -> bytes | None:
        """The image's thumbnail PNG, or None when it has none (unreadable, or too costly)."""
        # an S3 image is settled once the last write credentials have expired: keep only then
        keep = image.upload_deadline is None
        pending = self._making.get(image.id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._making[image.id] = future
        png: bytes | None = None
        try:
            kept = await self.datalayer.read(cache_key(image.id)) if keep else None
            if kept is not None:
                png = kept or None  # empty: kept as "no thumbnail"
                return png
            async with self._turns:
                png = await self.make(image)
            if keep:
                await self.datalayer.put(cache_key(image.id), png or b"")
        except _NotNow:
            pass  # not kept: the next view tries again
        finally:
            del self._making[image.id]
            future.set_result(png)  # waiters of a failed attempt see no thumbnail
        return png

    async def forget(self, image_id: str) -> None:
        """Remove a kept thumbnail (the image was deleted or changed)."""
        await self.datalayer.delete(f"thumbnails/{image_id}")

    async def make(self, image: Image) -> bytes | None:
        """Read the first plane within the bounds and encode it; None when that is impossible."""
        self.made += 1
        try:
            plane = await self._read_plane(image)
        except (Unthumbnailable, InvalidUpload) as e:
            logger.warning("no thumbnail for image %s: %s", image.id, e)
            return None
        except Exception as e:  # a chunk zarr cannot decode, or the store failed
            logger.warning("no thumbnail for image %s now: %s", image.id, e)
            raise _NotNow from e
        return await asyncio.to_thread(to_png, np.atleast_1d(plane))

    async def _read_plane(self, image: Image) -> np.ndarray[Any, Any]:
        from zarr.core.array import AsyncArray
        from zarr.core.metadata.v3 import ArrayV3Metadata
        from zarr.storage import StorePath

        verified = await verify_image(self.datalayer, image, self.limits)
        level = thumbnail_level([m["shape"] for m in verified.metas])
        meta = verified.metas[level]
        prefix = image.store if image.format == FORMAT_ARRAY else f"{image.store}/{level}"
        shape = [int(n) for n in meta["shape"]]
        chunks = [int(c) for c in meta["chunk_grid"]["configuration"]["chunk_shape"]]
        per_chunk = chunk_bytes(chunks, image.dtype)
        max_chunks = min(self.max_chunks, self.max_read_bytes // max(per_chunk, 1))
        if max_chunks < 1:
            raise Unthumbnailable(
                f"one chunk is {per_chunk} bytes decoded, more than a thumbnail may read"
            )
        guard = ChunkGuard(per_chunk, _compressor(meta))
        store = _GuardedStore(_store_of(self.datalayer, self.config, image, prefix), guard)
        array = AsyncArray(
            metadata=ArrayV3Metadata.from_dict(json.loads(json.dumps(meta))),
            store_path=StorePath(store),
        )
        positions = plane_positions(shape, chunks, max_chunks)
        lead: tuple[int, ...] = (0,) * (len(shape) - len(positions))
        plane_axes = range(len(lead), len(shape))
        out = np.zeros([len(p) for p in positions], dtype=np.dtype(image.dtype))
        # one chunk at a time: zarr decodes only the chunk a selection lies in
        groups = [_by_chunk(p, chunks[a]) for p, a in zip(positions, plane_axes, strict=True)]
        for parts in itertools.product(*groups):
            wanted = tuple(np.asarray(source) for source, _ in parts)
            unique = [np.unique(w, return_inverse=True) for w in wanted]
            block = np.asarray(
                await array.get_orthogonal_selection((*lead, *(u for u, _ in unique)))
            )
            block = block[np.ix_(*(inverse for _, inverse in unique))]
            out[np.ix_(*(np.asarray(slots) for _, slots in parts))] = block
        return out


def _by_chunk(positions: np.ndarray[Any, Any], edge: int) -> list[tuple[list[int], list[int]]]:
    """Positions grouped by chunk: ``(positions, their slots in the output)`` per chunk."""
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for slot, position in enumerate(positions.tolist()):
        source, slots = groups.setdefault(position // edge, ([], []))
        source.append(position)
        slots.append(slot)
    return list(groups.values())
