"""Database models of what groups and annotates stored data: regions of interest (ROIs) on an
image, and datasets (named trees of images, files, tables and child datasets).

Neither has bytes of its own. A ROI lives and dies with its image (``ON DELETE CASCADE``) and is
visible exactly when its image is. A dataset's shares (rows of
:class:`~.models.StorageShare` with ``kind="dataset"``) reach its children and those of its
members that the dataset's owner owns: see :func:`shared_dataset_ids` and :func:`via_datasets`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ForeignKey, Index, Select, String, exists, or_, select
from sqlalchemy.orm import Mapped, aliased, mapped_column

from ..models import Base, new_id, utcnow
from .models import File, Image, StorageShare, Table

DATASET = "dataset"
"""The ``kind`` of a dataset's rows in ``storage_shares``."""


class Roi(Base):
    """A region of interest drawn on an image, in the image's dims order."""

    __tablename__ = "storage_rois"
    __table_args__ = (Index("ix_storage_rois_image_created", "image_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    image_id: Mapped[str] = mapped_column(ForeignKey("storage_images.id", ondelete="CASCADE"))
    creator_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """point, line, rectangle, polygon, ellipse or mask."""
    vectors: Mapped[list[Any]] = mapped_column()
    """Points, each with one coordinate per image dim (what they mean depends on ``kind``)."""
    label: Mapped[str] = mapped_column(String(200), index=True)
    mask_id: Mapped[str | None] = mapped_column(
        ForeignKey("storage_images.id", ondelete="CASCADE"), default=None, index=True
    )
    """A ``mask`` ROI's labels image (deleting it deletes the ROI)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """A named group of images, files, tables and child datasets; one owner for a whole tree."""

    __tablename__ = "storage_datasets"
    __table_args__ = (Index("ix_storage_datasets_owner_created", "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024), index=True)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("storage_datasets.id", ondelete="CASCADE"), default=None, index=True
    )
    shared_with_everyone: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatasetImage(Base):
    __tablename__ = "storage_dataset_images"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("storage_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[str] = mapped_column(
        ForeignKey("storage_images.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatasetFile(Base):
    __tablename__ = "storage_dataset_files"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("storage_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    file_id: Mapped[str] = mapped_column(
        ForeignKey("storage_files.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatasetTable(Base):
    __tablename__ = "storage_dataset_tables"

    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("storage_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    table_id: Mapped[str] = mapped_column(
        ForeignKey("storage_tables.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


MEMBERSHIPS: dict[Any, tuple[Any, Any]] = {
    Image: (DatasetImage, DatasetImage.image_id),
    File: (DatasetFile, DatasetFile.file_id),
    Table: (DatasetTable, DatasetTable.table_id),
}
"""A member model -> its link table and the link's column naming the member."""


def shared_dataset_ids(user_id: str) -> Select[tuple[str]]:
    """Ids of the datasets shared with ``user_id`` (or everyone), and of all their descendants:
    a share covers the dataset's subtree. ``UNION`` (not ``UNION ALL``) ends the recursion even
    if a cycle ever slipped in."""
    direct = select(Dataset.id).where(
        or_(
            Dataset.shared_with_everyone.is_(True),
            exists().where(
                StorageShare.kind == DATASET,
                StorageShare.object_id == Dataset.id,
                StorageShare.user_id == user_id,
            ),
        )
    )
    tree = direct.cte("shared_datasets", recursive=True)
    child = select(Dataset.id).where(Dataset.parent_id == tree.c.id)
    tree = tree.union(child)
    return select(tree.c.id)


def via_datasets(
    model: type[Image] | type[File] | type[Table],
    user_id: str,
    only: Sequence[str] | None = None,
) -> Any:
    """The condition that an image, file or table is visible to ``user_id`` through a dataset:
    it is a member of a dataset shared with them (or of a descendant of one) **and the
    dataset's owner owns it**. A dataset's owner may group what others shared with them, but a
    dataset share passes on only what its owner could have shared directly. Any other model
    raises (nothing becomes visible through a dataset by default).

    ``only``: the ids the statement asks about, when it asks about a few (a lookup by id), so
    the set of members is made of their links alone instead of every shared member's
    (bench/visibility.py: a lookup 3.8 ms -> well under 1 ms on PostgreSQL)."""
    if model not in MEMBERSHIPS:
        raise TypeError(f"{getattr(model, '__name__', model)!r} is not a dataset member kind")
    link, member_id = MEMBERSHIPS[model]
    member = aliased(model)
    # an uncorrelated IN (one set per statement): SQLite evaluates a correlated EXISTS over the
    # recursive CTE once per row (bench/visibility.py: 40x slower listings)
    members = (
        select(member_id)
        .join(Dataset, Dataset.id == link.dataset_id)
        .join(member, member.id == member_id)
        .where(member.owner_id == Dataset.owner_id, Dataset.id.in_(shared_dataset_ids(user_id)))
    )
    if only is not None:
        members = members.where(member_id.in_(list(only)))
    return model.id.in_(members)
