"""What a worker process counts, for Prometheus: the messages it publishes from the outbox and
the ones its consumers finish with, by outcome. `hearth worker --metrics-port N` serves them at
`http://<host>:N/metrics`; the web processes' own `metrics` endpoints cover requests, the outbox
backlog and each service's state (shared.web)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

REGISTRY = CollectorRegistry()

# handled: its handler committed; retried: sent to wait for another attempt; waiting: a failure
# that was not the message's fault, retried without using up an attempt; dead_lettered: parked.
OUTCOMES = ("handled", "retried", "waiting", "dead_lettered")

CONSUMED = Counter(
    "hearth_messages_consumed",
    "Messages a consumer finished with, by queue and outcome (" + ", ".join(OUTCOMES) + ")",
    ["queue", "outcome"],
    registry=REGISTRY,
)
HANDLING = Histogram(
    "hearth_message_handling_seconds",
    "Time from taking a message to letting go of it, whatever the outcome",
    ["queue"],
    registry=REGISTRY,
)
PUBLISHED = Counter(
    "hearth_messages_published",
    "Outbox messages the relay published and the broker confirmed, by message type",
    ["type"],
    registry=REGISTRY,
)


def serve(port: int, host: str = "0.0.0.0") -> None:
    """Serve the worker's metrics on `port` from a thread of their own."""
    start_http_server(port, host, registry=REGISTRY)
