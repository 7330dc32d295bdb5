"""Every service's migrations build its schema from empty, match its tables, and reverse."""

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hearth.stack import MODULES
from shared.db import downgrade, make_engine, migrate

SERVICES = sorted(MODULES)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    """A URL of a database with nothing in it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    server = request.getfixturevalue("postgres_server")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"hearth_migrations_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_build_the_schema_the_code_expects(empty_database, service):
    module = MODULES[service]
    engine = make_engine(empty_database)
    try:
        migrate(engine, module.MIGRATIONS)
        store = __import__(f"services.{service}.store", fromlist=["meta"])
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert set(store.meta.tables) <= tables
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), store.meta
            )
        assert differences == [], f"{service}: tables and migrations disagree: {differences}"
        # Running again is a no-op, and the history reverses cleanly to empty and back.
        migrate(engine, module.MIGRATIONS)
        downgrade(engine, module.MIGRATIONS)
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
        migrate(engine, module.MIGRATIONS)
    finally:
        engine.dispose()
