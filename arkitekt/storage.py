"""Images and files at module level: ``from_xarray``, ``get_image``, ``images``, ``from_file``,
``get_file``, ``files`` (+ async twins). Each finds the active app on its own (or takes ``app=``).

>>> with easy("microscope"):                                     # doctest: +SKIP
...     img = from_xarray(xr.DataArray(data, dims=["z", "y", "x"]), name="cells")
...     plane = img.data.sel(z=10).compute()                    # reads that plane's chunks
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from koil import unkoil

from .context import resolve_app

if TYPE_CHECKING:
    from .app import App
    from .services.storage.file import File
    from .services.storage.image import Image


async def afrom_xarray(
    array: Any,
    name: str,
    *,
    dims: Sequence[str] | None = None,
    chunks: Sequence[int] | dict[str, int] | None = None,
    tags: Sequence[str] = (),
    progress: bool | None = None,
    app: App | None = None,
) -> Image:
    """Store an array as an image and return it (by reference).

    Args:
        array: An ``xarray.DataArray`` (its dims are kept), or a numpy or dask array with
            ``dims=``. A dask array is computed and uploaded a few chunks at a time.
        name: What to call it (need not be unique).
        dims: Dimension names, required for numpy and dask arrays, e.g. ``["z", "y", "x"]``.
        chunks: Chunk sizes (a tuple, or a dict by dim name); default: planes of the last two
            dims, up to 1024 x 1024.
        tags: Labels to find it by (``images(tags=[...])``).
        progress: Show a progress bar (default: on a terminal, for large arrays).

    The data goes straight to the datalayer; the image becomes visible once the server has
    checked it. A failed or interrupted upload leaves nothing behind.
    """
    target = resolve_app(app, "from_xarray()")
    return await target.storage.afrom_xarray(
        array, name, dims=dims, chunks=chunks, tags=tags, progress=progress
    )


def from_xarray(
    array: Any,
    name: str,
    *,
    dims: Sequence[str] | None = None,
    chunks: Sequence[int] | dict[str, int] | None = None,
    tags: Sequence[str] = (),
    progress: bool | None = None,
    app: App | None = None,
) -> Image:
    """Sync :func:`afrom_xarray`."""
    return unkoil(
        afrom_xarray,
        array,
        name,
        dims=dims,
        chunks=chunks,
        tags=tags,
        progress=progress,
        app=app,
    )


async def aget_image(image_id: str, *, app: App | None = None) -> Image:
    """The image with this id (yours or shared with you); raises ``DataNotFoundError``."""
    return await resolve_app(app, "get_image()").storage.aget_image(image_id)


def get_image(image_id: str, *, app: App | None = None) -> Image:
    """Sync :func:`aget_image`."""
    return unkoil(aget_image, image_id, app=app)


async def aimages(
    *,
    name: str | None = None,
    name__contains: str | None = None,
    tags: Sequence[str] = (),
    mine: bool = False,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    app: App | None = None,
) -> list[Image]:
    """Images you may see, newest first, filtered (all filters must match).

    ``name`` matches exactly, ``name__contains`` case-insensitively; ``tags`` must all be
    present; ``mine`` leaves out what others shared with you. Pages with ``limit``/``offset``.
    """
    return await resolve_app(app, "images()").storage.aimages(
        name=name,
        name__contains=name__contains,
        tags=tags,
        mine=mine,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        offset=offset,
    )


def images(
    *,
    name: str | None = None,
    name__contains: str | None = None,
    tags: Sequence[str] = (),
    mine: bool = False,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    app: App | None = None,
) -> list[Image]:
    """Sync :func:`aimages`."""
    return unkoil(
        aimages,
        name=name,
        name__contains=name__contains,
        tags=tags,
        mine=mine,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        offset=offset,
        app=app,
    )


async def afrom_file(
    source: str | os.PathLike[str] | IO[bytes],
    name: str | None = None,
    *,
    content_type: str | None = None,
    progress: bool | None = None,
    app: App | None = None,
) -> File:
    """Store a file (a path or a binary file object), streamed; returns it by reference."""
    return await resolve_app(app, "from_file()").storage.afrom_file(
        source, name, content_type=content_type, progress=progress
    )


def from_file(
    source: str | os.PathLike[str] | IO[bytes],
    name: str | None = None,
    *,
    content_type: str | None = None,
    progress: bool | None = None,
    app: App | None = None,
) -> File:
    """Sync :func:`afrom_file`."""
    return unkoil(afrom_file, source, name, content_type=content_type, progress=progress, app=app)


async def aget_file(file_id: str, *, app: App | None = None) -> File:
    """The file with this id (yours or shared with you); raises ``DataNotFoundError``."""
    return await resolve_app(app, "get_file()").storage.aget_file(file_id)


def get_file(file_id: str, *, app: App | None = None) -> File:
    """Sync :func:`aget_file`."""
    return unkoil(aget_file, file_id, app=app)


async def afiles(
    *,
    name: str | None = None,
    name__contains: str | None = None,
    mine: bool = False,
    limit: int = 100,
    offset: int = 0,
    app: App | None = None,
) -> list[File]:
    """Files you may see, newest first, filtered like :func:`aimages`."""
    return await resolve_app(app, "files()").storage.afiles(
        name=name, name__contains=name__contains, mine=mine, limit=limit, offset=offset
    )


def files(
    *,
    name: str | None = None,
    name__contains: str | None = None,
    mine: bool = False,
    limit: int = 100,
    offset: int = 0,
    app: App | None = None,
) -> list[File]:
    """Sync :func:`afiles`."""
    return unkoil(
        afiles,
        name=name,
        name__contains=name__contains,
        mine=mine,
        limit=limit,
        offset=offset,
        app=app,
    )


async def adelete(item: Image | File | str, *, app: App | None = None) -> None:
    """Delete an image or file you own (an Image, a File, or an image id)."""
    from .services.storage.file import File
    from .services.storage.image import Image

    storage = resolve_app(app, "delete()").storage
    if isinstance(item, File | Image):
        await storage.adelete(item.kind, item.id)
    elif isinstance(item, str):
        await storage.adelete("image", item)
    else:
        raise TypeError(
            f"delete() takes an Image, a File or an image id, not {type(item).__name__}"
        )


def delete(item: Image | File | str, *, app: App | None = None) -> None:
    """Sync :func:`adelete`."""
    unkoil(adelete, item, app=app)
