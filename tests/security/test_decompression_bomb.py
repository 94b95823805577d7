"""Issue 11, finding 5: an image cannot make the server (the dashboard's thumbnails) decompress
without bound.

The finding: a 40000 x 40000 image stored as one chunk of ones is 49 KB on disk, and its
thumbnail made the server allocate 1.5 GB. Now chunk sizes are bounded when an upload is
announced and again at finish; a thumbnail reads at most a bounded number of chunks, one at a
time, each checked before it is decoded; it is made once and kept. Memory is measured on a real
``arkitekt server`` process (its peak resident size, reset before each thumbnail).
"""

from __future__ import annotations

import asyncio

import dask.array as da
import httpx
import numcodecs
import numpy as np
import pytest
from servers import Servers, TestServer
from storage_helpers import (
    finish_image,
    gql,
    peak_rss,
    peak_rss_reset,
    put,
    request_image_upload,
    token_of,
    zarr_objects,
)
from test_dashboard import png_size, web_login

from arkitekt import InvalidDataError, from_xarray, images

MEMORY_BOUND = 48 << 20
"""What one thumbnail may add to the server's peak resident size here (chunks are 1 MiB)."""


def thumbnail_with_peak(server: TestServer, user: str, image_id: str) -> tuple[httpx.Response, int]:
    """The thumbnail as the user's dashboard asks for it, and by how much it raised the
    server's peak resident size."""
    assert server.process is not None
    pid = server.process.pid

    async def fetch() -> tuple[httpx.Response, int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await web_login(client, user)
            peak_rss_reset(pid)  # the peak is now the current size
            before = peak_rss(pid)
            answer = await client.get(f"/dashboard/images/{image_id}/thumbnail.png")
            return answer, peak_rss(pid) - before

    return asyncio.run(fetch())


def test_one_huge_chunk_is_refused_when_announced(standalone: TestServer) -> None:
    """The finding's image: 40000 x 40000 in one chunk (1.6 GB decoded) is refused before a
    byte is written; the same image in ordinary chunks is accepted."""
    with standalone.app("alice", "bomb") as app:
        ones = da.ones((40000, 40000), dtype="uint8", chunks=(40000, 40000))
        with pytest.raises(InvalidDataError, match="chunks") as refused:
            from_xarray(ones, "bomb", dims=["y", "x"], chunks=(40000, 40000), app=app)
        assert "at most 128.0 MiB" in str(refused.value)
        assert images(name="bomb", app=app) == []
    token = token_of(standalone, "alice")
    fine = request_image_upload(standalone, token, [40000, 40000], [2048, 2048])
    assert "errors" not in fine, fine
    upload_id = fine["data"]["requestImageUpload"]["id"]
    gql(standalone, token, "mutation($id: ID!) { abortUpload(id: $id) }", {"id": upload_id})
    # the total size is bounded too (64 TiB by default)
    assert "errors" in request_image_upload(standalone, token, [2**31 - 1, 2**31 - 1], [1, 1])


def test_a_written_array_is_checked_against_the_limits_at_finish(standalone: TestServer) -> None:
    """A client may announce one thing and write another: a compressor that does not state its
    decoded size (gzip) is refused at finish, and the upload is discarded."""
    token = token_of(standalone, "alice")
    upload = request_image_upload(standalone, token, [256, 256], [128, 128])["data"]
    upload = upload["requestImageUpload"]
    objects = zarr_objects(np.ones((256, 256), "uint8"), (128, 128), codecs="gzip")
    for key, data in objects.items():
        assert put(upload["grant"], key, data).status_code == 201
    answer = finish_image(standalone, token, upload["id"])
    assert answer["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "gzip" in answer["errors"][0]["message"]
    assert standalone.stored_keys(upload["grant"]["prefix"]) == []


def test_a_bomb_chunk_gets_no_thumbnail_and_costs_no_memory(standalone: TestServer) -> None:
    """A chunk that decodes to far more than its shape holds (128 MiB of ones in blosc, in a
    4096 x 4096 image of 1 MiB chunks) is refused before it is decoded."""
    token = token_of(standalone, "alice")
    upload = request_image_upload(standalone, token, [4096, 4096], [1024, 1024])["data"]
    upload = upload["requestImageUpload"]
    objects = zarr_objects(np.zeros((4096, 4096), "uint8"), (1024, 1024))
    blosc = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    bomb = blosc.encode(np.ones(128 << 20, dtype="uint8"))
    assert len(bomb) < 1 << 20  # small on disk
    objects["c/0/0"] = bomb
    for key, data in objects.items():
        assert put(upload["grant"], key, data).status_code == 201
    image = finish_image(standalone, token, upload["id"])["data"]["finishImageUpload"]
    answer, growth = thumbnail_with_peak(standalone, "alice", image["id"])
    assert growth < MEMORY_BOUND, f"the server's peak grew by {growth / (1 << 20):.0f} MiB"
    assert answer.status_code == 404, answer.text


def test_a_large_image_gets_its_thumbnail_within_a_memory_bound(standalone: TestServer) -> None:
    """16384 x 16384 (256 MiB decoded, 256 chunks): a 128 x 128 thumbnail, while the server's
    peak grows by far less than the image; made once, kept for every viewer."""
    with standalone.app("alice", "large"):
        rows = (da.arange(16384, chunks=1024) % 256).astype("uint8")[:, None]
        ramp = da.broadcast_to(rows, (16384, 16384), chunks=(1024, 1024))
        img = from_xarray(ramp, "large", dims=["y", "x"], chunks=(1024, 1024))
        assert img.share(users=["bob"]) == ["bob"]
    answer, growth = thumbnail_with_peak(standalone, "alice", img.id)
    assert answer.status_code == 200, answer.text
    assert png_size(answer.content) == (128, 128)
    assert growth < MEMORY_BOUND, f"the server's peak grew by {growth / (1 << 20):.0f} MiB"
    assert standalone.stored_keys(f"thumbnails/{img.id}")  # kept, where no grant reaches
    again, growth = thumbnail_with_peak(standalone, "bob", img.id)
    assert again.status_code == 200 and again.content == answer.content
    assert growth < 8 << 20  # taken from where it was kept, nothing decoded


def test_viewers_asking_together_make_one_thumbnail(servers: Servers) -> None:
    server = servers.in_process(users=("alice", "bob"))
    with server.app("alice", "shared"):
        img = from_xarray(np.arange(300 * 400).reshape(300, 400), "shared", dims=["y", "x"])
        img.share(everyone=True)

    async def view() -> list[bytes]:
        clients = [httpx.AsyncClient(base_url=server.url, timeout=60) for _ in range(6)]
        try:
            await web_login(clients[0], "alice")
            await web_login(clients[1], "bob")
            for n, client in enumerate(clients[2:]):
                client.cookies = clients[n % 2].cookies
            path = f"/dashboard/images/{img.id}/thumbnail.png"
            answers = await asyncio.gather(*(client.get(path) for client in clients))
        finally:
            for client in clients:
                await client.aclose()
        assert all(a.status_code == 200 for a in answers)
        return [a.content for a in answers]

    assert len(set(asyncio.run(view()))) == 1
    assert len(set(asyncio.run(view()))) == 1
    assert server.state.storage.thumbnails.made == 1


@pytest.mark.parametrize(
    ("shape", "chunks", "max_chunks"),
    [
        ((100_000, 100_000), (1000, 1000), 64),
        ((3, 50_000, 7), (1, 10, 7), 16),
        ((1_000_000,), (100,), 10),
        ((500, 400), (64, 64), 256),
    ],
)
def test_a_thumbnail_reads_a_bounded_number_of_chunks(
    shape: tuple[int, ...], chunks: tuple[int, ...], max_chunks: int
) -> None:
    from arkitekt.server.storage.thumbnails import plane_positions

    positions = plane_positions(shape, chunks, max_chunks)
    plane_shape, plane_chunks = shape[-len(positions) :], chunks[-len(positions) :]
    touched = 1
    for p, n, c in zip(positions, plane_shape, plane_chunks, strict=True):
        assert len(p) == len(range(0, n, -(-n // 128)))  # the size the dashboard announces
        assert np.all(np.diff(p) >= 0) and p[0] >= 0 and p[-1] < n
        touched *= len(np.unique(p // c))
    assert touched <= max_chunks
