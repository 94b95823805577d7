"""New arrays written chunk by chunk: each chunk encoded on the thread that made it, then stored.

Uploads write new arrays whole, one chunk-aligned region at a time, so they need none of the
generality of zarr's ``setitem`` (reading partial chunks back, merging, selections). Through it,
a chunk's values stay alive until the store has the chunk, and each chunk passes through two
more worker threads (encode, then store); every thread's allocator arena then keeps chunk-sized
blocks, and a 4 MiB-chunk upload held three to four times the data in flight.

Here a chunk is computed, checked for blankness and encoded in one worker thread, its values are
dropped, and only the encoded bytes wait for the store. The bytes are zarr's own: the array's
codecs are read from its metadata (the ``bytes`` serializer, then Blosc as
:func:`~.arrays.compressors` configured it), and a test compares them with what zarr writes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from ...errors import TransferError
from .arrays import WRITE_CONCURRENCY, ArraySource, bounded, brief, chunk_regions, materialise

R = TypeVar("R")

_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def is_blank(block: np.ndarray[Any, Any]) -> bool:
    """Whether every byte of a contiguous chunk is zero: such a chunk is not written and reads
    back as the fill value, 0. (A byte scan: ``-0.0`` is kept.)"""
    return not block.view(np.uint8).any()


class ChunkWriter:
    """Encodes and stores whole chunks of one zarr ``AsyncArray`` created with our codecs
    (fill value 0)."""

    def __init__(self, target: Any) -> None:
        from numcodecs import Blosc

        self.target = target
        metadata = target.metadata
        self.chunks: tuple[int, ...] = tuple(metadata.chunk_grid.chunk_shape)
        self.dtype = np.dtype(metadata.data_type.to_native_dtype())
        serializer, *compressors = [codec.to_dict() for codec in metadata.codecs]
        endian = serializer.get("configuration", {}).get("endian", "little")
        if (
            serializer["name"] != "bytes"
            or endian != "little"
            or [c["name"] for c in compressors] != ["blosc"]
            or metadata.fill_value != 0
        ):  # an invariant of ours: arrays are created by the storage service
            raise TypeError(
                "ChunkWriter writes bytes + blosc arrays filled with 0, not "
                f"{metadata.codecs} filled with {metadata.fill_value!r}"
            )
        config = compressors[0]["configuration"]
        self._blosc = Blosc(
            cname=config["cname"],
            clevel=config["clevel"],
            shuffle=_SHUFFLE[config["shuffle"]],
            blocksize=config["blocksize"],
            typesize=config["typesize"],
        )

    def encode(self, block: np.ndarray[Any, Any]) -> bytes | None:
        """The stored bytes of a chunk's values (contiguous, of this array's dtype), or None
        when it is blank. An edge chunk is padded with the fill value to the full chunk shape,
        as zarr stores it. Meant for a worker thread."""
        if is_blank(block):
            return None
        if block.shape != self.chunks:
            full = np.zeros(self.chunks, dtype=self.dtype)
            full[tuple(slice(0, n) for n in block.shape)] = block
            block = full
        encoded: bytes = self._blosc.encode(block.reshape(-1).view(np.uint8))
        return encoded

    async def put(self, region: tuple[slice, ...], encoded: bytes) -> None:
        """Store the encoded chunk whose region (chunk-aligned) is ``region``."""
        from zarr.core.buffer import default_buffer_prototype

        coords = tuple(r.start // c for r, c in zip(region, self.chunks, strict=True))
        key = self.target.metadata.encode_chunk_key(coords)
        try:
            await (self.target.store_path / key).set(
                default_buffer_prototype().buffer.from_bytes(encoded)
            )
        except Exception as e:
            raise TransferError(f"writing a chunk failed ({brief(e)})") from e


async def awrite(
    target: Any,
    source: ArraySource,
    *,
    on_chunk: Callable[[int], None] | None = None,
    concurrency: int = WRITE_CONCURRENCY,
) -> None:
    """Write ``source`` into the new zarr ``AsyncArray`` ``target``, chunk by chunk.

    At most ``concurrency`` chunks are in flight, and at most one per core is being computed
    and encoded (on :class:`ChunkThreads`; a dask chunk just before it is written): the others
    wait for the store as encoded bytes. ``on_chunk`` gets the bytes of each chunk written.
    """
    data = source.data
    writer = ChunkWriter(target)

    def prepare(region: tuple[slice, ...]) -> tuple[bytes | None, int]:
        block = materialise(data[region])
        return writer.encode(block), block.nbytes

    async def write(region: tuple[slice, ...]) -> None:
        encoded, nbytes = await threads.run(prepare, region)
        if encoded is not None:
            await writer.put(region, encoded)
        if on_chunk is not None:
            on_chunk(nbytes)

    with ChunkThreads(concurrency) as threads:
        await bounded(chunk_regions(source.shape, source.chunks), write, concurrency)


class ChunkThreads:
    """The threads that compute and encode an upload's chunks: one per core (at most
    ``concurrency``), made for this upload and gone with it (``with ChunkThreads(n) as t``).

    Raw chunk values exist only in these threads. Keeping them few and dedicated bounds memory:
    the C allocator gives every thread an arena of its own that keeps freed chunk-sized blocks
    for reuse, so chunks computed on any of the loop's many default threads were held once per
    thread (a 4 MiB-chunk dask upload measured three times the client memory).
    """

    def __init__(self, concurrency: int) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(concurrency, os.cpu_count() or 2)),
            thread_name_prefix="arkitekt-chunks",
        )

    def __enter__(self) -> ChunkThreads:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        # after an error the busy threads end with their current chunk, on their own
        self._pool.shutdown(wait=kind is None, cancel_futures=True)

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        """``fn(*args)`` on one of these threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
