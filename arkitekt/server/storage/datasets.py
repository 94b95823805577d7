"""Datasets in the database: named trees of images, files, tables and child datasets, shared as
a unit.

The access rules (decided here, documented in docs/security.md):

- a dataset is visible to its owner and to those it, or one of its ancestors, is shared with;
  its children belong to the same owner (only the owner creates or moves datasets into it);
- only the owner changes it (name, members, children, sharing, deletion) and only with what
  they may see themselves;
- a share of a dataset makes visible those members **the dataset's owner owns**; an image
  someone else shared with the owner may sit in the dataset (the owner and those it is shared
  with directly see it there) but the dataset never passes it on: nobody gains access through
  a dataset to anything its owner could not have shared directly;
- unsharing, removing a member, moving or deleting a dataset ends the access it gave at once
  (read-grant checks are cleared by the caller, as for images).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import new_id
from .catalogue import KIND_OF, NotFound, StorageCatalogue, _visible, change_shares
from .collection_models import (
    DATASET,
    MEMBERSHIPS,
    Dataset,
    DatasetFile,
    DatasetImage,
    DatasetTable,
    shared_dataset_ids,
)
from .models import READY, File, Image, StorageShare, Table

Row = TypeVar("Row", Image, File, Table)

MAX_NAME = 1024
MAX_DEPTH = 16
"""Levels of nesting, the root dataset being level 1."""
MAX_MEMBERS = 10_000
"""Images, files, tables and child datasets in one dataset, together."""
MAX_DATASETS = 10_000
"""Datasets one user may own."""
MAX_CHANGE = 1000
"""Members one add or remove may name."""


class InvalidDataset(ValueError):
    """A request about a dataset that cannot be done; the message names the argument and why."""


def check_name(name: str) -> None:
    if not name or not name.strip() or len(name) > MAX_NAME or "\x00" in name:
        raise InvalidDataset(f"name must be 1 to {MAX_NAME} characters (no NUL)")


@dataclass(frozen=True)
class Members:
    images: Sequence[str] = ()
    files: Sequence[str] = ()
    datasets: Sequence[str] = ()
    tables: Sequence[str] = ()

    def check(self) -> None:
        total = len(self.images) + len(self.files) + len(self.tables) + len(self.datasets)
        if total > MAX_CHANGE:
            raise InvalidDataset(f"members: at most {MAX_CHANGE} per change, got {total}")


def _visible_members(
    model: type[Image] | type[File] | type[Table], user_id: str, *columns: Any
) -> Select[Any]:
    """``columns`` of the dataset links of one member kind whose members are ready and visible
    to this user: the rule both listing and counting a dataset's members follow."""
    link, member_id = MEMBERSHIPS[model]
    return (
        select(*columns)
        .select_from(model)
        .join(link, member_id == model.id)
        .where(model.status == READY, _visible(model, KIND_OF[model], user_id))
    )


class DatasetCatalogue:
    def __init__(self, catalogue: StorageCatalogue) -> None:
        self.catalogue = catalogue
        self.db = catalogue.db

    # -- reading ---------------------------------------------------------------------------------

    def _visible(self, user_id: str) -> Any:
        return or_(Dataset.owner_id == user_id, Dataset.id.in_(shared_dataset_ids(user_id)))

    async def visible(self, user_id: str, dataset_id: str) -> Dataset:
        async with self.db.new_session() as s:
            row = await s.scalar(
                select(Dataset).where(Dataset.id == dataset_id, self._visible(user_id))
            )
        if row is None:
            raise NotFound(f"no dataset {dataset_id[:40]!r} (or it is not shared with you)")
        return row

    async def owned(self, user_id: str, dataset_id: str) -> Dataset:
        row = await self.visible(user_id, dataset_id)
        if row.owner_id != user_id:
            raise PermissionError(f"only the owner of dataset {dataset_id!r} may change it")
        return row

    async def find(
        self,
        user_id: str,
        *,
        name: str | None,
        name_contains: str | None,
        parent: str | None,
        root: bool,
        mine: bool,
        limit: int,
        offset: int,
    ) -> list[Dataset]:
        query = select(Dataset).where(self._visible(user_id))
        if mine:
            query = query.where(Dataset.owner_id == user_id)
        if name is not None:
            query = query.where(Dataset.name == name)
        if name_contains:
            query = query.where(func.lower(Dataset.name).contains(name_contains.lower()))
        if parent is not None:
            query = query.where(Dataset.parent_id == parent)
        if root:
            query = query.where(Dataset.parent_id.is_(None))
        query = query.order_by(Dataset.created_at.desc(), Dataset.id).limit(limit).offset(offset)
        async with self.db.new_session() as s:
            return list(await s.scalars(query))

    async def images(self, user_id: str, dataset_id: str, limit: int, offset: int) -> list[Image]:
        """The dataset's images this user may see (a share passes on only the owner's own)."""
        return await self._members(Image, user_id, dataset_id, limit, offset)

    async def files(self, user_id: str, dataset_id: str, limit: int, offset: int) -> list[File]:
        return await self._members(File, user_id, dataset_id, limit, offset)

    async def tables(self, user_id: str, dataset_id: str, limit: int, offset: int) -> list[Table]:
        return await self._members(Table, user_id, dataset_id, limit, offset)

    async def _members(
        self, model: type[Row], user_id: str, dataset_id: str, limit: int, offset: int
    ) -> list[Row]:
        """Ready members of one kind that this user may see, latest added first."""
        await self.visible(user_id, dataset_id)
        link, _ = MEMBERSHIPS[model]
        query = (
            _visible_members(model, user_id, model)
            .where(link.dataset_id == dataset_id)
            .order_by(link.added_at.desc(), model.id)
            .limit(limit)
            .offset(offset)
        )
        async with self.db.new_session() as s:
            return list(await s.scalars(query))

    async def member_counts(
        self, user_id: str, dataset_ids: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """For each of ``dataset_ids`` (datasets this user may see), how many ready members of
        each kind ("images", "files", "tables", "datasets") this user may see in it: the same
        rule as listing them, in one query per kind."""
        counts: dict[str, dict[str, int]] = {
            d: {"images": 0, "files": 0, "tables": 0, "datasets": 0} for d in dataset_ids
        }
        if not dataset_ids:
            return counts
        kinds: list[tuple[type[Image] | type[File] | type[Table], str]] = [
            (Image, "images"),
            (File, "files"),
            (Table, "tables"),
        ]
        async with self.db.new_session() as s:
            for model, kind in kinds:
                link, _ = MEMBERSHIPS[model]
                query = (
                    _visible_members(model, user_id, link.dataset_id, func.count())
                    .where(link.dataset_id.in_(dataset_ids))
                    .group_by(link.dataset_id)
                )
                for dataset_id, count in await s.execute(query):
                    counts[dataset_id][kind] = int(count)
            children = (
                select(Dataset.parent_id, func.count())
                .where(Dataset.parent_id.in_(dataset_ids), self._visible(user_id))
                .group_by(Dataset.parent_id)
            )
            for parent_id, count in await s.execute(children):
                counts[str(parent_id)]["datasets"] = int(count)
        return counts

    # -- the tree --------------------------------------------------------------------------------

    async def _ancestors(self, s: AsyncSession, dataset_id: str) -> list[str]:
        """``dataset_id`` and its ancestors, up to the root (at most MAX_DEPTH + 1 of them)."""
        found = [dataset_id]
        current: str | None = dataset_id
        while current is not None and len(found) <= MAX_DEPTH:
            current = await s.scalar(select(Dataset.parent_id).where(Dataset.id == current))
            if current is not None:
                found.append(current)
        return found

    async def _subtree(self, s: AsyncSession, dataset_id: str) -> list[list[str]]:
        """The levels of the tree below and including ``dataset_id`` (bounded by MAX_DEPTH)."""
        levels = [[dataset_id]]
        while len(levels) <= MAX_DEPTH:
            below = list(
                await s.scalars(select(Dataset.id).where(Dataset.parent_id.in_(levels[-1])))
            )
            if not below:
                break
            levels.append(below)
        return levels

    async def _count(self, s: AsyncSession, dataset_id: str) -> int:
        total = 0
        for query in (
            select(func.count()).where(DatasetImage.dataset_id == dataset_id),
            select(func.count()).where(DatasetFile.dataset_id == dataset_id),
            select(func.count()).where(DatasetTable.dataset_id == dataset_id),
            select(func.count()).where(Dataset.parent_id == dataset_id),
        ):
            total += int(await s.scalar(query) or 0)
        return total

    # -- changing --------------------------------------------------------------------------------

    async def ensure(self, user_id: str, name: str, parent_id: str | None) -> Dataset:
        """The user's dataset of this name under ``parent_id`` (None: at the root), created
        when there is none."""
        check_name(name)
        if parent_id is not None:
            await self.owned(user_id, parent_id)
        async with self.db.new_session() as s, s.begin():
            place = (
                Dataset.parent_id.is_(None) if parent_id is None else Dataset.parent_id == parent_id
            )
            existing = await s.scalar(
                select(Dataset)
                .where(Dataset.owner_id == user_id, Dataset.name == name, place)
                .order_by(Dataset.created_at)
                .limit(1)
            )
            if existing is not None:
                return existing
            owned = await s.scalar(select(func.count()).where(Dataset.owner_id == user_id))
            if int(owned or 0) >= MAX_DATASETS:
                raise InvalidDataset(f"you own {MAX_DATASETS} datasets already: the most allowed")
            if parent_id is not None:
                if len(await self._ancestors(s, parent_id)) >= MAX_DEPTH:
                    raise InvalidDataset(f"parent: datasets nest at most {MAX_DEPTH} levels deep")
                if await self._count(s, parent_id) >= MAX_MEMBERS:
                    raise InvalidDataset(f"parent: it holds {MAX_MEMBERS} members already")
            row = Dataset(id=new_id(), owner_id=user_id, name=name, parent_id=parent_id)
            s.add(row)
        return row

    async def add(self, user_id: str, dataset_id: str, members: Members) -> Dataset:
        """Add images, files and tables the user may see, and move datasets of theirs into
        this one."""
        members.check()
        row = await self.owned(user_id, dataset_id)
        for image_id in dict.fromkeys(members.images):
            await self._seen(Image, image_id, user_id, "images")
        for file_id in dict.fromkeys(members.files):
            await self._seen(File, file_id, user_id, "files")
        for table_id in dict.fromkeys(members.tables):
            await self._seen(Table, table_id, user_id, "tables")
        children = list(dict.fromkeys(members.datasets))
        for child in children:
            try:
                await self.owned(user_id, child)
            except (NotFound, PermissionError):
                raise InvalidDataset(f"datasets: no dataset {child[:40]!r} of yours") from None
        async with self.db.new_session() as s, s.begin():
            have_images = set(
                await s.scalars(
                    select(DatasetImage.image_id).where(DatasetImage.dataset_id == dataset_id)
                )
            )
            have_files = set(
                await s.scalars(
                    select(DatasetFile.file_id).where(DatasetFile.dataset_id == dataset_id)
                )
            )
            have_tables = set(
                await s.scalars(
                    select(DatasetTable.table_id).where(DatasetTable.dataset_id == dataset_id)
                )
            )
            new_images = [i for i in dict.fromkeys(members.images) if i not in have_images]
            new_files = [f for f in dict.fromkeys(members.files) if f not in have_files]
            new_tables = [t for t in dict.fromkeys(members.tables) if t not in have_tables]
            count = await self._count(s, dataset_id)
            added = len(new_images) + len(new_files) + len(new_tables) + len(children)
            if count + added > MAX_MEMBERS:
                raise InvalidDataset(f"a dataset holds at most {MAX_MEMBERS} members")
            above = await self._ancestors(s, dataset_id)
            for child in children:
                if child in above:
                    raise InvalidDataset(
                        f"datasets: {child!r} contains this dataset; moving it here would "
                        "make a cycle"
                    )
                if len(above) + len(await self._subtree(s, child)) > MAX_DEPTH:
                    raise InvalidDataset(f"datasets: datasets nest at most {MAX_DEPTH} levels")
            s.add_all(DatasetImage(dataset_id=dataset_id, image_id=i) for i in new_images)
            s.add_all(DatasetFile(dataset_id=dataset_id, file_id=f) for f in new_files)
            s.add_all(DatasetTable(dataset_id=dataset_id, table_id=t) for t in new_tables)
            if children:
                await s.execute(
                    update(Dataset).where(Dataset.id.in_(children)).values(parent_id=dataset_id)
                )
        return row

    async def _seen(self, model: type[Row], object_id: str, user_id: str, argument: str) -> None:
        try:
            await self.catalogue.visible(model, object_id, user_id)
        except NotFound:
            kind = KIND_OF[model]
            raise InvalidDataset(
                f"{argument}: no {kind} {object_id[:40]!r} (or it is not shared with you)"
            ) from None

    async def remove(self, user_id: str, dataset_id: str, members: Members) -> Dataset:
        """Take members out (the objects stay); a child dataset taken out becomes a root."""
        members.check()
        row = await self.owned(user_id, dataset_id)
        async with self.db.new_session() as s, s.begin():
            if members.images:
                await s.execute(
                    delete(DatasetImage).where(
                        DatasetImage.dataset_id == dataset_id,
                        DatasetImage.image_id.in_(list(members.images)),
                    )
                )
            if members.files:
                await s.execute(
                    delete(DatasetFile).where(
                        DatasetFile.dataset_id == dataset_id,
                        DatasetFile.file_id.in_(list(members.files)),
                    )
                )
            if members.tables:
                await s.execute(
                    delete(DatasetTable).where(
                        DatasetTable.dataset_id == dataset_id,
                        DatasetTable.table_id.in_(list(members.tables)),
                    )
                )
            if members.datasets:
                await s.execute(
                    update(Dataset)
                    .where(Dataset.parent_id == dataset_id, Dataset.id.in_(list(members.datasets)))
                    .values(parent_id=None)
                )
        return row

    async def delete(self, user_id: str, dataset_id: str) -> None:
        """Delete a dataset and its children (their members stay where else they are)."""
        await self.owned(user_id, dataset_id)
        async with self.db.new_session() as s, s.begin():
            tree = [i for level in await self._subtree(s, dataset_id) for i in level]
            await s.execute(
                delete(StorageShare).where(
                    StorageShare.kind == DATASET, StorageShare.object_id.in_(tree)
                )
            )
            for level in reversed(await self._subtree(s, dataset_id)):
                await s.execute(delete(Dataset).where(Dataset.id.in_(level)))

    async def share(
        self,
        user_id: str,
        dataset_id: str,
        usernames: Sequence[str],
        everyone: bool,
        *,
        remove: bool,
    ) -> tuple[bool, list[str]]:
        """Share (or unshare) with users/everyone; returns (everyone, usernames) afterwards."""
        await self.owned(user_id, dataset_id)
        return await change_shares(
            self.db, Dataset, DATASET, dataset_id, user_id, usernames, everyone, remove=remove
        )
