"""What operators see of the deliveries: Prometheus gauges of the ledger at every scrape, and the
rows themselves for `hearth deliveries`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from services.notifications.store import WAITING, deliveries


class DeliveriesCollector(Collector):
    """`hearth_notification_deliveries{channel,state}`: how many deliveries are in each state;
    `hearth_notification_overdue_seconds{channel}`: how long the longest-waiting due delivery has
    waited (a sender that is stuck, or a mail server that refuses, shows here first)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = GaugeMetricFamily(
            "hearth_notification_deliveries",
            "Deliveries in the ledger, by channel and state",
            labels=["channel", "state"],
        )
        overdue = GaugeMetricFamily(
            "hearth_notification_overdue_seconds",
            "How long the longest-waiting delivery that is due has waited",
            labels=["channel"],
        )
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            for channel, state, count in conn.execute(
                sa.select(deliveries.c.channel, deliveries.c.state, sa.func.count()).group_by(
                    deliveries.c.channel, deliveries.c.state
                )
            ):
                counts.add_metric([channel, state], count)
            for channel, oldest in conn.execute(
                sa.select(deliveries.c.channel, sa.func.min(deliveries.c.due_at))
                .where(WAITING, deliveries.c.due_at <= now)
                .group_by(deliveries.c.channel)
            ):
                overdue.add_metric([channel], max(0.0, (now - oldest).total_seconds()))
        yield counts
        yield overdue
