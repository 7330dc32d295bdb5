"""events.guest_limit: how many guests each attendee may bring

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00.000000

Existing events get NULL, which means the default for their kind: nothing needs filling in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("guest_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    # SQLite cannot drop a column in place; batch mode copies the table without it.
    with op.batch_alter_table("events") as batch:
        batch.drop_column("guest_limit")
