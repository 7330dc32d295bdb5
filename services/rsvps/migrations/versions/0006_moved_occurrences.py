"""read model of events: all-day events, and occurrences of a series moved one by one

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:45:00.000000

Events already known are not all-day and have no moved occurrences; the next message about
one carries both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("all_day", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("moved_occurrences", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("moved_occurrences")
        batch.drop_column("all_day")
