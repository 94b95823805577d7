"""Datalayers: where the bytes of images and files live, and how clients are let at them.

The server never moves data itself. For an upload or a read it hands the client a
:class:`Grant`: what the client needs to reach one key prefix directly, for a short time. The
server only reads small objects (``zarr.json``) to verify an upload, sums sizes, and deletes.

- :class:`LocalDatalayer` (the default): a folder in the server's data dir, served over HTTP by
  :mod:`.local_routes` to holders of a signed grant. Grants never carry a filesystem path: an
  app whose server runs in its own process finds the folder through that server.
- :class:`~.s3.S3Datalayer`: any S3-compatible store; grants are temporary credentials whose
  session policy allows only the prefix.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .grants import GrantSigner

MAX_METADATA_BYTES = 1 << 20


def partial_name(name: str) -> str:
    """Where an object named ``name`` is written before it is renamed into place."""
    return f".{name}.{uuid.uuid4().hex}.part"


def is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(".part")


@dataclass(frozen=True)
class Grant:
    """Access to one key prefix of a datalayer, until ``expires_at`` (epoch seconds)."""

    kind: str
    """``http`` (the local datalayer over HTTP) or ``s3``."""
    prefix: str
    write: bool
    expires_at: float
    url: str | None = None
    """``http``: the base URL of the prefix; object keys are appended to it."""
    token: str | None = None
    """``http``: the bearer token to send."""
    bucket: str | None = None
    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


class Datalayer(Protocol):
    """What the server needs of a place to keep bytes."""

    name: str

    async def grant(self, prefix: str, *, write: bool, subject: str, base_url: str) -> Grant:
        """Let one client read (or write) ``prefix`` for a while."""
        ...

    async def put(self, key: str, data: bytes) -> None:
        """Store a small object of the server's own (e.g. a thumbnail)."""
        ...

    async def read(self, key: str, max_bytes: int = MAX_METADATA_BYTES) -> bytes | None:
        """A small object's content, None when it does not exist."""
        ...

    async def read_range(self, key: str, start: int, length: int) -> bytes | None:
        """``length`` bytes of an object from ``start`` (fewer at its end), None when it does
        not exist (the footer of a parquet table)."""
        ...

    async def usage(self, prefix: str) -> tuple[int, int]:
        """``(objects, bytes)`` stored under ``prefix``."""
        ...

    async def delete(self, prefix: str) -> None:
        """Remove everything under ``prefix`` (nothing there is fine)."""
        ...

    async def ready(self) -> None:
        """Return when the store answers; raise (any exception) when it does not."""
        ...

    async def close(self) -> None: ...


class LocalDatalayer:
    """A folder, served over HTTP to grant holders (see :mod:`.local_routes`)."""

    name = "local"

    def __init__(self, root: Path, signer: GrantSigner, ttl: float) -> None:
        self.root = root
        self.signer = signer
        self.ttl = ttl
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)

    def path_of(self, key: str) -> Path:
        """The file of a key; keys are checked by the caller (``local_routes.clean_key``)."""
        return self.root / key

    async def grant(self, prefix: str, *, write: bool, subject: str, base_url: str) -> Grant:
        token, expires_at = self.signer.issue(prefix, write=write, subject=subject, ttl=self.ttl)
        return Grant(
            kind="http",
            prefix=prefix,
            write=write,
            expires_at=expires_at,
            url=f"{base_url.rstrip('/')}/datalayer/o/{prefix}",
            token=token,
        )

    async def put(self, key: str, data: bytes) -> None:
        def write() -> None:
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(partial_name(path.name))
            try:
                partial.write_bytes(data)
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)

        await asyncio.to_thread(write)

    async def read(self, key: str, max_bytes: int = MAX_METADATA_BYTES) -> bytes | None:
        def read() -> bytes | None:
            try:
                with open(self.root / key, "rb") as f:
                    return f.read(max_bytes + 1)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None

        return await asyncio.to_thread(read)

    async def read_range(self, key: str, start: int, length: int) -> bytes | None:
        def read() -> bytes | None:
            try:
                with open(self.root / key, "rb") as f:
                    return os.pread(f.fileno(), length, start)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return None

        return await asyncio.to_thread(read)

    async def usage(self, prefix: str) -> tuple[int, int]:
        def walk() -> tuple[int, int]:
            count = size = 0
            for folder, _, files in os.walk(self.root / prefix):
                for name in files:
                    if is_partial(name):
                        continue  # a write still arriving (discarded if its upload has ended)
                    count += 1
                    size += os.stat(os.path.join(folder, name)).st_size
            return count, size

        return await asyncio.to_thread(walk)

    async def delete(self, prefix: str) -> None:
        target = self.root / prefix
        await asyncio.to_thread(shutil.rmtree, target, True)

    async def ready(self) -> None:
        def check() -> None:
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError("the datalayer folder is not writable")

        await asyncio.to_thread(check)

    async def close(self) -> None:
        return None
