"""feeds: each event's calendar text, assembled feeds, and what each person said for personal feeds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_entries",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("community_id", sa.String(length=36), nullable=False),
        sa.Column("listed", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("public_text", sa.Text(), nullable=True),
        sa.Column("zones", sa.String(length=300), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_calendar_entries_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_calendar_entries")),
    )
    op.create_index(
        "ix_calendar_entries_community_id", "calendar_entries", ["community_id"], unique=False
    )
    op.create_table(
        "feeds",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("view", sa.String(length=10), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "owner_id", "view", name=op.f("pk_feeds")),
    )
    op.create_table(
        "answers",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("occurrence", sa.String(length=19), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ever_confirmed", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", "event_id", "occurrence", name=op.f("pk_answers")),
    )
    op.create_index("ix_answers_event_id", "answers", ["event_id"], unique=False)
    with op.batch_alter_table("members") as batch:
        batch.add_column(
            sa.Column("feed_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("feed_generation")
    op.drop_index("ix_answers_event_id", table_name="answers")
    op.drop_table("answers")
    op.drop_table("feeds")
    op.drop_index("ix_calendar_entries_community_id", table_name="calendar_entries")
    op.drop_table("calendar_entries")
