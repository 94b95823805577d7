"""Tables in ``/mikro/graphql``: parquet objects, uploaded and read like files.

``requestTableUpload`` records the table (invisible while ``uploading``; linked to an image or
a ROI only when the creator may see it; a ROI links its image too, and must be on the image when
both are named) and returns a write grant for its prefix; the client
writes one parquet object, ``data``; ``finishTableUpload`` checks its size and its footer
(:mod:`.parquet_footer`) and records the schema, rows and row groups, or discards the upload.
``abortUpload``, ``renewUploadGrant`` and the sweeper work for tables as for files.

Columns are two lists of strings (names, types) rather than a list of objects: a page of
tables with many columns stays cheap under the query cost limit. Someone who may see a table
but not its image (or ROI) gets ``imageId`` (``roiId``) null.

Merged into the schema's ``Query`` and ``Mutation`` by :mod:`.graphql_api`.
"""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from arkitekt.protocol.error_codes import ErrorCode

from . import catalogue as cat
from .graphql_api import (
    BigInt,
    GrantType,
    Pagination,
    Sharing,
    Upload,
    _delete,
    _error,
    _grant,
    _not_found,
    _page,
    _share,
    _storage,
    _user,
)
from .models import Image as ImageRow
from .models import Table as TableRow
from .parquet_footer import check_parquet
from .rois import RoiCatalogue
from .validation import InvalidUpload, check_name

MAX_ROI_ID = 32


@strawberry.type(name="Table", description="A table stored as one parquet file.")
class TableType:
    id: strawberry.ID
    name: str
    columns: list[str] = strawberry.field(description="The column names, in order.")
    column_types: list[str] = strawberry.field(
        description="The columns' arrow types (e.g. 'int64', 'string'), in the same order."
    )
    num_rows: BigInt
    num_row_groups: int
    size_bytes: BigInt
    image_id: strawberry.ID | None = strawberry.field(
        description="The image it is about (null when you may not see that image)."
    )
    roi_id: strawberry.ID | None = strawberry.field(
        description="The region of interest it is about (null when you may not see it)."
    )
    created_at: dt.datetime
    mine: bool
    shared_with_everyone: bool

    @classmethod
    def of(cls, row: TableRow, user_id: str, image_visible: bool, roi_visible: bool) -> TableType:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            columns=[c["name"] for c in row.columns or []],
            column_types=[c["type"] for c in row.columns or []],
            num_rows=BigInt(row.num_rows or 0),
            num_row_groups=row.num_row_groups or 0,
            size_bytes=BigInt(row.size_bytes or 0),
            image_id=strawberry.ID(row.image_id) if row.image_id and image_visible else None,
            roi_id=strawberry.ID(row.roi_id) if row.roi_id and roi_visible else None,
            created_at=row.created_at,
            mine=row.owner_id == user_id,
            shared_with_everyone=row.shared_with_everyone,
        )


@strawberry.input
class TableUploadInput:
    name: str
    size_bytes: BigInt
    image: strawberry.ID | None = strawberry.field(
        default=None, description="The image it is about (one you may see)."
    )
    roi: strawberry.ID | None = strawberry.field(
        default=None,
        description="The ROI it is about (one you may see; on ``image`` when both are given, "
        "else the table is linked to the ROI's image too).",
    )


@strawberry.input
class TableFilter:
    name: str | None = None
    name_contains: str | None = None
    mine: bool = False
    image: strawberry.ID | None = None
    roi: strawberry.ID | None = None


async def _tables(info: Info, rows: list[TableRow]) -> list[TableType]:
    """The rows as the user sees them (ids of images and ROIs they may see only)."""
    user = _user(info)
    catalogue = _storage(info).catalogue
    images = await catalogue.visible_ids(ImageRow, {r.image_id for r in rows if r.image_id}, user)
    rois = await RoiCatalogue(catalogue).visible_ids(user, {r.roi_id for r in rows if r.roi_id})
    return [TableType.of(r, user, r.image_id in images, r.roi_id in rois) for r in rows]


async def _visible_table(info: Info, table_id: str) -> TableRow:
    try:
        row: TableRow = await _storage(info).catalogue.visible(TableRow, table_id, _user(info))
    except cat.NotFound as e:
        raise _not_found(e) from None
    return row


def _roi(roi: strawberry.ID | None, argument: str) -> str | None:
    if roi is None:
        return None
    text = str(roi)
    if not 1 <= len(text) <= MAX_ROI_ID or "\x00" in text:
        raise _error(
            ErrorCode.BAD_INPUT, f"{argument} must be an id of 1 to {MAX_ROI_ID} characters"
        )
    return text


async def _links(
    info: Info, image: strawberry.ID | None, roi: strawberry.ID | None
) -> tuple[str | None, str | None]:
    """The image and ROI a new table is about: each one the creator may see (else the answer
    for no such object), the ROI on the image when both are named, and the ROI's image when
    only the ROI is."""
    storage, user = _storage(info), _user(info)
    roi_id = _roi(roi, "input.roi")
    image_id = None
    try:
        if image is not None:
            image_id = (await storage.catalogue.visible(ImageRow, str(image), user)).id
        if roi_id is not None:
            found = await RoiCatalogue(storage.catalogue).get(user, roi_id)
            if image_id is not None and found.roi.image_id != image_id:
                raise _error(
                    ErrorCode.BAD_INPUT,
                    f"input.roi: roi {roi_id!r} is on another image, not on input.image "
                    f"{image_id!r}; name the ROI's image, or the ROI alone",
                )
            image_id = found.roi.image_id
    except cat.NotFound as e:
        raise _not_found(e) from None
    return image_id, roi_id


@strawberry.type
class TableQuery:
    @strawberry.field(description="One table you may see.")
    async def table(self, info: Info, id: strawberry.ID) -> TableType:
        return (await _tables(info, [await _visible_table(info, str(id))]))[0]

    @strawberry.field(description="Tables you may see, newest first.")
    async def tables(
        self, info: Info, filter: TableFilter | None = None, pagination: Pagination | None = None
    ) -> list[TableType]:
        limit, offset = _page(info, pagination)
        f = filter or TableFilter()
        where = cat.TableFilter(
            name=f.name,
            name_contains=f.name_contains,
            mine=f.mine,
            image_id=None if f.image is None else str(f.image),
            roi_id=_roi(f.roi, "filter.roi"),
        )
        catalogue = _storage(info).catalogue
        image, roi = where.image_id, where.roi_id
        if image is not None and not await catalogue.visible_ids(ImageRow, {image}, _user(info)):
            return []  # about an image the caller may not see: none
        if roi is not None and not await RoiCatalogue(catalogue).visible_ids(_user(info), {roi}):
            return []  # about a ROI the caller may not see: none
        rows = await catalogue.tables(_user(info), where, limit, offset)
        return await _tables(info, rows)

    @strawberry.field(description="A read-only grant for a table's parquet file.")
    async def table_grant(self, info: Info, id: strawberry.ID) -> GrantType:
        row = await _visible_table(info, str(id))
        return await _grant(info, row.store, write=False)


@strawberry.type
class TableMutation:
    @strawberry.mutation(description="Announce a table and get a grant to write its parquet file.")
    async def request_table_upload(self, info: Info, input: TableUploadInput) -> Upload:
        storage = _storage(info)
        try:
            check_name(input.name)
        except InvalidUpload as e:
            raise _error(ErrorCode.BAD_INPUT, str(e)) from None
        limit = info.context["state"].config.storage_max_object_bytes
        if not 0 <= input.size_bytes <= limit:
            raise _error(ErrorCode.BAD_INPUT, f"size_bytes must be 0 to {limit}")
        image_id, roi_id = await _links(info, input.image, input.roi)
        try:
            row = await storage.catalogue.start_table(
                owner_id=_user(info),
                name=input.name,
                size_bytes=input.size_bytes,
                image_id=image_id,
                roi_id=roi_id,
                datalayer=storage.datalayer.name,
                deadline=storage.upload_deadline(),
            )
        except cat.NotFound as e:
            raise _not_found(e) from None
        return Upload(id=strawberry.ID(row.id), grant=await _grant(info, row.store, write=True))

    @strawberry.mutation(description="Check the written parquet file and make the table visible.")
    async def finish_table_upload(self, info: Info, id: strawberry.ID) -> TableType:
        storage = _storage(info)
        try:
            row = await storage.catalogue.upload(TableRow, str(id), _user(info))
        except cat.NotFound as e:
            raise _not_found(e) from None
        with storage.access.closed(row.store):
            try:
                await storage.catalogue.begin_finish(TableRow, row.id)
            except cat.NotFound as e:
                raise _not_found(e) from None
            objects, size = await storage.datalayer.usage(row.store)
            try:
                if objects != 1 or size != row.size_bytes:
                    raise InvalidUpload(
                        f"{size} bytes in {objects} object(s) were written, one object of "
                        f"{row.size_bytes} bytes announced"
                    )
                facts = await check_parquet(storage.datalayer, f"{row.store}/data", size)
            except InvalidUpload as e:
                await storage.discard(TableRow, row.id, row.store)
                raise _error(ErrorCode.BAD_INPUT, f"{e}; the upload was discarded") from None
            try:
                row = await storage.catalogue.finish_table(
                    row.id,
                    size_bytes=size,
                    columns=facts.columns,
                    num_rows=facts.num_rows,
                    num_row_groups=facts.num_row_groups,
                    settle_after=storage.settle_after(),
                )
            except cat.NotFound as e:
                raise _not_found(e) from None
        info.context["state"].metrics.upload_bytes.labels("table").inc(size)
        return (await _tables(info, [row]))[0]

    @strawberry.mutation(description="Delete one of your tables and its data.")
    async def delete_table(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        await _delete(info, TableRow, str(id))
        return id

    @strawberry.mutation(description="Share one of your tables with users or everyone (or stop).")
    async def share_table(
        self,
        info: Info,
        id: strawberry.ID,
        users: list[str] | None = None,
        everyone: bool = False,
        unshare: bool = False,
    ) -> Sharing:
        return await _share(info, TableRow, str(id), users or [], everyone, unshare)
