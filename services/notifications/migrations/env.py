"""Alembic environment of the notifications service: migrates the engine handed in by shared.db."""

from alembic import context

from services.notifications.store import meta
from shared.db import run_migrations

run_migrations(context, meta)
