"""tables

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import arkitekt.server.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "storage_tables",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("store", sa.String(length=255), nullable=False),
        sa.Column("datalayer", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("image_id", sa.String(length=32), nullable=True),
        sa.Column("roi_id", sa.String(length=32), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=True),
        sa.Column("num_rows", sa.BigInteger(), nullable=True),
        sa.Column("num_row_groups", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("shared_with_everyone", sa.Boolean(), nullable=False),
        sa.Column("created_at", arkitekt.server.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", arkitekt.server.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "upload_deadline", arkitekt.server.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["image_id"], ["storage_images.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("storage_tables", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_storage_tables_image_id"), ["image_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_storage_tables_name"), ["name"], unique=False)
        batch_op.create_index(
            "ix_storage_tables_owner_created", ["owner_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_storage_tables_roi_id"), ["roi_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_storage_tables_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_storage_tables_upload_deadline"), ["upload_deadline"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("storage_tables", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_tables_upload_deadline"))
        batch_op.drop_index(batch_op.f("ix_storage_tables_status"))
        batch_op.drop_index(batch_op.f("ix_storage_tables_roi_id"))
        batch_op.drop_index("ix_storage_tables_owner_created")
        batch_op.drop_index(batch_op.f("ix_storage_tables_name"))
        batch_op.drop_index(batch_op.f("ix_storage_tables_image_id"))

    op.drop_table("storage_tables")
