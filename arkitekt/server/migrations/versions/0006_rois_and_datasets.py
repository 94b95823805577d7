"""rois and datasets (tables as dataset members, tables linked to ROIs)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import arkitekt.server.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = arkitekt.server.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "storage_rois",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("image_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("vectors", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("mask_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["creator_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["storage_images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mask_id"], ["storage_images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("storage_rois", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_rois_creator_id"), ["creator_id"], unique=False
        )
        batch_op.create_index(
            "ix_storage_rois_image_created", ["image_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_storage_rois_label"), ["label"], unique=False)
        batch_op.create_index(batch_op.f("ix_storage_rois_mask_id"), ["mask_id"], unique=False)

    # a table's ROI (a column since 0005) becomes a real link: deleting the ROI clears it.
    # ROIs start here, so any id stored before names none: cleared, or the constraint would
    # refuse the rows. On SQLite batch mode recreates storage_tables (nothing references it
    # yet: its dataset links are made below, so the copy cannot cascade into them).
    op.execute("UPDATE storage_tables SET roi_id = NULL WHERE roi_id IS NOT NULL")
    with op.batch_alter_table("storage_tables", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_storage_tables_roi_id", "storage_rois", ["roi_id"], ["id"], ondelete="SET NULL"
        )

    op.create_table(
        "storage_datasets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("shared_with_everyone", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["parent_id"], ["storage_datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("storage_datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_storage_datasets_name"), ["name"], unique=False)
        batch_op.create_index(
            "ix_storage_datasets_owner_created", ["owner_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_storage_datasets_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "storage_dataset_images",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("image_id", sa.String(length=32), nullable=False),
        sa.Column("added_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["storage_datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["storage_images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "image_id"),
    )
    with op.batch_alter_table("storage_dataset_images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_dataset_images_image_id"), ["image_id"], unique=False
        )

    op.create_table(
        "storage_dataset_files",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("file_id", sa.String(length=32), nullable=False),
        sa.Column("added_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["storage_datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["file_id"], ["storage_files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "file_id"),
    )
    with op.batch_alter_table("storage_dataset_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_dataset_files_file_id"), ["file_id"], unique=False
        )

    op.create_table(
        "storage_dataset_tables",
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("table_id", sa.String(length=32), nullable=False),
        sa.Column("added_at", _TIME(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["storage_datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["table_id"], ["storage_tables.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "table_id"),
    )
    with op.batch_alter_table("storage_dataset_tables", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_dataset_tables_table_id"), ["table_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("storage_dataset_tables")
    with op.batch_alter_table("storage_tables", schema=None) as batch_op:
        batch_op.drop_constraint("fk_storage_tables_roi_id", type_="foreignkey")
    op.drop_table("storage_dataset_files")
    op.drop_table("storage_dataset_images")
    op.drop_table("storage_datasets")
    op.drop_table("storage_rois")
