"""Transactional outbox and inbox: messages commit with the state they describe, and once only.

A service writes the messages a state change causes into its own database in the same
transaction as the change (`Outbox.add`); the relay publishes them after commit and marks them
sent. A consumer claims each message id in the same transaction as its effects (`claim`), so a
redelivered message changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared import metrics
from shared.db import UTCDateTime, insert
from shared.envelope import Envelope

log = logging.getLogger(__name__)

# Autoincrementing ids on both backends: SQLite only autoincrements INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, index=True),
    )


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("handled_at", UTCDateTime, nullable=False),
    )


class Publisher(Protocol):
    def publish(self, body: str, *, type: str, message_id: str, correlation_id: str) -> None: ...


class Outbox:
    """Writes messages into the service's outbox inside the caller's transaction."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        # Built once, so every message finds it compiled; inline, since nobody needs the row's
        # generated id back (which would cost a RETURNING and its result on PostgreSQL).
        self._insert = table.insert().inline()
        # Set after a commit that added messages (see Store.begin), so an in-process relay
        # wakes at once.
        self.pending = threading.Event()

    def add(self, conn: Connection, envelope: Envelope) -> None:
        conn.execute(
            self._insert,
            {
                "message_id": envelope.id,
                "type": envelope.type,
                "correlation_id": envelope.correlation_id,
                "body": envelope.to_json(),
                "created_at": envelope.occurred_at,
            },
        )

    def backlog(self, conn: Connection) -> tuple[int, datetime | None]:
        """How many messages wait to be published, and when the oldest was written."""
        row = conn.execute(
            sa.select(sa.func.count(), sa.func.min(self.table.c.created_at)).where(
                self.table.c.published_at.is_(None)
            )
        ).one()
        return row[0], row[1]


@dataclass
class UnitOfWork:
    """One transaction on a service's database, and the outbox its messages go into. Each
    service subclasses it with its own queries."""

    conn: Connection
    outbox: Outbox
    published: int = 0

    def publish(self, envelope: Envelope) -> None:
        self.outbox.add(self.conn, envelope)
        self.published += 1


U = TypeVar("U", bound=UnitOfWork)


class Store(Generic[U]):
    """Opens units of work of the service's own kind (`unit_of_work`) on its database."""

    unit_of_work: type[U]

    def __init__(self, engine: Engine, outbox: Outbox) -> None:
        self.engine = engine
        self.outbox = outbox

    @contextmanager
    def begin(self) -> Iterator[U]:
        with self.engine.connect() as conn, self._transaction(conn) as uow:
            yield uow

    @contextmanager
    def autocommit(self) -> Iterator[U]:
        """A unit of work whose statements each commit as they run, for writes that need no
        transaction together: each is a round trip to PostgreSQL, not three (BEGIN, it, COMMIT)."""
        with self.engine.connect() as conn:
            uow = self.unit_of_work(
                conn.execution_options(isolation_level="AUTOCOMMIT"), self.outbox
            )
            yield uow
        if uow.published:
            self.outbox.pending.set()

    @contextmanager
    def _transaction(self, conn: Connection) -> Iterator[U]:
        with conn.begin():
            uow = self.unit_of_work(conn, self.outbox)
            yield uow
        if uow.published:
            self.outbox.pending.set()  # committed: the relay may publish them now


class Relay:
    """Publishes committed outbox rows in the order they were written, then marks them sent.

    Rows are locked with SKIP LOCKED on PostgreSQL, so several relays (one per worker replica)
    share the work without publishing a row twice; the inbox absorbs the rare duplicate left by a
    relay that died between the broker's confirm and its own commit.
    """

    def __init__(self, engine: Engine, outbox: Outbox, publisher: Publisher, batch: int = 200):
        self.engine = engine
        self.outbox = outbox
        self.publisher = publisher
        self.batch = batch

    def publish_pending(self) -> int:
        table = self.outbox.table
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(table)
                .where(table.c.published_at.is_(None))
                .order_by(table.c.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                self.publisher.publish(
                    row.body,
                    type=row.type,
                    message_id=row.message_id,
                    correlation_id=row.correlation_id,
                )
            if rows:
                conn.execute(
                    table.update()
                    .where(table.c.id.in_([row.id for row in rows]))
                    .values(published_at=datetime.now(UTC))
                )
        for row in rows:
            metrics.PUBLISHED.labels(row.type).inc()
        # Only at DEBUG: a busy relay publishes thousands a second.
        if rows and log.isEnabledFor(logging.DEBUG):
            for row in rows:
                ids = {
                    "correlation_id": row.correlation_id,
                    "message_id": row.message_id,
                    "message_type": row.type,
                }
                log.debug("published %s", row.type, extra=ids)
        return len(rows)

    def publish_all(self) -> int:
        total = 0
        while count := self.publish_pending():
            total += count
        return total


def claim(conn: Connection, inbox: sa.Table, message_id: str, consumer: str) -> bool:
    """Record that `consumer` handled `message_id`; False if it already had.

    Call it first in the handler's transaction: a concurrent duplicate waits on the key and then
    finds it taken, and a rolled-back handler leaves the message unclaimed for its retry.
    """
    values = {"message_id": message_id, "consumer": consumer, "handled_at": datetime.now(UTC)}
    statement = insert(conn, inbox).values(values).on_conflict_do_nothing()
    return conn.execute(statement.returning(inbox.c.message_id)).first() is not None
