"""A file's bytes between this process and the datalayer, streamed in blocks.

What a file upload reads from (a path or a binary file object, spooled when it cannot seek, so
its size is known up front), how the bytes are written with a grant (HTTP PUT to the local
datalayer, obstore for S3 and the in-process folder), how they are read back, and how a download
lands on disk all at once (a partial file is never left at the target).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ...errors import LocalFileExistsError, LocalFileNotFoundError, UsageError
from . import api
from .stores import object_store

BLOCK = 8 << 20
"""Bytes read or written at a time."""


@dataclass
class Source:
    stream: IO[bytes]
    name: str
    size: int


async def open_source(
    source: str | os.PathLike[str] | IO[bytes], name: str | None, stack: contextlib.ExitStack
) -> Source:
    """The stream, name and size of what ``from_file`` was given (closed with ``stack``)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise LocalFileNotFoundError(f"from_file: {str(path)!r} is not a file")
        stream: IO[bytes] = stack.enter_context(open(path, "rb"))  # noqa: SIM115 - the stack closes
        name = name or path.name
    elif hasattr(source, "read"):
        stream = source
        name = name or os.path.basename(str(getattr(source, "name", ""))) or "file"
    else:
        raise UsageError(
            f"source must be a path or a binary file object, not {type(source).__name__}"
        )
    if not stream.seekable():  # the size must be known up front: spool it first
        spool = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - the stack closes
        await asyncio.to_thread(shutil.copyfileobj, stream, spool, BLOCK)
        spool.seek(0)
        stream = spool
    start = stream.tell()
    size = stream.seek(0, os.SEEK_END) - start
    stream.seek(start)
    return Source(stream, name, size)


async def put(
    grant: api.Grant,
    source: Source,
    seen: Callable[[int], object],
    *,
    folder: Path | None = None,
    proxy: str | None = None,
) -> None:
    """Write the source's bytes as the object ``data`` under the grant's prefix (``folder``:
    the prefix's folder, when the server runs in this process)."""

    async def blocks() -> AsyncIterator[bytes]:
        while True:
            block = await asyncio.to_thread(source.stream.read, BLOCK)
            if not block:
                return
            seen(len(block))
            yield block

    if grant.kind == "http" and folder is None:
        import httpx

        assert grant.url is not None
        timeout = httpx.Timeout(120, connect=10)
        async with httpx.AsyncClient(timeout=timeout, proxy=proxy) as http:
            response = await http.put(
                grant.url.rstrip("/") + "/data",
                content=blocks(),
                headers={
                    "authorization": f"Bearer {grant.token}",
                    "content-length": str(source.size),
                },
            )
            response.raise_for_status()
        return
    import obstore

    store = object_store(grant, folder=folder, proxy=proxy)
    await obstore.put_async(store, "data", blocks(), chunk_size=BLOCK)


async def get(
    grant: api.Grant,
    sink: IO[bytes],
    seen: Callable[[int], object],
    *,
    folder: Path | None = None,
    proxy: str | None = None,
) -> None:
    """Read the object ``data`` under the grant's prefix into ``sink``."""
    import obstore

    result = await obstore.get_async(object_store(grant, folder=folder, proxy=proxy), "data")
    async for block in result.stream(min_chunk_size=BLOCK):
        data = bytes(block)
        await asyncio.to_thread(sink.write, data)
        seen(len(data))


async def write_atomically(
    target: Path, fill: Callable[[IO[bytes]], Awaitable[None]], *, overwrite: bool
) -> Path:
    """Fill a temporary file next to ``target``, then move it into place (nothing is left at
    ``target`` when ``fill`` fails); refuses an existing target unless ``overwrite``."""
    if target.exists() and not overwrite:
        raise LocalFileExistsError(f"{str(target)!r} exists; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as sink:
            await fill(sink)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return target
