"""answers, preferences and time zones; deliveries learn whose preference allows them and when
they expire; events learn their cancelled dates

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('attendees',
    sa.Column('rsvp_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('occurrence', sa.DateTime(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('manage_url', sa.String(length=2000), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('day_reminder_for', sa.DateTime(timezone=True), nullable=True),
    sa.Column('text_reminder_for', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('rsvp_id', name=op.f('pk_attendees'))
    )
    op.create_index(op.f('ix_attendees_event_id'), 'attendees', ['event_id'], unique=False)
    op.create_index(op.f('ix_attendees_starts_at'), 'attendees', ['starts_at'], unique=False)
    op.create_table('preferences',
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('wanted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('address', 'channel', 'category', name=op.f('pk_preferences'))
    )
    op.create_table('time_zones',
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_time_zones'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('category', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_occurrences', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('cancelled_occurrences')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('category')
        batch_op.drop_column('address')
    op.drop_table('time_zones')
    op.drop_table('preferences')
    op.drop_index(op.f('ix_attendees_starts_at'), table_name='attendees')
    op.drop_index(op.f('ix_attendees_event_id'), table_name='attendees')
    op.drop_table('attendees')
