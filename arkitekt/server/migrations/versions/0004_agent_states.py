"""agent states

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import arkitekt.server.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rpc_agent_states",
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", arkitekt.server.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["rpc_agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("agent_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("rpc_agent_states")
