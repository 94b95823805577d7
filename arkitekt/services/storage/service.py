"""``app.storage``: images, files and tables by reference.

The control plane is GraphQL (the generated :mod:`.api` over :mod:`.graphql_client`); the bytes
go straight between this process and the datalayer, with grants the server hands out for one
image or file at a time. When the server runs inside this process, its folder is used directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import mimetypes
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from ..._loops import on_app_loop
from ..._progress import transfer_progress
from ..._twins import sync_twin
from ...display import listing
from ...errors import ArkitektError, InvalidDataError, TransferError, UsageError
from ...protocol.ngff import FORMAT_ARRAY, ngff_order
from ...protocol.services import MIKRO
from ..sharing import Sharing, shared_with
from . import api, file_bytes, ome, table_io
from .arrays import (
    WRITE_CONCURRENCY,
    ArraySource,
    as_source,
    brief,
    compressors,
    dask_chunks,
)
from .chunk_writer import awrite
from .file import File
from .image import Image
from .ome import Channel
from .pyramid import awrite_pyramid, level_chunks, level_shapes, plane_axes, settle_downsample
from .roi import Roi
from .rois_datasets import RoisAndDatasets
from .stored import Stored
from .stores import GrantedStore, GrantKeeper
from .table import Table

S = TypeVar("S", bound=Stored)

if TYPE_CHECKING:
    import xarray as xr


logger = logging.getLogger("arkitekt.storage")

ABORT_TIMEOUT = 10.0
"""Seconds a failed upload waits for the server to discard it."""
SPOOL_IN_MEMORY = 16 << 20
"""``File.open()`` keeps content up to this size in memory, larger in a temp file."""


async def _create_group(
    store: Any, attributes: dict[str, Any], level0: ArraySource, shapes: Sequence[Sequence[int]]
) -> list[Any]:
    """The image group (its attributes) and an array per level at ``0``, ``1``, ... (``shapes``
    in the stored order, level 0 first, each with level 0's chunks clipped to it); returns the
    arrays.

    The metadata documents are made in memory and written with plain puts: zarr's own group
    creation writes parents with put-if-absent, which the datalayer's HTTP routes do not offer.
    """
    import zarr.api.asynchronous as zarr_async
    from zarr.core.array import AsyncArray
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.group import GroupMetadata
    from zarr.storage import MemoryStore, StorePath

    from .pyramid import level_chunks

    try:
        prototype = default_buffer_prototype()
        group = GroupMetadata(attributes=attributes, zarr_format=3)
        for key, value in group.to_buffer_dict(prototype).items():
            await store.set(key, value)
        targets = []
        for k, shape in enumerate(shapes):
            made = await zarr_async.create_array(
                store=MemoryStore(),
                shape=tuple(shape),
                dtype=level0.dtype,
                chunks=level_chunks(shape, level0.chunks),
                dimension_names=level0.dims,
                compressors=compressors(k),
                fill_value=0,
            )
            for key, value in made.metadata.to_buffer_dict(prototype).items():
                await store.set(f"{k}/{key}", value)
            targets.append(AsyncArray(metadata=made.metadata, store_path=StorePath(store, str(k))))
        return targets
    except Exception as e:
        raise TransferError(f"creating the image group failed ({brief(e)})") from e


class StorageService(RoisAndDatasets, Sharing[Stored]):
    """Images, files and tables for one app (``app.storage``); ROIs and datasets come from
    :class:`~.rois_datasets.RoisAndDatasets`."""

    name = "storage"

    api_key = MIKRO.key

    def __init__(self, *, write_concurrency: int = WRITE_CONCURRENCY) -> None:
        super().__init__()
        self.write_concurrency = write_concurrency

    @property
    def proxy(self) -> str | None:
        """The app's HTTP proxy (``proxy=`` / ``ARKITEKT_PROXY``), for datalayer transfers too."""
        return self.app.auth.proxy if "auth" in self.app.services else None

    def _folder(self, grant: api.Grant) -> Path | None:
        """The grant's folder when the server runs in this process with a local datalayer (used
        as is); the server never puts a filesystem path in a grant."""
        server = self.app.services.get("server")
        if grant.kind != "http" or server is None:
            return None
        folder: Path | None = getattr(server, "folder_of", lambda prefix: None)(grant.prefix)
        return folder

    def _zarr_store(self, grant: api.Grant, renew: Any, *, read_only: bool = False) -> Any:
        """The zarr store of a grant: the folder itself when the server runs in this process
        (zarr's own LocalStore, the fastest path), else a store that keeps its grant fresh."""
        folder = self._folder(grant)
        if folder is not None:
            from zarr.storage import LocalStore

            return LocalStore(folder, read_only=read_only)
        loop = self.app_loop
        assert loop is not None  # methods run on the app's loop, while it is entered
        keeper = GrantKeeper(grant, renew, loop, proxy=self.proxy)
        return GrantedStore(keeper, read_only=read_only)

    # -- images ----------------------------------------------------------------------------------

    @on_app_loop
    async def afrom_xarray(
        self,
        array: Any,
        name: str,
        *,
        dims: Sequence[str] | None = None,
        chunks: Sequence[int] | dict[str, int] | None = None,
        tags: Sequence[str] = (),
        channels: Sequence[Channel | dict[str, Any] | str] | None = None,
        pyramid: bool = False,
        downsample: str | None = None,
        progress: bool | None = None,
    ) -> Image:
        """Store an array as an OME-Zarr image and return it (by reference).

        Args:
            array: An ``xarray.DataArray`` (its dims, coordinates and attrs are kept), or a numpy
                or dask array with ``dims=``. A dask array is computed and uploaded a few chunks
                at a time.
            name: What to call it (need not be unique).
            dims: Dimension names, required for numpy and dask arrays, e.g. ``["z", "y", "x"]``.
            chunks: Chunk sizes (a tuple, or a dict by dim name); default: planes of the last
                two dims (in the stored order), up to 1024 x 1024.
            tags: Labels to find it by (``images(tags=[...])``).
            channels: The channels of the channel axis (``c``): :class:`Channel` objects, dicts
                or names; default: the names in its coordinate.
            pyramid: Also write multiscale levels, halving y and x each time until a level's
                plane fits in one chunk (``img.level(k)``); computed while uploading.
            downsample: How levels are made: ``"mean"`` (intensities; the default) or
                ``"nearest"`` (labels; the default for bool).
            progress: Show a progress bar (default: on a terminal, for large arrays).

        Uniform coordinates of ``t``/``z``/``y``/``x`` (with ``attrs["units"]``) become the
        NGFF pixel size and unit. The data goes straight to the datalayer; the image becomes
        visible once the server has checked it. A failed or interrupted upload leaves nothing
        behind.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidDataError("name must be a non-empty string, e.g. name='cells'")
        if isinstance(tags, str):
            raise UsageError("tags= takes a list of strings, e.g. tags=['raw']")
        source = as_source(array, dims, chunks)
        settled = ome.settle_channels(channels, array, source.dims)
        layout = ngff_order(source.dims) or source.dims
        stored = source.transposed(layout, chunks_given=chunks is not None)
        shapes: list[tuple[int, ...]] = [stored.shape]
        how = ""
        if pyramid:
            how = settle_downsample(downsample, source.dtype)
            shapes = level_shapes(stored.shape, stored.chunks, plane_axes(stored.dims))
        elif downsample is not None:
            raise UsageError("downsample= is for pyramid=True")
        back = [layout.index(d) for d in source.dims]
        factors = [  # what one pixel of level k spans of level 0, per dim
            [2**k if d in ("y", "x") else 1 for d in source.dims] for k in range(len(shapes))
        ]
        meta = ome.describe(array, source.dims, source.shape, source.dtype, settled, factors, name)
        announced = [
            api.LevelInput(
                shape=tuple(shape[i] for i in back),
                chunks=tuple(level_chunks(shape, stored.chunks)[i] for i in back),
            )
            for shape in shapes
        ]
        upload = await api.arequest_image_upload(
            api.ImageUploadInput(
                name=name,
                shape=source.shape,
                dims=source.dims,
                dtype=source.dtype.name,
                chunks=announced[0].chunks,
                tags=tuple(tags),
                format=meta.format,
                levels=tuple(announced),
            ),
            client=self.graphql,
        )
        bar = transfer_progress(source.nbytes, f"uploading {name}", show=progress)
        try:
            store = self._zarr_store(
                upload.grant, lambda: api.arenew_upload_grant(upload.id, client=self.graphql)
            )
            targets = await _create_group(store, meta.attributes, stored, shapes)
            if len(targets) > 1:
                await awrite_pyramid(
                    targets,
                    stored,
                    how,
                    on_chunk=bar.update,
                    concurrency=self.write_concurrency,
                )
            else:
                await awrite(
                    targets[0], stored, on_chunk=bar.update, concurrency=self.write_concurrency
                )
            info = await api.afinish_image_upload(upload.id, client=self.graphql)
        except BaseException as e:
            await self._abort(upload.id)
            if isinstance(e, Exception):
                e.add_note(f"arkitekt: the upload of image {name!r} was discarded")
            raise
        finally:
            bar.close()
        return Image(info, self.app)

    async def _abort(self, upload_id: str) -> None:
        """Ask the server to discard an upload; never raises (the sweeper is the fallback)."""
        try:
            await asyncio.shield(
                asyncio.wait_for(
                    api.aabort_upload(upload_id, client=self.graphql), timeout=ABORT_TIMEOUT
                )
            )
        except BaseException as e:  # the error that made us abort matters more
            logger.warning(
                "could not discard upload %s (%s); the server will sweep it", upload_id, e
            )

    async def _open_level(self, image: Image, level: int) -> tuple[Any, dict[str, Any]]:
        """The zarr ``AsyncArray`` of one level, checked against what the server verified, and
        the group's attributes (empty for images stored as a plain array)."""
        import zarr.api.asynchronous as zarr_async

        store = image._reader
        if store is None:  # one grant per Image object; the store renews it when it runs out
            grant = await api.aimage_grant(image.id, client=self.graphql)
            store = self._zarr_store(
                grant, lambda: api.aimage_grant(image.id, client=self.graphql), read_only=True
            )
            image._reader = store
        attributes: dict[str, Any] = {}
        if image.format == FORMAT_ARRAY:  # stored before OME-Zarr: a plain array at the prefix
            if level != 0:
                raise UsageError(f"image {image.id!r} has one level (0), not {level}")
            opened = await zarr_async.open_array(store=store, mode="r")
            expected = (image.shape, image.chunks)
        else:
            lv = image.level_info(level)
            group = await zarr_async.open_group(store=store, mode="r", zarr_format=3)
            attributes = dict(group.attrs)
            opened = await zarr_async.open_array(store=store, path=str(level), mode="r")
            stored = tuple(opened.metadata.dimension_names or ())
            if sorted(stored) != sorted(image.dims):
                raise InvalidDataError(
                    f"the stored array of image {image.id!r} has dims {stored}, not the "
                    f"verified {image.dims}"
                )
            order = [image.dims.index(d) for d in stored]
            expected = (tuple(lv.shape[i] for i in order), tuple(lv.chunks[i] for i in order))
        found = (tuple(opened.shape), tuple(opened.chunks), opened.dtype)
        if found != (*expected, image.dtype):
            # only what the server verified is read (bounded chunks, announced shape)
            raise InvalidDataError(
                f"the stored array of image {image.id!r} (shape {found[0]}, chunks {found[1]}, "
                f"{found[2]}) differs from the one the server verified; not reading it"
            )
        return opened, attributes

    @staticmethod
    def _as_xarray(
        image: Image, values: Any, opened: Any, attributes: dict[str, Any]
    ) -> xr.DataArray:
        import xarray as xr

        stored_dims = tuple(opened.metadata.dimension_names or image.dims)
        data = xr.DataArray(values, dims=stored_dims, name=image.name, attrs={"image_id": image.id})
        return ome.restore(data, image.dims, attributes)

    @on_app_loop
    async def aopen_image(self, image: Image, level: int = 0) -> xr.DataArray:
        """The lazy data of one level of an image, in the dims it was given with."""
        import dask.array as da
        import zarr

        opened, attributes = await self._open_level(image, level)
        array = zarr.Array(opened)
        lazy = da.from_array(  # type: ignore[no-untyped-call]
            array,
            chunks=dask_chunks(array.shape, array.chunks, array.dtype.itemsize),
            lock=False,
            asarray=True,
            name=f"image-{image.id}-{level}",
        )
        return self._as_xarray(image, lazy, opened, attributes)

    @on_app_loop
    async def aread_image(self, image: Image, level: int = 0) -> xr.DataArray:
        """One level of an image read whole into memory: zarr fetches and decodes its chunks
        concurrently straight into one array (no dask, no copy to assemble the pieces)."""
        import numpy as np

        opened, attributes = await self._open_level(image, level)
        try:
            values = await opened.getitem(tuple(slice(None) for _ in opened.shape))
        except Exception as e:
            raise TransferError(f"reading image {image.id!r} failed ({brief(e)})") from e
        return self._as_xarray(image, np.asarray(values), opened, attributes)

    from_xarray = sync_twin(afrom_xarray)

    async def aget_image(self, image_id: str) -> Image:
        """The image with this id (yours or shared with you); raises ``DataNotFoundError``."""
        return await self.aget(Image, image_id)

    get_image = sync_twin(aget_image)

    @on_app_loop
    async def aimages(
        self,
        *,
        name: str | None = None,
        name__contains: str | None = None,
        tags: Sequence[str] = (),
        mine: bool = False,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Image]:
        """Images you may see, newest first, filtered (all filters must match).

        ``name`` matches exactly, ``name__contains`` case-insensitively; ``tags`` must all be
        present; ``mine`` leaves out what others shared with you. Pages with ``limit``/``offset``.
        """
        if isinstance(tags, str):
            raise UsageError("tags= takes a list of strings, e.g. tags=['raw']")
        found = await api.alist_images(
            filter=api.ImageFilter(
                name=name,
                nameContains=name__contains,
                tags=tuple(tags),
                mine=mine,
                createdAfter=created_after,
                createdBefore=created_before,
            ),
            pagination=api.Pagination(limit=limit, offset=offset),
            client=self.graphql,
        )
        return listing(Image(info, self.app) for info in found)

    images = sync_twin(aimages)

    # -- any stored kind -------------------------------------------------------------------------

    @on_app_loop
    async def aget(self, cls: type[S], object_id: str) -> S:
        """The object of this class (``Image``, ``File``, ...) with this id."""
        if not isinstance(object_id, str) or not object_id:
            raise InvalidDataError(
                f"{cls.kind.name} id must be a non-empty string, got {object_id!r}"
            )
        return cls(await cls.operations.get(object_id, client=self.graphql), self.app)

    @on_app_loop
    async def adelete(self, item: Stored | str) -> None:
        """Delete an image, file or table you own (an ``Image``, ``File``, ``Table``, or an
        image id), a dataset you own, or a ROI you drew (or that is on an image you own)."""
        if isinstance(item, str):
            item_cls: type[Stored] = Image
            item_id = item
        elif isinstance(item, Stored):
            item_cls, item_id = type(item), item.id
        else:
            raise UsageError(
                f"delete() takes an Image, a File, a Table, a Roi, a Dataset or an image id, "
                f"not {type(item).__name__}"
            )
        await item_cls.operations.delete(item_id, client=self.graphql)

    delete = sync_twin(adelete)

    async def achange_sharing(
        self, target: Stored, users: list[str], everyone: bool, *, revoke: bool
    ) -> list[str]:
        """Share an image or file you own (see :class:`Sharing`)."""
        result = await type(target).operations.share(
            target.id, users=users, everyone=everyone, unshare=revoke, client=self.graphql
        )
        return shared_with(result.users, result.everyone)

    # -- files -----------------------------------------------------------------------------------

    @on_app_loop
    async def afrom_file(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        name: str | None = None,
        *,
        content_type: str | None = None,
        progress: bool | None = None,
    ) -> File:
        """Store a file (a path or a binary file object), streamed; returns it by reference."""
        with contextlib.ExitStack() as stack:
            opened = await file_bytes.open_source(source, name, stack)
            content_type = (
                content_type or mimetypes.guess_type(opened.name)[0] or "application/octet-stream"
            )
            upload = await api.arequest_file_upload(
                api.FileUploadInput(
                    name=opened.name, sizeBytes=opened.size, contentType=content_type
                ),
                client=self.graphql,
            )
            bar = transfer_progress(opened.size, f"uploading {opened.name}", show=progress)
            try:
                await file_bytes.put(
                    upload.grant,
                    opened,
                    bar.update,
                    folder=self._folder(upload.grant),
                    proxy=self.proxy,
                )
                info = await api.afinish_file_upload(upload.id, client=self.graphql)
            except BaseException as e:
                await self._abort(upload.id)
                if isinstance(e, Exception) and not isinstance(e, ArkitektError):
                    raise TransferError(
                        f"uploading file {opened.name!r} failed ({brief(e)}); "
                        "the upload was discarded"
                    ) from e
                raise
            finally:
                bar.close()
        return File(info, self.app)

    from_file = sync_twin(afrom_file)

    async def _read_file(self, file: File, sink: IO[bytes], progress: bool | None) -> None:
        grant = await api.afile_grant(file.id, client=self.graphql)
        bar = transfer_progress(file.size_bytes, f"downloading {file.name}", show=progress)
        try:
            await file_bytes.get(
                grant, sink, bar.update, folder=self._folder(grant), proxy=self.proxy
            )
        except ArkitektError:
            raise
        except Exception as e:
            raise TransferError(f"downloading file {file.name!r} failed ({brief(e)})") from e
        finally:
            bar.close()

    @on_app_loop
    async def adownload_file(
        self, file: File, path: Path, *, overwrite: bool = False, progress: bool | None = None
    ) -> Path:
        """Write a file's content to ``path`` (a folder: keeps its name), all or nothing."""
        target = path / file.name if path.is_dir() else path
        return await file_bytes.write_atomically(
            target, lambda sink: self._read_file(file, sink, progress), overwrite=overwrite
        )

    @on_app_loop
    async def aopen_file(self, file: File) -> IO[bytes]:
        """A readable, seekable copy of a file's content (in memory when small)."""
        sink = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned open
        try:
            await self._read_file(file, sink, progress=None)
        except BaseException:
            sink.close()
            raise
        sink.seek(0)
        return sink

    async def aget_file(self, file_id: str) -> File:
        """The file with this id (yours or shared with you); raises ``DataNotFoundError``."""
        return await self.aget(File, file_id)

    get_file = sync_twin(aget_file)

    @on_app_loop
    async def afiles(
        self,
        *,
        name: str | None = None,
        name__contains: str | None = None,
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[File]:
        """Files you may see, newest first, filtered like :meth:`aimages`."""
        found = await api.alist_files(
            filter=api.FileFilter(name=name, nameContains=name__contains, mine=mine),
            pagination=api.Pagination(limit=limit, offset=offset),
            client=self.graphql,
        )
        return listing(File(info, self.app) for info in found)

    files = sync_twin(afiles)

    # -- tables ----------------------------------------------------------------------------------

    @on_app_loop
    async def afrom_df(
        self,
        df: Any,
        name: str,
        *,
        image: Image | str | None = None,
        roi: Roi | str | None = None,
        progress: bool | None = None,
    ) -> Table:
        """Store a table (a pandas DataFrame or a pyarrow Table) as parquet; returns it by
        reference.

        Args:
            df: The rows. Column names must be strings; columns hold numbers, strings,
                booleans, datetimes (nulls allowed). A named or non-default index is kept.
            name: What to call it (need not be unique).
            image: The image (or image id) it is about, e.g. measurements of its cells; you
                must be able to see it. ``tables(image=img)`` finds it again.
            roi: The region of interest (a ``Roi`` or its id) it is about, one you may see;
                the table is then about the ROI's image too (``image=``, when given, must be
                that image). ``tables(roi=roi)`` finds it again.
            progress: Show a progress bar (default: on a terminal, for large tables).

        Written as parquet (zstd, statistics, row groups of at most 64k rows) and uploaded
        like a file: visible once the server has checked it, nothing left behind on failure.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidDataError("name must be a non-empty string, e.g. name='measurements'")
        image_id = _image_id(image)
        roi_id = _roi_id(roi)
        if isinstance(roi, Roi) and image_id is not None and roi.image_id != image_id:
            raise InvalidDataError(
                f"roi= is on image {roi.image_id!r}, not on image= {image_id!r}: name the ROI's "
                "image, or the ROI alone"
            )
        table = table_io.as_arrow(df, "df")
        with contextlib.ExitStack() as stack:
            spool = stack.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))
            await asyncio.to_thread(table_io.write_parquet, table, spool)
            size = spool.tell()
            spool.seek(0)
            upload = await api.arequest_table_upload(
                api.TableUploadInput(name=name, sizeBytes=size, image=image_id, roi=roi_id),
                client=self.graphql,
            )
            bar = transfer_progress(size, f"uploading {name}", show=progress)
            try:
                await file_bytes.put(
                    upload.grant,
                    file_bytes.Source(spool, name, size),
                    bar.update,
                    folder=self._folder(upload.grant),
                    proxy=self.proxy,
                )
                info = await api.afinish_table_upload(upload.id, client=self.graphql)
            except BaseException as e:
                await self._abort(upload.id)
                if isinstance(e, Exception) and not isinstance(e, ArkitektError):
                    raise TransferError(
                        f"uploading table {name!r} failed ({brief(e)}); the upload was discarded"
                    ) from e
                raise
            finally:
                bar.close()
        return Table(info, self.app)

    from_df = sync_twin(afrom_df)

    async def aget_table(self, table_id: str) -> Table:
        """The table with this id (yours or shared with you); raises ``DataNotFoundError``."""
        return await self.aget(Table, table_id)

    get_table = sync_twin(aget_table)

    @on_app_loop
    async def atables(
        self,
        *,
        name: str | None = None,
        name__contains: str | None = None,
        image: Image | str | None = None,
        roi: Roi | str | None = None,
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Table]:
        """Tables you may see, newest first, filtered like :meth:`aimages`; ``image`` (an
        Image or id) and ``roi`` (a Roi or id) keep those about that image or region."""
        found = await api.alist_tables(
            filter=api.TableFilter(
                name=name,
                nameContains=name__contains,
                mine=mine,
                image=_image_id(image),
                roi=_roi_id(roi),
            ),
            pagination=api.Pagination(limit=limit, offset=offset),
            client=self.graphql,
        )
        return listing(Table(info, self.app) for info in found)

    tables = sync_twin(atables)

    @contextlib.asynccontextmanager
    async def _table_reader(self, table: Table) -> AsyncIterator[table_io.RangeReader]:
        """A ranged reader over a table's parquet file (counting into ``table.read_stats``)."""
        grant = await api.atable_grant(table.id, client=self.graphql)
        stats = table.read_stats = table_io.ReadStats()
        folder = self._folder(grant)
        if folder is not None:
            fetch, close = table_io.folder_fetch(folder / "data")
            try:
                yield table_io.RangeReader(fetch, table.size_bytes, stats)
            finally:
                close()
            return
        loop = self.app_loop
        assert loop is not None
        keeper = GrantKeeper(
            grant, lambda: api.atable_grant(table.id, client=self.graphql), loop, proxy=self.proxy
        )
        yield table_io.RangeReader(
            table_io.store_fetch(keeper.fresh_blocking), table.size_bytes, stats
        )

    @on_app_loop
    async def aread_table(
        self, table: Table, *, where: str | None = None, columns: Sequence[str] | None = None
    ) -> Any:
        """The rows of a table matching ``where`` with ``columns``, as a ``pyarrow.Table``."""
        table_io.need_pyarrow()
        if isinstance(columns, str):
            raise UsageError("columns= takes a list of column names, e.g. columns=['id']")
        wanted = None if columns is None else list(columns)
        async with self._table_reader(table) as reader:
            try:
                return await asyncio.to_thread(
                    lambda: table_io.scan(table_io.dataset_of(reader), where, wanted)
                )
            except ArkitektError:
                raise
            except OSError as e:
                raise TransferError(f"reading table {table.name!r} failed ({brief(e)})") from e

    @on_app_loop
    async def ahead_table(self, table: Table, rows: int) -> Any:
        """The first ``rows`` rows (reads the first row group only)."""
        table_io.need_pyarrow()
        async with self._table_reader(table) as reader:
            return await asyncio.to_thread(lambda: table_io.dataset_of(reader).head(rows))


def _image_id(image: Image | str | None) -> str | None:
    if image is None or isinstance(image, str):
        return image
    if isinstance(image, Image):
        return image.id
    raise UsageError(f"image= takes an Image or an image id, not {type(image).__name__}")


def _roi_id(roi: Roi | str | None) -> str | None:
    if roi is None:
        return None
    if isinstance(roi, Roi):
        return roi.id
    if isinstance(roi, str) and roi:
        return roi
    raise InvalidDataError(f"roi= takes a Roi or a ROI id, not {type(roi).__name__} {roi!r}"[:200])
