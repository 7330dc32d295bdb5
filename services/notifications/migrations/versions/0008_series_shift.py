"""read model of events: how far a whole series has moved since first scheduled

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 09:20:00.000000

Answers name a date of a series by its key (its original local start as first scheduled); the
shift turns a key into the date's original start now. Events already known have none; the next
message about one carries it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("shift_seconds", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("shift_seconds")
