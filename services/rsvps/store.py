"""Persistence of the rsvps service: its tables and the unit of work with the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from shared.db import metadata
from shared.envelope import Envelope
from shared.outbox import Outbox, inbox_table, outbox_table

meta = metadata()
outbox = outbox_table(meta)
inbox = inbox_table(meta)


@dataclass
class UnitOfWork:
    conn: Connection
    outbox: Outbox

    def publish(self, envelope: Envelope) -> None:
        self.outbox.add(self.conn, envelope)


class Store:
    def __init__(self, engine: Engine, outbox: Outbox) -> None:
        self.engine = engine
        self.outbox = outbox

    @contextmanager
    def begin(self) -> Iterator[UnitOfWork]:
        with self.engine.begin() as conn:
            yield UnitOfWork(conn, self.outbox)
