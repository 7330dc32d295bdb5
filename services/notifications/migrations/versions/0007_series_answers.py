"""the dates of an "all upcoming" answer, kept until all of them are in, to tell them at once

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('series_answers',
    sa.Column('answer_id', sa.String(length=36), nullable=False),
    sa.Column('rsvp_id', sa.String(length=36), nullable=False),
    sa.Column('occurrence', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('waitlist_position', sa.Integer(), nullable=True),
    sa.Column('manage_url', sa.String(length=2000), nullable=False),
    sa.PrimaryKeyConstraint('answer_id', 'rsvp_id', name=op.f('pk_series_answers'))
    )


def downgrade() -> None:
    op.drop_table('series_answers')
