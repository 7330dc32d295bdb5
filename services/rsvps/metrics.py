"""What the rsvps service tells Prometheus beyond requests and the outbox: its RSVPs by status."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from services.rsvps.seats import CANCELLED, CONFIRMED, DECLINED, MAYBE, WAITLISTED
from services.rsvps.store import rsvps

STATUSES = (CONFIRMED, WAITLISTED, MAYBE, DECLINED, CANCELLED)


class RsvpsCollector(Collector):
    """`hearth_rsvps{status}`: how many RSVPs are in each status, every status shown (0 when
    none), so a dashboard can draw each line from the first scrape. One grouped count per scrape,
    read when Prometheus asks rather than kept up to date on every answer."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("hearth_rsvps", "RSVPs, by status", labels=["status"])
        with self.engine.connect() as conn:
            counted = {
                status: count
                for status, count in conn.execute(
                    sa.select(rsvps.c.status, sa.func.count()).group_by(rsvps.c.status)
                )
            }
        for status, count in (dict.fromkeys(STATUSES, 0) | counted).items():
            gauge.add_metric([status], count)
        yield gauge
