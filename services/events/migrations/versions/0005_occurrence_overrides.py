"""occurrence overrides and all-day events: one date of a series moved or changed on its own

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 11:30:00.000000

Existing events are not all-day, and no occurrence has been changed on its own.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("all_day", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "occurrence_overrides",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("original_start", sa.DateTime(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("online_url", sa.String(length=2000), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_occurrence_overrides_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", "original_start", name=op.f("pk_occurrence_overrides")),
    )


def downgrade() -> None:
    op.drop_table("occurrence_overrides")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("all_day")
