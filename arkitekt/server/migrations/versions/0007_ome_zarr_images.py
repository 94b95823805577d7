"""ome-zarr images: format, levels, scale, units, channels

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # images stored before this revision are plain zarr arrays at their prefix
    with op.batch_alter_table("storage_images") as batch:
        batch.add_column(
            sa.Column("format", sa.String(length=32), server_default="zarr-array", nullable=False)
        )
        batch.add_column(sa.Column("levels", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("scale", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("units", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("channels", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_images") as batch:
        for column in ("channels", "units", "scale", "levels", "format"):
            batch.drop_column(column)
