"""deliveries: a partial index of what waits to be tried, in the order senders take it

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 10:00:00.000000

The index it replaces held every delivery by state, so a sender's claim read every waiting row
and sorted them to take the first few.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("state IN ('queued', 'retrying')")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_due")
        batch.create_index(
            "ix_deliveries_waiting",
            ["channel", "due_at", "id"],
            postgresql_where=WAITING,
            sqlite_where=WAITING,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_waiting")
        batch.create_index("ix_deliveries_due", ["channel", "state", "due_at"])
