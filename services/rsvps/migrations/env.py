"""Alembic environment of the rsvps service: migrates the engine handed in by shared.db."""

from alembic import context

from services.rsvps.store import meta
from shared.db import run_migrations

run_migrations(context, meta)
