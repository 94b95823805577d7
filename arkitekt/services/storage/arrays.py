"""Arrays into zarr: what users hand to ``from_xarray``, checked and chunked.

Written as zarr v3 with dimension names, Blosc compression (byte shuffle) and chunks made for
images: whole planes of the last two dimensions (up to 1024 x 1024), one step of every other
dimension, grown along the outer dimensions while a chunk is under 1 MiB. Writing them, a few
chunks at a time, is :mod:`.chunk_writer`'s job.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ...errors import InvalidDataError, UsageError

PLANE_EDGE = 1024
MIN_CHUNK_BYTES = 1 << 20
WRITE_CONCURRENCY = 4
"""Chunks in flight during an upload: one per core being computed and encoded, the rest
waiting for the store as encoded bytes. Four keep two cores and a loopback or LAN store busy
(eight measured no faster) and the client's memory near 40 MiB for 4 MiB chunks."""
T = TypeVar("T")
_DIM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ArraySource:
    """A checked array to store: its data (numpy or dask), dimension names and chunks."""

    data: Any
    dims: tuple[str, ...]
    chunks: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.data.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = np.dtype(self.data.dtype)
        return dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def transposed(self, dims: Sequence[str], *, chunks_given: bool) -> ArraySource:
        """The same array with its dims in the order ``dims`` (lazily: a numpy view, or a dask
        graph). Chunks given by the user move with their dims; default chunks are made for the
        new order (planes of its last two dims)."""
        order = tuple(self.dims.index(d) for d in dims)
        if order == tuple(range(len(order))):
            return self
        data = self.data.transpose(order)
        shape = tuple(int(n) for n in data.shape)
        chunks = (
            tuple(self.chunks[i] for i in order)
            if chunks_given
            else default_chunks(shape, self.dtype.itemsize)
        )
        return ArraySource(data, tuple(dims), chunks)


def default_chunks(shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
    """Whole planes (up to 1024 x 1024) of the last two dims, grown outwards to >= 1 MiB."""
    chunks = [1] * len(shape)
    for axis in range(max(0, len(shape) - 2), len(shape)):
        chunks[axis] = max(1, min(shape[axis], PLANE_EDGE))
    for axis in reversed(range(max(0, len(shape) - 2))):
        size = math.prod(chunks) * itemsize
        if size >= MIN_CHUNK_BYTES:
            break
        wanted = math.ceil(MIN_CHUNK_BYTES / size)
        chunks[axis] = max(1, min(shape[axis], wanted))
    return tuple(chunks)


DASK_CHUNK_BYTES = 64 << 20


def dask_chunks(shape: Sequence[int], chunks: Sequence[int], itemsize: int) -> tuple[int, ...]:
    """Dask chunks for reading a zarr array: whole zarr chunks, grouped along the outer dims up
    to ~64 MiB, so that zarr fetches the chunks of one dask task concurrently. Slicing still
    reads only the zarr chunks a selection touches (dask pushes the slice into the read)."""
    grouped = list(chunks)
    for axis in range(len(shape)):
        size = math.prod(grouped) * itemsize
        if size >= DASK_CHUNK_BYTES:
            break
        factor = max(1, DASK_CHUNK_BYTES // size)
        grouped[axis] = min(shape[axis], grouped[axis] * factor) or 1
    return tuple(grouped)


def _is_dask(value: Any) -> bool:
    return type(value).__module__.startswith("dask.")


def as_source(
    array: Any, dims: Sequence[str] | None, chunks: Sequence[int] | dict[str, int] | None
) -> ArraySource:
    """Check what was given to ``from_xarray`` and settle dims and chunks."""
    import xarray as xr

    if isinstance(array, xr.DataArray):
        named = tuple(str(d) for d in array.dims)
        if dims is not None and tuple(dims) != named:
            raise InvalidDataError(
                f"dims={list(dims)} disagrees with the DataArray's dims {list(named)}; "
                "rename the DataArray's dims instead (array.rename(...))"
            )
        data, dims = array.data, named
    elif isinstance(array, np.ndarray) or _is_dask(array):
        if dims is None:
            raise InvalidDataError(
                f"dims= is required for a {type(array).__name__} with {array.ndim} dimensions, "
                f"e.g. dims={['c', 'z', 'y', 'x'][-array.ndim :] if array.ndim <= 4 else '...'} "
                "(or pass an xarray.DataArray)"
            )
        data = array
    else:
        raise UsageError(
            f"array must be an xarray.DataArray, a numpy array or a dask array, "
            f"not {type(array).__name__}"
        )
    dims = tuple(dims)
    if data.ndim == 0:
        raise InvalidDataError("array must have at least one dimension")
    if len(dims) != data.ndim:
        raise InvalidDataError(
            f"dims={list(dims)} must name each of the array's {data.ndim} dimensions"
        )
    if len(set(dims)) != len(dims) or not all(isinstance(d, str) and _DIM.match(d) for d in dims):
        raise InvalidDataError(
            f"dims={list(dims)} must be distinct identifiers (letters, digits, '_'), "
            "e.g. ['c', 'z', 'y', 'x']"
        )
    dtype = np.dtype(data.dtype)
    if dtype.kind not in "biufc" or dtype.byteorder == ">":
        raise UsageError(
            f"array has dtype {dtype}; images must be bool, integer, float or complex "
            "(little-endian)"
        )
    shape = tuple(int(n) for n in data.shape)
    return ArraySource(data, dims, _settle_chunks(chunks, shape, dims, dtype.itemsize))


def _settle_chunks(
    chunks: Sequence[int] | dict[str, int] | None,
    shape: tuple[int, ...],
    dims: tuple[str, ...],
    itemsize: int,
) -> tuple[int, ...]:
    if chunks is None:
        return default_chunks(shape, itemsize)
    if isinstance(chunks, dict):
        unknown = sorted(set(chunks) - set(dims))
        if unknown:
            raise InvalidDataError(
                f"chunks= names dims {unknown} that the array does not have {dims}"
            )
        base = default_chunks(shape, itemsize)
        settled = tuple(chunks.get(d, c) for d, c in zip(dims, base, strict=True))
    else:
        settled = tuple(chunks)
    if len(settled) != len(shape) or not all(isinstance(c, int) and c >= 1 for c in settled):
        raise InvalidDataError(
            f"chunks={chunks!r} must give one positive size per dimension {dims} "
            "(a tuple, or a dict by dim name)"
        )
    return tuple(min(c, max(n, 1)) for c, n in zip(settled, shape, strict=True))


def brief(error: BaseException) -> str:
    """An error's type and first line (obstore appends a long debug dump)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def compressors(level: int = 0) -> list[Any]:
    """The compressor of a pyramid level: Blosc-zstd 3 for level 0, Blosc-lz4 for the levels
    made from it. Those are written on top of level 0 while uploading and read for browsing:
    lz4 compresses them about three times faster than zstd, for output 3-7% larger (1-2% of
    the whole pyramid)."""
    from zarr.codecs import BloscCodec

    if level == 0:
        return [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")]
    return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]


def chunk_regions(shape: Sequence[int], chunks: Sequence[int]) -> Iterator[tuple[slice, ...]]:
    """Every chunk's region, in C order."""
    ranges = [range(0, n, c) for n, c in zip(shape, chunks, strict=True)]
    for starts in itertools.product(*ranges):
        yield tuple(slice(s, min(s + c, n)) for s, c, n in zip(starts, chunks, shape, strict=True))


def materialise(block: Any) -> np.ndarray[Any, Any]:
    """A chunk's values as a contiguous numpy array (a dask block computed: the user's
    computation, whose errors go up unchanged). Run in a worker thread: the copy of a strided
    numpy view and the computation of a dask block both take milliseconds."""
    if _is_dask(block):
        block = block.compute(scheduler="synchronous")
    return np.ascontiguousarray(block)


async def bounded(items: Iterator[T], work: Callable[[T], Awaitable[None]], limit: int) -> None:
    """Run ``work`` over ``items`` with at most ``limit`` at once; the first error cancels."""
    try:
        async with asyncio.TaskGroup() as group:
            slots = asyncio.Semaphore(limit)

            async def run(item: T) -> None:
                try:
                    await work(item)
                finally:
                    slots.release()

            for item in items:
                await slots.acquire()
                group.create_task(run(item))
    except ExceptionGroup as failed:  # the first error is the story; the rest were cancelled
        raise failed.exceptions[0] from None
