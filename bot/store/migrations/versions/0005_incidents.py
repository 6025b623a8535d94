"""incidents, their events, and the detector's state between runs

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _moment(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("cadence", sa.String(length=8), nullable=False),
        sa.Column("series_key", sa.String(length=1024), nullable=False),
        _moment("opened_at"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("team", sa.String(length=256), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=True)
            for name in ("observed", "expected", "impact_so_far", "projected_impact")
        ),
        sa.Column("peak_ratio", sa.Float(), nullable=True),
        _moment("updated_at"),
        _moment("resolved_at", nullable=True),
        sa.Column("resolve_reason", sa.String(length=32), nullable=False),
        sa.Column("feedback", sa.String(length=16), nullable=False),
        sa.Column("feedback_by", sa.String(length=256), nullable=False),
        _moment("feedback_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "cadence", "series_key", "opened_at", name="uq_incident"),
    )
    op.create_index("ix_incident_status", "incident", ["status"])
    op.create_table(
        "incident_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        _moment("at"),
        _moment("bucket", nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_event_incident", "incident_event", ["incident_id"])
    op.create_table(
        "detector_state",
        sa.Column("cadence", sa.String(length=8), nullable=False),
        sa.Column("series_key", sa.String(length=1024), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        _moment("updated_at"),
        sa.PrimaryKeyConstraint("cadence", "series_key"),
    )


def downgrade() -> None:
    op.drop_table("detector_state")
    op.drop_index("ix_incident_event_incident", table_name="incident_event")
    op.drop_table("incident_event")
    op.drop_index("ix_incident_status", table_name="incident")
    op.drop_table("incident")
