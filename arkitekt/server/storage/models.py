"""Database models of stored data: images (zarr arrays), files, tables (parquet), image tags and
shares.

A record is created when an upload is requested (``status="uploading"``, invisible to queries)
and becomes ``ready`` only when the server has checked what the client wrote. The bytes live in
the datalayer under ``store`` (a key prefix), never in the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from arkitekt.protocol.ngff import FORMAT_ARRAY

from ..models import Base, new_id, utcnow

UPLOADING = "uploading"
FINISHING = "finishing"
"""Being verified: write grants no longer write (a finish that fails midway leaves it to the
sweeper)."""
READY = "ready"
DISCARDED = "discarded"
"""Removed while write grants that cannot be revoked (S3) may still be live: the record stays,
invisible, until they have expired and what they wrote is deleted once more."""


class Image(Base):
    __tablename__ = "storage_images"
    __table_args__ = (Index("ix_storage_images_owner_created", "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024), index=True)
    store: Mapped[str] = mapped_column(String(255))
    """The key prefix of the zarr array in the datalayer."""
    datalayer: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    shape: Mapped[list[Any]] = mapped_column()
    dims: Mapped[list[Any]] = mapped_column()
    dtype: Mapped[str] = mapped_column(String(32))
    chunks: Mapped[list[Any]] = mapped_column()
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Bytes stored (compressed), known once the upload is verified."""
    shared_with_everyone: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    upload_deadline: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    """While uploading: when an abandoned upload may be swept away. Once ready: when its
    write grants (S3 credentials, which cannot be revoked) have all expired and it is checked
    once more; None when settled."""
    format: Mapped[str] = mapped_column(
        String(32), default=FORMAT_ARRAY, server_default=FORMAT_ARRAY
    )
    """``zarr-array`` (a plain array at ``store``: images from before OME-Zarr),
    ``ome-zarr-0.5`` or ``zarr-group`` (a group, level 0 at ``<store>/0``)."""
    levels: Mapped[list[Any] | None] = mapped_column(default=None)
    """Per level (announced at request, verified at finish): path, shape, chunks (dims in the
    record's order) and scale. None for ``zarr-array`` images."""
    scale: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    """Pixel size per time/space dim (verified from the NGFF metadata)."""
    units: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    channels: Mapped[list[Any] | None] = mapped_column(default=None)


class ImageTag(Base):
    __tablename__ = "storage_image_tags"

    image_id: Mapped[str] = mapped_column(
        ForeignKey("storage_images.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class File(Base):
    __tablename__ = "storage_files"
    __table_args__ = (Index("ix_storage_files_owner_created", "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024), index=True)
    store: Mapped[str] = mapped_column(String(255))
    """The key prefix; the content is the object ``<store>/data``."""
    datalayer: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(255))
    shared_with_everyone: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    upload_deadline: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    """While uploading: when an abandoned upload may be swept away. Once ready: when its
    write grants (S3 credentials, which cannot be revoked) have all expired and it is checked
    once more; None when settled."""


class Table(Base):
    """A table stored as one parquet object (``<store>/data``), optionally about an image."""

    __tablename__ = "storage_tables"
    __table_args__ = (Index("ix_storage_tables_owner_created", "owner_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024), index=True)
    store: Mapped[str] = mapped_column(String(255))
    """The key prefix; the parquet file is the object ``<store>/data``."""
    datalayer: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    image_id: Mapped[str | None] = mapped_column(
        ForeignKey("storage_images.id", ondelete="SET NULL"), default=None, index=True
    )
    """The image it measures (the creator could see it when linking)."""
    roi_id: Mapped[str | None] = mapped_column(
        ForeignKey("storage_rois.id", ondelete="SET NULL", name="fk_storage_tables_roi_id"),
        default=None,
        index=True,
    )
    """The region of interest within that image it measures (the creator could see it when
    linking; deleting the ROI, or its image, clears this). The constraint is added by
    migration 0006, which creates ``storage_rois``."""
    columns: Mapped[list[Any] | None] = mapped_column(default=None)
    """``[{"name": ..., "type": ...}]`` read from the parquet footer at finish."""
    num_rows: Mapped[int | None] = mapped_column(BigInteger, default=None)
    num_row_groups: Mapped[int | None] = mapped_column(default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    shared_with_everyone: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    upload_deadline: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    """As for files: the sweeping deadline while uploading, the settling time once ready."""


class StorageShare(Base):
    """One user an image, a file or a table is shared with."""

    __tablename__ = "storage_shares"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    """``image``, ``file`` or ``table``."""
    object_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
