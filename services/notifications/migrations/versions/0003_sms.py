"""texting consent per phone number

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sms_consents',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_sms_consents'))
    )


def downgrade() -> None:
    op.drop_table('sms_consents')
