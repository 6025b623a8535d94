"""display names for provider ids; coding tool usage per developer and day

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "display_name",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "kind", "id"),
    )
    counts = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens")
    activity = ("sessions", "lines_added", "lines_removed", "commits", "pull_requests")
    op.create_table(
        "coding_tool_usage",
        sa.Column("tool", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("customer_type", sa.String(length=16), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in counts),
        sa.Column("estimated_cost", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in activity),
        sa.PrimaryKeyConstraint("tool", "day", "actor", "model"),
    )


def downgrade() -> None:
    op.drop_table("coding_tool_usage")
    op.drop_table("display_name")
