"""File: a file in the central store, downloaded or opened on demand."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

from koil import unkoil

from . import api

if TYPE_CHECKING:
    from ...app import App


class File:
    """A stored file. ``download(path)`` writes it to disk; ``open()`` gives a readable copy."""

    __structure_identifier__ = "@arkitekt/file"

    def __init__(self, info: api.File, app: App) -> None:
        self._info = info
        self._app = app

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def size_bytes(self) -> int:
        return self._info.size_bytes

    @property
    def content_type(self) -> str:
        return self._info.content_type

    @property
    def created_at(self) -> dt.datetime:
        return self._info.created_at

    @property
    def mine(self) -> bool:
        return self._info.mine

    async def adownload(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the content to ``path`` (a folder: keeps the file's name); returns the path.

        Refuses to replace an existing file unless ``overwrite``; a failed download leaves
        nothing at ``path``.
        """
        return await self._app.storage.adownload_file(self, Path(path), overwrite=overwrite)

    def download(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Sync :meth:`adownload`."""
        return unkoil(self.adownload, path, overwrite=overwrite)

    async def aopen(self) -> IO[bytes]:
        """A readable, seekable copy of the content (in memory when small, else a temp file)."""
        return await self._app.storage.aopen_file(self)

    def open(self) -> IO[bytes]:
        """Sync :meth:`aopen`; use it as ``with file.open() as f: ...``."""
        return unkoil(self.aopen)

    async def aread_bytes(self) -> bytes:
        """The whole content."""
        with await self.aopen() as f:
            return f.read()

    def read_bytes(self) -> bytes:
        """Sync :meth:`aread_bytes`."""
        return unkoil(self.aread_bytes)

    async def adelete(self) -> None:
        """Delete the file (owner only)."""
        await self._app.storage.adelete_file(self.id)

    def delete(self) -> None:
        """Sync :meth:`adelete`."""
        unkoil(self.adelete)

    async def ashare(
        self, users: list[str] | tuple[str, ...] = (), *, everyone: bool = False
    ) -> list[str]:
        """Let users (by username), or everyone, read it; returns who may now."""
        return await self._app.storage.ashare("file", self.id, users, everyone, unshare=False)

    def share(
        self, users: list[str] | tuple[str, ...] = (), *, everyone: bool = False
    ) -> list[str]:
        """Sync :meth:`ashare`."""
        return unkoil(self.ashare, users, everyone=everyone)

    async def shrink(self) -> str:
        return self.id

    @classmethod
    async def expand(cls, value: str) -> File:
        from ...app import get_current_app

        return await get_current_app().storage.aget_file(value)

    def __repr__(self) -> str:
        return f"File(id={self.id!r}, name={self.name!r}, size_bytes={self.size_bytes})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("File", self.id))
