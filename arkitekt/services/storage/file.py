"""File: a file in the central store, downloaded or opened on demand."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..._twins import sync_twin
from . import api
from .kinds import BY_NAME, Operations
from .stored import Stored

if TYPE_CHECKING:
    from ...app import App


class File(Stored):
    """A stored file. ``download(path)`` writes it to disk; ``open()`` gives a readable copy."""

    kind = BY_NAME["file"]
    __structure_identifier__ = kind.structure
    operations = Operations(get=api.aget_file, delete=api.adelete_file, share=api.ashare_file)

    def __init__(self, info: api.File, app: App) -> None:
        super().__init__(info, app)
        self._info: api.File = info

    @property
    def size_bytes(self) -> int:
        return self._info.size_bytes

    @property
    def content_type(self) -> str:
        return self._info.content_type

    async def adownload(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the content to ``path`` (a folder: keeps the file's name); returns the path.

        Refuses to replace an existing file unless ``overwrite``; a failed download leaves
        nothing at ``path``.
        """
        return await self._app.storage.adownload_file(self, Path(path), overwrite=overwrite)

    download = sync_twin(adownload)

    async def aopen(self) -> IO[bytes]:
        """A readable, seekable copy of the content (in memory when small, else a temp file)."""
        return await self._app.storage.aopen_file(self)

    open = sync_twin(aopen)
    """``with file.open() as f: ...``"""

    async def aread_bytes(self) -> bytes:
        """The whole content."""
        with await self.aopen() as f:
            return f.read()

    read_bytes = sync_twin(aread_bytes)

    listing_headers = ("name", "size", "type", "created", "id")

    def listing_row(self) -> tuple[str, ...]:
        from ...display import size_text

        created = f"{self.created_at:%Y-%m-%d %H:%M}"
        return (self.name, size_text(self.size_bytes), self.content_type, created, self.id)

    def __repr__(self) -> str:
        return f"File(id={self.id!r}, name={self.name!r}, size_bytes={self.size_bytes})"
