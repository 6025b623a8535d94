"""the Slack outbox; who handled an incident from Slack

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("thread_key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("ambiguous", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status", "id"])
    with op.batch_alter_table("incident") as incident:
        incident.add_column(
            sa.Column("handled", sa.String(length=16), nullable=False, server_default="")
        )
        incident.add_column(
            sa.Column("handled_by", sa.String(length=256), nullable=False, server_default="")
        )
        incident.add_column(sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
        incident.add_column(sa.Column("handled_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as incident:
        for name in ("handled_until", "handled_at", "handled_by", "handled"):
            incident.drop_column(name)
    op.drop_index("ix_outbox_status", table_name="outbox")
    op.drop_table("outbox")
