"""``/mikro/graphql`` fields of ROIs and datasets (merged into the storage schema by
:mod:`.graphql_api`). The access rules are those of :mod:`.rois` and :mod:`.datasets`."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from arkitekt.protocol.error_codes import ErrorCode

from . import catalogue as cat
from .collection_models import Dataset as DatasetRow
from .datasets import DatasetCatalogue, InvalidDataset, Members
from .graphql_api import (
    FileType,
    ImageType,
    Pagination,
    Sharing,
    _error,
    _not_found,
    _page,
    _storage,
    _user,
)
from .graphql_tables import TableType, _tables
from .rois import KINDS, MAX_PAGE, InvalidRoi, RoiCatalogue, RoiRow, check_label

MAX_ID = 32


@strawberry.type(name="Roi", description="A region of interest on an image.")
class RoiType:
    id: strawberry.ID
    image: strawberry.ID = strawberry.field(description="The image it is drawn on.")
    kind: str = strawberry.field(description=f"One of {', '.join(KINDS)}.")
    vectors: list[list[float]] = strawberry.field(
        description="Points in the image's dims order (ellipse: center, radii; rectangle: "
        "two corners; mask: none or two corners placing the mask)."
    )
    label: str
    mask: strawberry.ID | None = strawberry.field(description="A mask ROI's labels image.")
    creator: str = strawberry.field(description="Who drew it (username).")
    created_at: dt.datetime
    mine: bool = strawberry.field(description="Whether you drew it.")

    @classmethod
    def of(cls, found: RoiRow, user_id: str) -> RoiType:
        row = found.roi
        return cls(
            id=strawberry.ID(row.id),
            image=strawberry.ID(row.image_id),
            kind=row.kind,
            vectors=[list(v) for v in row.vectors],
            label=row.label,
            mask=None if row.mask_id is None else strawberry.ID(row.mask_id),
            creator=found.creator,
            created_at=row.created_at,
            mine=row.creator_id == user_id,
        )


@strawberry.input
class RoiInput:
    image: strawberry.ID
    kind: str
    vectors: list[list[float]]
    label: str = ""
    mask: strawberry.ID | None = None


@strawberry.input
class RoiFilter:
    image: strawberry.ID | None = None
    label: str | None = None
    kind: str | None = None


@strawberry.type(name="Dataset", description="A named group of images, files, tables and datasets.")
class DatasetType:
    id: strawberry.ID
    name: str
    parent: strawberry.ID | None
    created_at: dt.datetime
    mine: bool
    shared_with_everyone: bool

    @classmethod
    def of(cls, row: DatasetRow, user_id: str) -> DatasetType:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            parent=None if row.parent_id is None else strawberry.ID(row.parent_id),
            created_at=row.created_at,
            mine=row.owner_id == user_id,
            shared_with_everyone=row.shared_with_everyone,
        )


@strawberry.input
class DatasetFilter:
    name: str | None = None
    name_contains: str | None = None
    parent: strawberry.ID | None = None
    root: bool = strawberry.field(default=False, description="Only datasets without a parent.")
    mine: bool = False


@strawberry.input
class DatasetMembers:
    images: list[strawberry.ID] = strawberry.field(default_factory=list)
    files: list[strawberry.ID] = strawberry.field(default_factory=list)
    tables: list[strawberry.ID] = strawberry.field(default_factory=list)
    datasets: list[strawberry.ID] = strawberry.field(default_factory=list)


def _rois(info: Info) -> RoiCatalogue:
    return RoiCatalogue(_storage(info).catalogue)


def _datasets(info: Info) -> DatasetCatalogue:
    return DatasetCatalogue(_storage(info).catalogue)


def _id(value: strawberry.ID | None, argument: str) -> str | None:
    """An id argument, bounded: nothing longer than an id is looked up."""
    if value is None:
        return None
    text = str(value)
    if not text or len(text) > MAX_ID or "\x00" in text:
        raise _error(ErrorCode.BAD_INPUT, f"{argument} is not an id")
    return text


def _members(members: DatasetMembers) -> Members:
    found = Members(
        images=[str(_id(i, "members.images")) for i in members.images],
        files=[str(_id(i, "members.files")) for i in members.files],
        tables=[str(_id(i, "members.tables")) for i in members.tables],
        datasets=[str(_id(i, "members.datasets")) for i in members.datasets],
    )
    try:
        found.check()
    except InvalidDataset as e:
        raise _error(ErrorCode.BAD_INPUT, str(e)) from None
    return found


class _Refusals:
    """Catalogue errors as GraphQL errors (their messages never name other users' data)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, e: BaseException | None, tb: object) -> None:
        if e is None:
            return
        if isinstance(e, cat.NotFound):
            raise _not_found(e) from None
        if isinstance(e, PermissionError):
            raise _error(ErrorCode.FORBIDDEN, str(e)) from None
        if isinstance(e, (InvalidRoi, InvalidDataset, LookupError)):
            raise _error(ErrorCode.BAD_INPUT, str(e)) from None


# -- queries ---------------------------------------------------------------------------------------


@strawberry.type
class CollectionQuery:
    @strawberry.field(description="One ROI of an image you may see.")
    async def roi(self, info: Info, id: strawberry.ID) -> RoiType:
        with _Refusals():
            found = await _rois(info).get(_user(info), str(_id(id, "id")))
        return RoiType.of(found, _user(info))

    @strawberry.field(description="ROIs of images you may see, newest first (pages of <= 100).")
    async def rois(
        self, info: Info, filter: RoiFilter | None = None, pagination: Pagination | None = None
    ) -> list[RoiType]:
        limit, offset = _page(info, pagination)
        if limit > MAX_PAGE:  # each ROI may carry 30,000 numbers
            raise _error(ErrorCode.BAD_INPUT, f"pagination.limit must be 1 to {MAX_PAGE} for rois")
        f = filter or RoiFilter()
        with _Refusals():
            if f.label is not None:
                check_label(f.label)
            found = await _rois(info).find(
                _user(info),
                image_id=_id(f.image, "filter.image"),
                label=f.label,
                kind=None if f.kind is None else f.kind[:16],
                limit=limit,
                offset=offset,
            )
        return [RoiType.of(r, _user(info)) for r in found]

    @strawberry.field(description="One dataset you may see.")
    async def dataset(self, info: Info, id: strawberry.ID) -> DatasetType:
        with _Refusals():
            row = await _datasets(info).visible(_user(info), str(_id(id, "id")))
        return DatasetType.of(row, _user(info))

    @strawberry.field(description="Datasets you may see, newest first.")
    async def datasets(
        self,
        info: Info,
        filter: DatasetFilter | None = None,
        pagination: Pagination | None = None,
    ) -> list[DatasetType]:
        limit, offset = _page(info, pagination)
        f = filter or DatasetFilter()
        rows = await _datasets(info).find(
            _user(info),
            name=f.name,
            name_contains=f.name_contains,
            parent=_id(f.parent, "filter.parent"),
            root=f.root,
            mine=f.mine,
            limit=limit,
            offset=offset,
        )
        return [DatasetType.of(r, _user(info)) for r in rows]

    @strawberry.field(description="The images of a dataset that you may see, latest added first.")
    async def dataset_images(
        self, info: Info, id: strawberry.ID, pagination: Pagination | None = None
    ) -> list[ImageType]:
        limit, offset = _page(info, pagination)
        storage, user = _storage(info), _user(info)
        with _Refusals():
            rows = await _datasets(info).images(user, str(_id(id, "id")), limit, offset)
        tags = await storage.catalogue.tags([r.id for r in rows])
        return [ImageType.of(r, user, tags.get(r.id, [])) for r in rows]

    @strawberry.field(description="The files of a dataset that you may see, latest added first.")
    async def dataset_files(
        self, info: Info, id: strawberry.ID, pagination: Pagination | None = None
    ) -> list[FileType]:
        limit, offset = _page(info, pagination)
        with _Refusals():
            rows = await _datasets(info).files(_user(info), str(_id(id, "id")), limit, offset)
        return [FileType.of(r, _user(info)) for r in rows]

    @strawberry.field(description="The tables of a dataset that you may see, latest added first.")
    async def dataset_tables(
        self, info: Info, id: strawberry.ID, pagination: Pagination | None = None
    ) -> list[TableType]:
        limit, offset = _page(info, pagination)
        with _Refusals():
            rows = await _datasets(info).tables(_user(info), str(_id(id, "id")), limit, offset)
        return await _tables(info, rows)


# -- mutations -------------------------------------------------------------------------------------


@strawberry.type
class CollectionMutation:
    @strawberry.mutation(description="Draw a ROI on an image you may see.")
    async def create_roi(self, info: Info, input: RoiInput) -> RoiType:
        with _Refusals():
            found = await _rois(info).create(
                _user(info),
                str(_id(input.image, "input.image")),
                input.kind,
                [list(v) for v in input.vectors],
                input.label,
                _id(input.mask, "input.mask"),
            )
        return RoiType.of(found, _user(info))

    @strawberry.mutation(description="Delete a ROI you drew, or one on an image you own.")
    async def delete_roi(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        with _Refusals():
            await _rois(info).delete(_user(info), str(_id(id, "id")))
        return id

    @strawberry.mutation(
        description="Your dataset of this name under parent (or at the root); made if missing."
    )
    async def ensure_dataset(
        self, info: Info, name: str, parent: strawberry.ID | None = None
    ) -> DatasetType:
        with _Refusals():
            row = await _datasets(info).ensure(_user(info), name, _id(parent, "parent"))
        return DatasetType.of(row, _user(info))

    @strawberry.mutation(
        description="Add images, files and tables you may see to your dataset; move datasets "
        "into it."
    )
    async def add_to_dataset(
        self, info: Info, id: strawberry.ID, members: DatasetMembers
    ) -> DatasetType:
        with _Refusals():
            row = await _datasets(info).add(_user(info), str(_id(id, "id")), _members(members))
        if members.datasets:  # a dataset moved out of a shared tree passes nothing on any more
            _storage(info).access.forget_reads()
        return DatasetType.of(row, _user(info))

    @strawberry.mutation(
        description="Take members out of your dataset (they are not deleted); a dataset taken "
        "out becomes a root dataset."
    )
    async def remove_from_dataset(
        self, info: Info, id: strawberry.ID, members: DatasetMembers
    ) -> DatasetType:
        with _Refusals():
            row = await _datasets(info).remove(_user(info), str(_id(id, "id")), _members(members))
        _storage(info).access.forget_reads()  # what the dataset passed on ends now
        return DatasetType.of(row, _user(info))

    @strawberry.mutation(description="Delete your dataset and its children (not their members).")
    async def delete_dataset(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        with _Refusals():
            await _datasets(info).delete(_user(info), str(_id(id, "id")))
        _storage(info).access.forget_reads()
        return id

    @strawberry.mutation(
        description="Share your dataset, its children and the members you own (or stop)."
    )
    async def share_dataset(
        self,
        info: Info,
        id: strawberry.ID,
        users: list[str] | None = None,
        everyone: bool = False,
        unshare: bool = False,
    ) -> Sharing:
        with _Refusals():
            shared, names = await _datasets(info).share(
                _user(info), str(_id(id, "id")), users or [], everyone, remove=unshare
            )
        if unshare:
            _storage(info).access.forget_reads()  # read grants of those unshared stop at once
        return Sharing(everyone=shared, users=names)
