"""Database engines and schema migrations: SQLite files by default, PostgreSQL in production."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

# One naming convention for every service, so migrations name constraints predictably.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def metadata() -> sa.MetaData:
    return sa.MetaData(naming_convention=NAMING)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy, not the driver, open transactions (see _sqlite_begin). WAL lets the
            # web threads read while a worker writes; foreign keys are off by default.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # Take the write lock at BEGIN, so two writers queue up instead of failing mid-way;
            # with AUTOCOMMIT, SQLite's own, a transaction a statement, nothing would end it.
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that takes ON CONFLICT, in the dialect of `conn`.

    Tell what it did with RETURNING, never `rowcount`: SQLAlchemy 2.1 reports -1 as the rowcount
    of an INSERT on PostgreSQL.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def record_if_newer(
    conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any], as_of: datetime
) -> bool:
    """Store a read model's row as announced at `as_of` (into its `updated_at`), unless a newer
    announcement is stored already; True if stored.

    The age check is part of the upsert, so concurrent consumers cannot interleave between
    reading the stored state and writing theirs, and a late, older message changes nothing.
    """
    row = insert(conn, table).values(**key, **values, updated_at=as_of)
    upsert = row.on_conflict_do_update(
        index_elements=[table.c[name] for name in key],
        set_={name: row.excluded[name] for name in [*values, "updated_at"]},
        where=table.c.updated_at <= row.excluded.updated_at,
    )
    return conn.execute(upsert.returning(*table.primary_key.columns)).first() is not None


def _alembic_config(migrations: Path, engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, migrations: Path, revision: str = "head") -> None:
    """Bring the service's database to `revision` with its own Alembic history."""
    command.upgrade(_alembic_config(migrations, engine), revision)


def downgrade(engine: Engine, migrations: Path, revision: str = "base") -> None:
    command.downgrade(_alembic_config(migrations, engine), revision)


def run_migrations(context, target_metadata: sa.MetaData) -> None:  # type: ignore[no-untyped-def]
    """Body of every service's `migrations/env.py`: migrate the engine the caller passed in."""
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A UTC instant: stored as timestamptz on PostgreSQL, read back aware on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime as an instant")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
