"""The upload's chunk writer stores exactly the bytes zarr would, and skips only blank chunks.

These compare with zarr itself (no server): the writer bypasses zarr's ``setitem`` for speed and
memory, so its output must stay byte-for-byte what zarr writes for the same array.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.api.asynchronous as zarr_async
from zarr.storage import MemoryStore

from arkitekt.services.storage.arrays import ArraySource, chunk_regions, compressors
from arkitekt.services.storage.chunk_writer import ChunkWriter, awrite


async def _array(dtype: str, shape: tuple[int, ...], chunks: tuple[int, ...], level: int) -> Any:
    return await zarr_async.create_array(
        store=MemoryStore(),
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        compressors=compressors(level),
        fill_value=0,
    )


@pytest.mark.parametrize("level", [0, 1], ids=["zstd", "lz4"])
@pytest.mark.parametrize("dtype", ["float32", "uint16", "int8", "bool", "complex64", "float64"])
def test_chunks_are_byte_for_byte_what_zarr_writes(dtype: str, level: int) -> None:
    shape, chunks = (3, 50, 45), (2, 32, 32)  # edge chunks on every axis
    values = (np.random.default_rng(7).random(shape) * 100).astype(dtype)

    async def both() -> tuple[dict[str, bytes], dict[str, bytes]]:
        ours, theirs = (
            await _array(dtype, shape, chunks, level),
            await _array(dtype, shape, chunks, level),
        )
        await awrite(ours, ArraySource(values, ("z", "y", "x"), chunks))
        await theirs.setitem(..., values)
        return await _objects(ours), await _objects(theirs)

    ours, theirs = asyncio.run(both())
    assert ours.keys() == theirs.keys()
    assert len(ours) == 2 * 2 * 2 + 1  # every chunk, and the metadata
    for key in ours:
        assert ours[key] == theirs[key], key


async def _objects(array: Any) -> dict[str, bytes]:
    store = array.store_path.store
    found = {}
    async for key in store.list():
        buffer = await store.get(key, prototype=zarr.core.buffer.default_buffer_prototype())
        found[key] = buffer.to_bytes()
    return found


def test_blank_chunks_are_skipped_and_read_back_as_zero_but_negative_zero_is_kept() -> None:
    values = np.zeros((4, 4), dtype="float32")
    values[2:, :2] = 1.5
    values[:2, 2:] = -0.0  # the same value as 0.0, but other bytes: not blank

    async def write() -> tuple[Any, dict[str, bytes]]:
        target = await _array("float32", (4, 4), (2, 2), 0)
        await awrite(target, ArraySource(values, ("y", "x"), (2, 2)))
        return target, await _objects(target)

    target, objects = asyncio.run(write())
    assert sorted(k for k in objects if k != "zarr.json") == ["c/0/1", "c/1/0"]
    read = zarr.Array(target)[...]
    np.testing.assert_array_equal(read, values)
    assert np.signbit(read[:2, 2:]).all()


def test_a_dask_chunk_is_computed_and_encoded_on_the_uploads_own_threads() -> None:
    import dask.array as da

    seen: set[str] = set()

    def block(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if x.size:  # dask calls it with an empty array first, to learn the output's type
            seen.add(threading.current_thread().name)
        return x + 1

    lazy = da.zeros((8, 8), chunks=(2, 8), dtype="uint8").map_blocks(block, dtype="uint8")

    async def write() -> Any:
        target = await _array("uint8", (8, 8), (2, 8), 0)
        await awrite(target, ArraySource(lazy, ("y", "x"), (2, 8)))
        return target

    target = asyncio.run(write())
    np.testing.assert_array_equal(zarr.Array(target)[...], np.ones((8, 8), "uint8"))
    assert seen and all(name.startswith("arkitekt-chunks") for name in seen), seen
    assert not [t for t in threading.enumerate() if t.name.startswith("arkitekt-chunks")]


def test_the_writer_refuses_arrays_with_other_codecs_or_fill_values() -> None:
    from zarr.codecs import GzipCodec

    async def make(codecs: list[Any], fill_value: int) -> Any:
        return await zarr_async.create_array(
            store=MemoryStore(),
            shape=(4,),
            dtype="uint8",
            chunks=(2,),
            compressors=codecs,
            fill_value=fill_value,
        )

    for codecs, fill_value in (([GzipCodec()], 0), (compressors(0), 1)):
        with pytest.raises(TypeError, match="bytes \\+ blosc arrays filled with 0"):
            ChunkWriter(asyncio.run(make(codecs, fill_value)))
    ChunkWriter(asyncio.run(make(compressors(0), 0)))


def test_chunk_regions_cover_the_array_once() -> None:
    regions = list(chunk_regions((5, 3), (2, 2)))
    covered = np.zeros((5, 3), dtype=int)
    for region in regions:
        covered[region] += 1
    assert (covered == 1).all()
