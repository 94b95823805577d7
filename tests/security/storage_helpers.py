"""What the storage security tests share: GraphQL as a client speaks it, and zarr objects made
the way the SDK writes them, so a test can write (or forge) exactly the bytes it wants."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from servers import TestServer

IMAGE_FIELDS = "id sizeBytes"
GRANT_FIELDS = "kind prefix url token path bucket endpoint accessKeyId secretAccessKey sessionToken"


def token_of(server: TestServer, user: str) -> str:
    """An access token of ``user`` (logged in through the real SDK)."""
    with server.app(user, f"{user}-storage-security") as app:
        return str(app.fakts.client.loaded_token)


def gql(
    server: TestServer, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """POST to ``/mikro/graphql``; the whole answer (``data`` and ``errors``)."""
    answer = httpx.post(
        f"{server.url}/mikro/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def request_image_upload(
    server: TestServer,
    token: str,
    shape: list[int],
    chunks: list[int],
    dtype: str = "uint8",
    name: str = "forged",
    **fields: Any,
) -> dict[str, Any]:
    """``requestImageUpload`` of a (y, x) image (the answer has ``errors`` when refused);
    ``fields``: more of ``ImageUploadInput`` (``format``, ``levels``)."""
    return gql(
        server,
        token,
        f"""mutation($input: ImageUploadInput!) {{
            requestImageUpload(input: $input) {{ id grant {{ {GRANT_FIELDS} }} }}
        }}""",
        {
            "input": {
                "name": name,
                "shape": shape,
                "dims": ["y", "x"],
                "dtype": dtype,
                "chunks": chunks,
                **fields,
            }
        },
    )


def finish_image(server: TestServer, token: str, upload_id: str) -> dict[str, Any]:
    return gql(
        server,
        token,
        f"mutation($id: ID!) {{ finishImageUpload(id: $id) {{ {IMAGE_FIELDS} }} }}",
        {"id": upload_id},
    )


def zarr_objects(
    values: np.ndarray[Any, Any], chunks: tuple[int, ...], codecs: str = "blosc"
) -> dict[str, bytes]:
    """The objects of a zarr v3 array of ``values`` with dims (y, x): ``zarr.json`` and chunks.

    ``codecs``: ``blosc`` (what the SDK writes) or ``gzip`` (a compressor that does not state
    its decoded size)."""
    import zarr
    import zarr.api.asynchronous as zarr_async
    from zarr.codecs import GzipCodec

    from arkitekt.services.storage.arrays import compressors

    found: dict[str, Any] = {}

    async def write() -> None:
        store = zarr.storage.MemoryStore(found)
        array = await zarr_async.create_array(
            store=store,
            shape=values.shape,
            dtype=values.dtype,
            chunks=chunks,
            dimension_names=["y", "x"],
            compressors=[GzipCodec()] if codecs == "gzip" else compressors(),
        )
        await array.setitem(..., values)

    asyncio.run(write())
    return {key: value.to_bytes() for key, value in found.items()}


def put(grant: dict[str, Any], key: str, data: bytes) -> httpx.Response:
    """PUT one object with a local-datalayer grant."""
    return httpx.put(
        f"{grant['url'].rstrip('/')}/{key}",
        content=data,
        headers={"authorization": f"Bearer {grant['token']}"},
        timeout=60,
    )


def peak_rss_reset(pid: int) -> None:
    """Reset the peak resident size of a process (Linux: ``/proc/<pid>/clear_refs``)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss(pid: int) -> int:
    """The peak resident size of a process in bytes (``VmHWM``), a real measurement."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid} ({os.uname().sysname})")
