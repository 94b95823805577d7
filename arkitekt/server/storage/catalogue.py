"""Images, files and tables in the database: uploads, visibility, sharing, deletion, sweeping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from arkitekt.protocol.ngff import FORMAT_ARRAY

from ..db import Database
from ..models import User, new_id, utcnow
from .collection_models import via_datasets
from .models import (
    DISCARDED,
    FINISHING,
    READY,
    UPLOADING,
    File,
    Image,
    ImageTag,
    StorageShare,
    Table,
)

Row = TypeVar("Row", Image, File, Table)
Model = type[Image] | type[File] | type[Table]
IMAGE = "image"
FILE = "file"
TABLE = "table"
KIND_OF: dict[Model, str] = {Image: IMAGE, File: FILE, Table: TABLE}
MODELS: tuple[Model, ...] = (Image, File, Table)


class NotFound(LookupError):
    """No such object, or not one this user may see (the same answer, on purpose)."""


def _visible(model: Model, kind: str, user_id: str, only: Sequence[str] | None = None) -> Any:
    """Whether ``user_id`` may see a row of ``model``; ``only``: the ids a lookup asks about
    (their dataset links alone are then consulted)."""
    return or_(
        model.owner_id == user_id,
        model.shared_with_everyone.is_(True),
        exists().where(
            StorageShare.kind == kind,
            StorageShare.object_id == model.id,
            StorageShare.user_id == user_id,
        ),
        via_datasets(model, user_id, only),  # a dataset share: what its owner owns in it
    )


@dataclass(frozen=True)
class ImageFilter:
    name: str | None = None
    name_contains: str | None = None
    tags: Sequence[str] = ()
    mine: bool = False
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


@dataclass(frozen=True)
class FileFilter:
    name: str | None = None
    name_contains: str | None = None
    mine: bool = False


@dataclass(frozen=True)
class TableFilter:
    name: str | None = None
    name_contains: str | None = None
    mine: bool = False
    image_id: str | None = None
    roi_id: str | None = None


async def change_shares(
    db: Database,
    model: type[Any],
    kind: str,
    object_id: str,
    owner_id: str,
    usernames: Sequence[str],
    everyone: bool,
    *,
    remove: bool,
) -> tuple[bool, list[str]]:
    """Share (or unshare) a row the caller has checked ``owner_id`` owns, with users by name
    and/or everyone; returns (everyone, usernames) afterwards. Images, files, tables and
    datasets share this (their rows have ``shared_with_everyone``; users go in
    ``storage_shares`` under ``kind``)."""
    async with db.new_session() as s, s.begin():
        users = list(await s.scalars(select(User).where(User.username.in_(usernames))))
        unknown = sorted(set(usernames) - {u.username for u in users})
        if unknown:
            raise LookupError(f"no such user: {', '.join(unknown)}")
        row = await s.get(model, object_id)
        assert row is not None
        if everyone:
            row.shared_with_everyone = not remove
        for user in users:
            if user.id == owner_id:
                continue
            share = await s.get(StorageShare, (kind, object_id, user.id))
            if remove and share is not None:
                await s.delete(share)
            elif not remove and share is None:
                s.add(StorageShare(kind=kind, object_id=object_id, user_id=user.id))
        await s.flush()
        names = list(
            await s.scalars(
                select(User.username)
                .join(StorageShare, StorageShare.user_id == User.id)
                .where(StorageShare.kind == kind, StorageShare.object_id == object_id)
                .order_by(User.username)
            )
        )
        return bool(row.shared_with_everyone), names


class StorageCatalogue:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- images ----------------------------------------------------------------------------------

    async def start_image(
        self,
        *,
        owner_id: str,
        name: str,
        shape: list[int],
        dims: list[str],
        dtype: str,
        chunks: list[int],
        tags: list[str],
        datalayer: str,
        deadline: dt.datetime,
        format: str = FORMAT_ARRAY,
        levels: list[dict[str, Any]] | None = None,
    ) -> Image:
        image_id = new_id()
        row = Image(
            id=image_id,
            owner_id=owner_id,
            name=name,
            store=f"images/{image_id}",
            datalayer=datalayer,
            status=UPLOADING,
            shape=shape,
            dims=dims,
            dtype=dtype,
            chunks=chunks,
            upload_deadline=deadline,
            format=format,
            levels=levels,
        )
        async with self.db.new_session() as s, s.begin():
            s.add(row)
            s.add_all(ImageTag(image_id=image_id, tag=tag) for tag in dict.fromkeys(tags))
        return row

    async def upload(self, model: type[Row], object_id: str, owner_id: str) -> Row:
        """An upload in progress of this owner (else :class:`NotFound`)."""
        async with self.db.new_session() as s:
            row = await s.get(model, object_id)
        if row is None or row.owner_id != owner_id or row.status != UPLOADING:
            raise NotFound(f"no upload {object_id!r} in progress")
        return row

    async def extend_upload(self, model: Model, object_id: str, deadline: dt.datetime) -> None:
        async with self.db.new_session() as s, s.begin():
            await s.execute(
                update(model).where(model.id == object_id).values(upload_deadline=deadline)
            )

    async def finish(
        self,
        model: type[Row],
        object_id: str,
        size_bytes: int,
        settle_after: dt.datetime | None = None,
        verified: dict[str, Any] | None = None,
    ) -> Row:
        """Make an upload visible. ``settle_after``: when its write grants (which could not be
        revoked) have expired and it is checked once more (see ``unsettled``). ``verified``:
        columns to set from what finish checked (an image's levels, scale, units, channels)."""
        async with self.db.new_session() as s, s.begin():
            row = await s.get(model, object_id)
            if row is None or row.status != FINISHING:
                raise NotFound(f"no upload {object_id!r} in progress")
            row.status = READY
            for column, value in (verified or {}).items():
                setattr(row, column, value)
            row.size_bytes = size_bytes
            row.finished_at = utcnow()
            row.upload_deadline = settle_after
        return row

    async def begin_finish(self, model: Model, object_id: str) -> None:
        """Mark an upload as being verified: from now on its write grants write nothing."""
        async with self.db.new_session() as s, s.begin():
            result = await s.execute(
                update(model)
                .where(model.id == object_id, model.status == UPLOADING)
                .values(status=FINISHING)
            )
        if getattr(result, "rowcount", 1) != 1:
            raise NotFound(f"no upload {object_id!r} in progress")

    async def unsettled(self, now: dt.datetime) -> list[Image | File | Table]:
        """Finished uploads whose last write grant has expired by ``now``, not yet checked again
        (a ready object's ``upload_deadline`` is when to settle it)."""
        found: list[Image | File | Table] = []
        async with self.db.new_session() as s:
            for model in MODELS:
                found.extend(
                    await s.scalars(
                        select(model).where(model.status == READY, model.upload_deadline < now)
                    )
                )
        return found

    async def settled(self, model: Model, object_id: str, size_bytes: int) -> None:
        async with self.db.new_session() as s, s.begin():
            await s.execute(
                update(model)
                .where(model.id == object_id, model.status == READY)
                .values(size_bytes=size_bytes, upload_deadline=None)
            )

    async def remove(self, model: Model, object_id: str) -> None:
        kind = KIND_OF[model]
        async with self.db.new_session() as s, s.begin():
            await s.execute(
                delete(StorageShare).where(
                    StorageShare.kind == kind, StorageShare.object_id == object_id
                )
            )
            await s.execute(delete(model).where(model.id == object_id))

    async def tombstone(self, model: Model, object_id: str, until: dt.datetime) -> None:
        """Make an object invisible now; the sweeper removes it after ``until``."""
        kind = KIND_OF[model]
        async with self.db.new_session() as s, s.begin():
            await s.execute(
                delete(StorageShare).where(
                    StorageShare.kind == kind, StorageShare.object_id == object_id
                )
            )
            await s.execute(
                update(model)
                .where(model.id == object_id)
                .values(status=DISCARDED, upload_deadline=until, shared_with_everyone=False)
            )

    async def visible(self, model: type[Row], object_id: str, user_id: str) -> Row:
        kind = KIND_OF[model]
        async with self.db.new_session() as s:
            row = await s.scalar(
                select(model).where(
                    model.id == object_id,
                    model.status == READY,
                    _visible(model, kind, user_id, [object_id]),
                )
            )
        if row is None:
            raise NotFound(f"no {kind} {object_id!r} (or it is not shared with you)")
        return row

    async def visible_ids(self, model: Model, object_ids: set[str], user_id: str) -> set[str]:
        """Which of ``object_ids`` this user may see (ready ones only)."""
        if not object_ids:
            return set()
        async with self.db.new_session() as s:
            found = await s.scalars(
                select(model.id).where(
                    model.id.in_(object_ids),
                    model.status == READY,
                    _visible(model, KIND_OF[model], user_id, list(object_ids)),
                )
            )
            return set(found)

    async def owned(self, model: type[Row], object_id: str, user_id: str) -> Row:
        row = await self.visible(model, object_id, user_id)
        if row.owner_id != user_id:
            kind = KIND_OF[model]
            raise PermissionError(f"only the owner of {kind} {object_id!r} may do this")
        return row

    async def images(
        self, user_id: str, where: ImageFilter, limit: int, offset: int
    ) -> list[Image]:
        query = select(Image).where(Image.status == READY, _visible(Image, IMAGE, user_id))
        if where.mine:
            query = query.where(Image.owner_id == user_id)
        if where.name is not None:
            query = query.where(Image.name == where.name)
        if where.name_contains:
            query = query.where(func.lower(Image.name).contains(where.name_contains.lower()))
        for tag in dict.fromkeys(where.tags):
            query = query.where(exists().where(ImageTag.image_id == Image.id, ImageTag.tag == tag))
        if where.created_after is not None:
            query = query.where(Image.created_at > where.created_after)
        if where.created_before is not None:
            query = query.where(Image.created_at < where.created_before)
        query = query.order_by(Image.created_at.desc(), Image.id).limit(limit).offset(offset)
        async with self.db.new_session() as s:
            return list(await s.scalars(query))

    async def tags(self, image_ids: Sequence[str]) -> dict[str, list[str]]:
        if not image_ids:
            return {}
        async with self.db.new_session() as s:
            rows = await s.execute(
                select(ImageTag.image_id, ImageTag.tag)
                .where(ImageTag.image_id.in_(image_ids))
                .order_by(ImageTag.tag)
            )
        found: dict[str, list[str]] = {}
        for image_id, tag in rows:
            found.setdefault(image_id, []).append(tag)
        return found

    # -- files -----------------------------------------------------------------------------------

    async def start_file(
        self,
        *,
        owner_id: str,
        name: str,
        size_bytes: int,
        content_type: str,
        datalayer: str,
        deadline: dt.datetime,
    ) -> File:
        file_id = new_id()
        row = File(
            id=file_id,
            owner_id=owner_id,
            name=name,
            store=f"files/{file_id}",
            datalayer=datalayer,
            status=UPLOADING,
            size_bytes=size_bytes,
            content_type=content_type,
            upload_deadline=deadline,
        )
        async with self.db.new_session() as s, s.begin():
            s.add(row)
        return row

    async def files(self, user_id: str, where: FileFilter, limit: int, offset: int) -> list[File]:
        query = select(File).where(File.status == READY, _visible(File, FILE, user_id))
        if where.mine:
            query = query.where(File.owner_id == user_id)
        if where.name is not None:
            query = query.where(File.name == where.name)
        if where.name_contains:
            query = query.where(func.lower(File.name).contains(where.name_contains.lower()))
        query = query.order_by(File.created_at.desc(), File.id).limit(limit).offset(offset)
        async with self.db.new_session() as s:
            return list(await s.scalars(query))

    # -- tables ----------------------------------------------------------------------------------

    async def start_table(
        self,
        *,
        owner_id: str,
        name: str,
        size_bytes: int,
        image_id: str | None,
        roi_id: str | None,
        datalayer: str,
        deadline: dt.datetime,
    ) -> Table:
        """Record a table upload (``image_id``, ``roi_id``: ones the owner may see, checked by
        the caller; :class:`NotFound` when either was deleted since)."""
        table_id = new_id()
        row = Table(
            id=table_id,
            owner_id=owner_id,
            name=name,
            store=f"tables/{table_id}",
            datalayer=datalayer,
            status=UPLOADING,
            size_bytes=size_bytes,
            image_id=image_id,
            roi_id=roi_id,
            upload_deadline=deadline,
        )
        try:
            async with self.db.new_session() as s, s.begin():
                s.add(row)
        except IntegrityError:  # the linked image or ROI went in the meantime
            raise NotFound("no such image or roi (it was deleted)") from None
        return row

    async def finish_table(
        self,
        object_id: str,
        *,
        size_bytes: int,
        columns: list[dict[str, str]],
        num_rows: int,
        num_row_groups: int,
        settle_after: dt.datetime | None,
    ) -> Table:
        """Make a verified table upload visible, with what its footer says."""
        async with self.db.new_session() as s, s.begin():
            row = await s.get(Table, object_id)
            if row is None or row.status != FINISHING:
                raise NotFound(f"no upload {object_id!r} in progress")
            row.status = READY
            row.size_bytes = size_bytes
            row.columns = columns
            row.num_rows = num_rows
            row.num_row_groups = num_row_groups
            row.finished_at = utcnow()
            row.upload_deadline = settle_after
        return row

    async def tables(
        self, user_id: str, where: TableFilter, limit: int, offset: int
    ) -> list[Table]:
        query = select(Table).where(Table.status == READY, _visible(Table, TABLE, user_id))
        if where.mine:
            query = query.where(Table.owner_id == user_id)
        if where.name is not None:
            query = query.where(Table.name == where.name)
        if where.name_contains:
            query = query.where(func.lower(Table.name).contains(where.name_contains.lower()))
        if where.image_id is not None:
            query = query.where(Table.image_id == where.image_id)
        if where.roi_id is not None:
            query = query.where(Table.roi_id == where.roi_id)
        query = query.order_by(Table.created_at.desc(), Table.id).limit(limit).offset(offset)
        async with self.db.new_session() as s:
            return list(await s.scalars(query))

    # -- sharing ---------------------------------------------------------------------------------

    async def share(
        self,
        model: type[Row],
        object_id: str,
        owner_id: str,
        usernames: Sequence[str],
        everyone: bool,
        *,
        remove: bool,
    ) -> tuple[bool, list[str]]:
        """Share (or unshare) with users/everyone; returns (everyone, usernames) afterwards."""
        await self.owned(model, object_id, owner_id)
        return await change_shares(
            self.db, model, KIND_OF[model], object_id, owner_id, usernames, everyone, remove=remove
        )

    # -- sweeping --------------------------------------------------------------------------------

    async def abandoned(self, now: dt.datetime) -> list[tuple[Model, str, str, str]]:
        """Uploads past their deadline, and discarded objects whose write grants have expired:
        (model, id, store prefix, status)."""
        found: list[tuple[Model, str, str, str]] = []
        async with self.db.new_session() as s:
            for model in MODELS:
                rows = await s.execute(
                    select(model.id, model.store, model.status).where(
                        model.status.in_((UPLOADING, FINISHING, DISCARDED)),
                        model.upload_deadline < now,
                    )
                )
                found.extend((model, i, store, status) for i, store, status in rows)
        return found
