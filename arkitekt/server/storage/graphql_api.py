"""``/mikro/graphql``: images and files — queries, uploads, grants, sharing (Strawberry).

An upload is three steps: ``requestImageUpload`` records the announced array (invisible while
``uploading``) and returns a write grant for its prefix; the client writes the zarr array
straight to the datalayer; ``finishImageUpload`` checks what was written against what was
announced and makes the image visible (or removes it, with its objects). ``abortUpload`` and the
server's sweeper remove uploads that never finish. Reads take a read grant (``imageGrant``).

Every resolver works for the authenticated user only: an image that is neither theirs nor
shared with them does not exist for them, and only its owner may share or delete it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NewType

import strawberry
from graphql import GraphQLError
from starlette.routing import BaseRoute, Route
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import Info

from arkitekt.protocol.error_codes import ErrorCode
from arkitekt.protocol.ngff import FORMAT_ARRAY, FORMATS

from ..graphql_app import EXTENSIONS, AuthenticatedGraphQL, Schema, claims_of, state_of
from ..graphql_limits import page_size
from ..http import origin_of
from . import catalogue as cat
from .datalayer import Grant
from .models import File as FileRow
from .models import Image as ImageRow
from .models import Table as TableRow
from .multiscales import Level, check_levels, recorded, verify_image
from .validation import (
    InvalidUpload,
    check_image_metadata,
    check_limits,
    check_name,
)

BigInt = NewType("BigInt", int)
"""An integer that may exceed 32 bits (GraphQL's Int has 32)."""

_SCALARS: dict[object, Any] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        serialize=int,
        parse_value=int,
        description="An integer that may exceed 32 bits (sizes in bytes).",
    )
}


def _error(code: ErrorCode, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code.value})


def _not_found(e: Exception) -> GraphQLError:
    return _error(ErrorCode.NOT_FOUND, str(e))


def _storage(info: Info) -> Any:
    return state_of(info).storage


def _user(info: Info) -> str:
    return claims_of(info).user_id


# -- types -----------------------------------------------------------------------------------------


@strawberry.type(
    name="Grant", description="Access to one key prefix of the datalayer, for a while."
)
class GrantType:
    kind: str = strawberry.field(description="'http' (the local datalayer) or 's3'.")
    prefix: str
    write: bool
    expires_at: dt.datetime
    url: str | None
    token: str | None
    path: str | None = strawberry.field(
        description="Always null: grants do not reveal the server's filesystem.",
        deprecation_reason="grants never carry a filesystem path",
    )
    bucket: str | None
    endpoint: str | None
    region: str | None
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None

    @classmethod
    def of(cls, grant: Grant) -> GrantType:
        return cls(
            kind=grant.kind,
            prefix=grant.prefix,
            write=grant.write,
            expires_at=dt.datetime.fromtimestamp(grant.expires_at, dt.UTC),
            url=grant.url,
            token=grant.token,
            path=None,
            bucket=grant.bucket,
            endpoint=grant.endpoint,
            region=grant.region,
            access_key_id=grant.access_key_id,
            secret_access_key=grant.secret_access_key,
            session_token=grant.session_token,
        )


@strawberry.type(
    name="Image",
    description="An n-dimensional image stored as OME-Zarr (NGFF 0.5 on zarr v3), or as a "
    "plain zarr v3 array for images stored before (format 'zarr-array').",
)
class ImageType:
    id: strawberry.ID
    name: str
    shape: list[int]
    dims: list[str]
    dtype: str
    chunks: list[int]
    tags: list[str]
    size_bytes: BigInt | None
    created_at: dt.datetime
    mine: bool
    shared_with_everyone: bool
    format: str = strawberry.field(description="'ome-zarr-0.5', 'zarr-group' or 'zarr-array'.")
    # small bounded JSON (checked at finish), not lists of objects: a page of images would
    # otherwise count each nested list as a full page in the query cost estimate
    levels: Any = strawberry.field(
        graphql_type=JSON,
        description="The verified levels, level 0 (the image) first: [{path, shape, chunks, "
        "scale}] (dims in the image's order); [] for 'zarr-array' images.",
    )
    scale: Any = strawberry.field(
        graphql_type=JSON, description="Pixel size per time/space dim: {dim: size}."
    )
    units: Any = strawberry.field(
        graphql_type=JSON, description="Unit per time/space dim: {dim: 'micrometer'}."
    )
    channels: Any = strawberry.field(
        graphql_type=JSON,
        description="The channel axis's channels: [{name, color '#RRGGBB', "
        "excitation_wavelength, emission_wavelength}] (nm).",
    )

    @classmethod
    def of(cls, row: ImageRow, user_id: str, tags: list[str]) -> ImageType:
        return cls(
            format=row.format,
            levels=list(row.levels or []),
            scale=dict(row.scale or {}),
            units=dict(row.units or {}),
            channels=list(row.channels or []),
            id=strawberry.ID(row.id),
            name=row.name,
            shape=list(row.shape),
            dims=list(row.dims),
            dtype=row.dtype,
            chunks=list(row.chunks),
            tags=tags,
            size_bytes=None if row.size_bytes is None else BigInt(row.size_bytes),
            created_at=row.created_at,
            mine=row.owner_id == user_id,
            shared_with_everyone=row.shared_with_everyone,
        )


@strawberry.type(name="File", description="A file, stored as one object.")
class FileType:
    id: strawberry.ID
    name: str
    size_bytes: BigInt
    content_type: str
    created_at: dt.datetime
    mine: bool
    shared_with_everyone: bool

    @classmethod
    def of(cls, row: FileRow, user_id: str) -> FileType:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            size_bytes=BigInt(row.size_bytes),
            content_type=row.content_type,
            created_at=row.created_at,
            mine=row.owner_id == user_id,
            shared_with_everyone=row.shared_with_everyone,
        )


@strawberry.type
class Upload:
    id: strawberry.ID
    grant: GrantType


@strawberry.type
class Sharing:
    everyone: bool
    users: list[str]


@strawberry.input(description="One level an upload will write (the image's dim order).")
class LevelInput:
    shape: list[int]
    chunks: list[int]


@strawberry.input
class ImageUploadInput:
    name: str
    shape: list[int]
    dims: list[str]
    dtype: str
    chunks: list[int]
    tags: list[str] = strawberry.field(default_factory=list)
    format: str = strawberry.field(
        default=FORMAT_ARRAY,
        description="'ome-zarr-0.5' or 'zarr-group' (a group, level 0 at '0'), or "
        "'zarr-array' (a plain array at the prefix, as older clients write).",
    )
    levels: list[LevelInput] | None = strawberry.field(
        default=None,
        description="Every level, level 0 (the image) first; default: level 0 only. Group "
        "formats only.",
    )


@strawberry.input
class FileUploadInput:
    name: str
    size_bytes: BigInt
    content_type: str = "application/octet-stream"


@strawberry.input
class ImageFilter:
    name: str | None = None
    name_contains: str | None = None
    tags: list[str] = strawberry.field(default_factory=list)
    mine: bool = False
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def _aware(when: dt.datetime | None, argument: str) -> dt.datetime | None:
    """A filter time with its time zone; without one, what was meant is unknown: refused."""
    if when is not None and when.tzinfo is None:
        raise _error(
            ErrorCode.BAD_INPUT,
            f"{argument} must carry a time zone (e.g. 2026-01-31T12:00:00Z), "
            f"got {when.isoformat()}",
        )
    return when


@strawberry.input
class FileFilter:
    name: str | None = None
    name_contains: str | None = None
    mine: bool = False


@strawberry.input
class Pagination:
    limit: int = 100
    offset: int = 0


def _page(info: Info, pagination: Pagination | None) -> tuple[int, int]:
    page = pagination or Pagination()
    page_size(info, page.limit, "pagination.limit")  # graphql_max_page_size
    if page.offset < 0:
        raise _error(ErrorCode.BAD_INPUT, "pagination.offset must not be negative")
    return page.limit, page.offset


async def _grant(info: Info, prefix: str, *, write: bool) -> GrantType:
    request = info.context["request"]
    grant = await _storage(info).datalayer.grant(
        prefix,
        write=write,
        subject=_user(info),
        base_url=origin_of(request).base,  # public_url when set: never the Host header
    )
    return GrantType.of(grant)


async def _image(info: Info, row: ImageRow) -> ImageType:
    tags = await _storage(info).catalogue.tags([row.id])
    return ImageType.of(row, _user(info), tags.get(row.id, []))


# -- queries ---------------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="One image you may see.")
    async def image(self, info: Info, id: strawberry.ID) -> ImageType:
        try:
            row = await _storage(info).catalogue.visible(ImageRow, str(id), _user(info))
        except cat.NotFound as e:
            raise _not_found(e) from None
        return await _image(info, row)

    @strawberry.field(description="Images you may see, newest first.")
    async def images(
        self, info: Info, filter: ImageFilter | None = None, pagination: Pagination | None = None
    ) -> list[ImageType]:
        limit, offset = _page(info, pagination)
        f = filter or ImageFilter()
        where = cat.ImageFilter(
            name=f.name,
            name_contains=f.name_contains,
            tags=tuple(f.tags),
            mine=f.mine,
            created_after=_aware(f.created_after, "filter.createdAfter"),
            created_before=_aware(f.created_before, "filter.createdBefore"),
        )
        storage, user = _storage(info), _user(info)
        rows = await storage.catalogue.images(user, where, limit, offset)
        tags = await storage.catalogue.tags([r.id for r in rows])
        return [ImageType.of(r, user, tags.get(r.id, [])) for r in rows]

    @strawberry.field(description="One file you may see.")
    async def file(self, info: Info, id: strawberry.ID) -> FileType:
        try:
            row = await _storage(info).catalogue.visible(FileRow, str(id), _user(info))
        except cat.NotFound as e:
            raise _not_found(e) from None
        return FileType.of(row, _user(info))

    @strawberry.field(description="Files you may see, newest first.")
    async def files(
        self, info: Info, filter: FileFilter | None = None, pagination: Pagination | None = None
    ) -> list[FileType]:
        limit, offset = _page(info, pagination)
        f = filter or FileFilter()
        where = cat.FileFilter(name=f.name, name_contains=f.name_contains, mine=f.mine)
        rows = await _storage(info).catalogue.files(_user(info), where, limit, offset)
        return [FileType.of(r, _user(info)) for r in rows]

    @strawberry.field(description="A read-only grant for an image's zarr array.")
    async def image_grant(self, info: Info, id: strawberry.ID) -> GrantType:
        try:
            row = await _storage(info).catalogue.visible(ImageRow, str(id), _user(info))
        except cat.NotFound as e:
            raise _not_found(e) from None
        return await _grant(info, row.store, write=False)

    @strawberry.field(description="A read-only grant for a file's content.")
    async def file_grant(self, info: Info, id: strawberry.ID) -> GrantType:
        try:
            row = await _storage(info).catalogue.visible(FileRow, str(id), _user(info))
        except cat.NotFound as e:
            raise _not_found(e) from None
        return await _grant(info, row.store, write=False)


# -- mutations -------------------------------------------------------------------------------------


async def _upload_row(info: Info, upload_id: str) -> ImageRow | FileRow | TableRow:
    catalogue = _storage(info).catalogue
    for model in cat.MODELS:
        try:
            row: ImageRow | FileRow | TableRow = await catalogue.upload(
                model, upload_id, _user(info)
            )
            return row
        except cat.NotFound:
            continue
    raise _error(ErrorCode.NOT_FOUND, f"no upload {upload_id!r} in progress")


async def _delete(info: Info, model: cat.Model, object_id: str) -> None:
    """Owner only: the record goes first (no grant works any more), then the bytes."""
    storage = _storage(info)
    try:
        row = await storage.catalogue.owned(model, object_id, _user(info))
    except cat.NotFound as e:
        raise _not_found(e) from None
    except PermissionError as e:
        raise _error(ErrorCode.FORBIDDEN, str(e)) from None
    await storage.discard(model, row.id, row.store)


async def _share(
    info: Info,
    model: cat.Model,
    object_id: str,
    users: list[str],
    everyone: bool,
    remove: bool,
) -> Sharing:
    storage = _storage(info)
    try:
        shared, names = await storage.catalogue.share(
            model, object_id, _user(info), users, everyone, remove=remove
        )
    except cat.NotFound as e:
        raise _not_found(e) from None
    except PermissionError as e:
        raise _error(ErrorCode.FORBIDDEN, str(e)) from None
    except LookupError as e:
        raise _error(ErrorCode.BAD_INPUT, str(e)) from None
    if remove:
        storage.access.forget_reads()  # read grants of those unshared stop at once
    return Sharing(everyone=shared, users=names)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Announce an image and get a grant to write its array.")
    async def request_image_upload(self, info: Info, input: ImageUploadInput) -> Upload:
        storage = _storage(info)
        levels: list[dict[str, Any]] | None = None
        try:
            check_image_metadata(
                input.name,
                input.shape,
                input.dims,
                input.dtype,
                input.chunks,
                input.tags,
                storage.limits,
            )
            if input.format not in FORMATS:
                raise InvalidUpload(f"format must be one of {list(FORMATS)}")
            if input.format == FORMAT_ARRAY and input.levels is not None:
                raise InvalidUpload("levels are for group formats only")
            if input.format != FORMAT_ARRAY:
                announced = [Level(list(lv.shape), list(lv.chunks)) for lv in input.levels or []]
                announced = announced or [Level(list(input.shape), list(input.chunks))]
                check_levels(input.shape, input.chunks, announced, storage.limits)
                for level in announced:
                    check_limits(level.shape, input.dtype, level.chunks, storage.limits)
                levels = [
                    {"path": str(k), "shape": lv.shape, "chunks": lv.chunks}
                    for k, lv in enumerate(announced)
                ]
        except InvalidUpload as e:
            raise _error(ErrorCode.BAD_INPUT, str(e)) from None
        row = await storage.catalogue.start_image(
            owner_id=_user(info),
            name=input.name,
            shape=list(input.shape),
            dims=list(input.dims),
            dtype=input.dtype,
            chunks=list(input.chunks),
            tags=list(input.tags),
            datalayer=storage.datalayer.name,
            deadline=storage.upload_deadline(),
            format=input.format,
            levels=levels,
        )
        return Upload(id=strawberry.ID(row.id), grant=await _grant(info, row.store, write=True))

    @strawberry.mutation(description="Announce a file and get a grant to write its content.")
    async def request_file_upload(self, info: Info, input: FileUploadInput) -> Upload:
        try:
            check_name(input.name)
        except InvalidUpload as e:
            raise _error(ErrorCode.BAD_INPUT, str(e)) from None
        if input.size_bytes < 0:
            raise _error(ErrorCode.BAD_INPUT, "size_bytes must not be negative")
        storage = _storage(info)
        row = await storage.catalogue.start_file(
            owner_id=_user(info),
            name=input.name,
            size_bytes=input.size_bytes,
            content_type=input.content_type[:255] or "application/octet-stream",
            datalayer=storage.datalayer.name,
            deadline=storage.upload_deadline(),
        )
        return Upload(id=strawberry.ID(row.id), grant=await _grant(info, row.store, write=True))

    @strawberry.mutation(description="A fresh write grant for an upload in progress.")
    async def renew_upload_grant(self, info: Info, id: strawberry.ID) -> GrantType:
        row = await _upload_row(info, str(id))
        storage = _storage(info)
        await storage.catalogue.extend_upload(type(row), row.id, storage.upload_deadline())
        return await _grant(info, row.store, write=True)

    @strawberry.mutation(description="Check the written array and make the image visible.")
    async def finish_image_upload(self, info: Info, id: strawberry.ID) -> ImageType:
        storage = _storage(info)
        try:
            row = await storage.catalogue.upload(ImageRow, str(id), _user(info))
        except cat.NotFound as e:
            raise _not_found(e) from None
        # from here the upload's grant writes no more: what is checked is what stays
        with storage.access.closed(row.store):
            try:
                await storage.catalogue.begin_finish(ImageRow, row.id)
            except cat.NotFound as e:  # finished or aborted meanwhile
                raise _not_found(e) from None
            try:
                verified = await verify_image(storage.datalayer, row, storage.limits)
            except InvalidUpload as e:
                await storage.discard(ImageRow, row.id, row.store)
                raise _error(ErrorCode.BAD_INPUT, f"{e}; the upload was discarded") from None
            _, size = await storage.datalayer.usage(row.store)
            columns = recorded(verified) if row.format != FORMAT_ARRAY else None
            try:
                row = await storage.catalogue.finish(
                    ImageRow, row.id, size, storage.settle_after(), verified=columns
                )
            except cat.NotFound as e:  # finished or aborted meanwhile
                raise _not_found(e) from None
        info.context["state"].metrics.upload_bytes.labels("image").inc(size)
        return await _image(info, row)

    @strawberry.mutation(description="Check the written content and make the file visible.")
    async def finish_file_upload(self, info: Info, id: strawberry.ID) -> FileType:
        storage = _storage(info)
        try:
            row = await storage.catalogue.upload(FileRow, str(id), _user(info))
        except cat.NotFound as e:
            raise _not_found(e) from None
        with storage.access.closed(row.store):
            try:
                await storage.catalogue.begin_finish(FileRow, row.id)
            except cat.NotFound as e:
                raise _not_found(e) from None
            _, size = await storage.datalayer.usage(row.store)
            if size != row.size_bytes:
                await storage.discard(FileRow, row.id, row.store)
                raise _error(
                    ErrorCode.BAD_INPUT,
                    f"{size} bytes were written, {row.size_bytes} announced; "
                    "the upload was discarded",
                )
            try:
                row = await storage.catalogue.finish(FileRow, row.id, size, storage.settle_after())
            except cat.NotFound as e:
                raise _not_found(e) from None
        info.context["state"].metrics.upload_bytes.labels("file").inc(size)
        return FileType.of(row, _user(info))

    @strawberry.mutation(description="Give up an upload: its record and objects are removed.")
    async def abort_upload(self, info: Info, id: strawberry.ID) -> bool:
        row = await _upload_row(info, str(id))
        storage = _storage(info)
        with storage.access.closed(row.store):
            await storage.discard(type(row), row.id, row.store)
        return True

    @strawberry.mutation(description="Delete one of your images and its data.")
    async def delete_image(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        await _delete(info, ImageRow, str(id))
        return id

    @strawberry.mutation(description="Delete one of your files and its content.")
    async def delete_file(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        await _delete(info, FileRow, str(id))
        return id

    @strawberry.mutation(description="Share one of your images with users or everyone (or stop).")
    async def share_image(
        self,
        info: Info,
        id: strawberry.ID,
        users: list[str] | None = None,
        everyone: bool = False,
        unshare: bool = False,
    ) -> Sharing:
        return await _share(info, ImageRow, str(id), users or [], everyone, unshare)

    @strawberry.mutation(description="Share one of your files with users or everyone (or stop).")
    async def share_file(
        self,
        info: Info,
        id: strawberry.ID,
        users: list[str] | None = None,
        everyone: bool = False,
        unshare: bool = False,
    ) -> Sharing:
        return await _share(info, FileRow, str(id), users or [], everyone, unshare)


_schema: Schema | None = None

if TYPE_CHECKING:
    schema: Schema


def build_schema() -> Schema:
    """The ``/mikro/graphql`` schema: images and files from here, ROIs and datasets from
    :mod:`.graphql_collections`, tables from :mod:`.graphql_tables`. Built on first use (also
    as ``graphql_api.schema``), so those modules may import this one's types, whichever is
    imported first."""
    global _schema
    if _schema is None:
        from .graphql_collections import CollectionMutation, CollectionQuery
        from .graphql_tables import TableMutation, TableQuery

        _schema = Schema(
            query=merge_types("Query", (Query, CollectionQuery, TableQuery)),
            mutation=merge_types("Mutation", (Mutation, CollectionMutation, TableMutation)),
            config=StrawberryConfig(scalar_map=_SCALARS),
            extensions=EXTENSIONS,
        )
    return _schema


def __getattr__(name: str) -> Any:
    if name == "schema":
        return build_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def routes() -> list[BaseRoute]:
    app = AuthenticatedGraphQL(build_schema())
    return [Route("/mikro/graphql", app, methods=["GET", "POST"])]
