"""Alembic environment of the events service: migrates the engine handed in by shared.db."""

from alembic import context

from services.events.store import meta
from shared.db import run_migrations

run_migrations(context, meta)
