"""attendance: seat counts per occurrence, learned from the rsvps service

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 20:27:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attendance",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("occurrence", sa.String(length=19), nullable=False),
        sa.Column("confirmed_seats", sa.Integer(), nullable=False),
        sa.Column("waitlisted", sa.Integer(), nullable=False),
        sa.Column("maybe", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_attendance_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", "occurrence", name=op.f("pk_attendance")),
    )


def downgrade() -> None:
    op.drop_table("attendance")
