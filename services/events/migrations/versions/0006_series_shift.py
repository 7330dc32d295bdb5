"""series shift: how far a whole series has moved since first scheduled

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00.000000

The dates of a series keep their keys (their original local starts as first scheduled) when the
whole series moves; the shift turns a key into the date's original start in the series as it is
now. Existing series start with none: their dates' keys are their original starts as they are.
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
            sa.Column("shift_seconds", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("shift_seconds")
