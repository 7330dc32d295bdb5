"""The bus's delivery rules on the in-process transport: retries, dead letters, transient waits."""

import os
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from shared import bus as bus_module
from shared import metrics
from shared.bus import MAX_ATTEMPTS, Bus, Subscription, Topology, Transient, drain
from shared.db import metadata
from shared.envelope import Envelope
from shared.outbox import inbox_table
from shared.runtime import transactional


@pytest.fixture
def bus():
    return Bus("memory://", Topology(f"hearth-test-{uuid.uuid4().hex[:8]}", "t."))


def publish(bus, subscription, count=1):
    bus.declare([subscription])
    publisher = bus.publisher()
    for n in range(count):
        envelope = Envelope(type="events.event_scheduled", payload={"n": n}, producer="events")
        publisher.publish(
            envelope.to_json(),
            type=envelope.type,
            message_id=envelope.id,
            correlation_id=envelope.correlation_id,
        )
    return publisher


def dead_letters(bus, subscription):
    with bus.connection() as connection:
        queue = bus.topology.dead_letter_queue(subscription)(connection.default_channel)
        found = []
        while (message := queue.get(no_ack=True)) is not None:
            found.append(message)
        return found


def consumed(queue, outcome):
    return (
        metrics.REGISTRY.get_sample_value(
            "hearth_messages_consumed_total", {"queue": queue, "outcome": outcome}
        )
        or 0
    )


def test_a_failing_handler_is_retried_then_parked_with_the_error(bus):
    calls = []

    def handle(envelope):
        calls.append(envelope.id)
        raise ValueError("no such event")

    subscription = Subscription(f"t.{uuid.uuid4().hex[:6]}.events", ("events.#",), handle)
    publisher = publish(bus, subscription)
    drain(bus, subscription, publisher)
    assert len(calls) == MAX_ATTEMPTS
    [parked] = dead_letters(bus, subscription)
    assert parked.headers["x-hearth-error"] == "ValueError: no such event"
    assert parked.headers["x-hearth-attempt"] == MAX_ATTEMPTS
    # Counted for the worker's metrics: each attempt but the last retried, then parked.
    assert consumed(subscription.queue, "retried") == MAX_ATTEMPTS - 1
    assert consumed(subscription.queue, "dead_lettered") == 1
    assert consumed(subscription.queue, "handled") == 0


def test_a_transient_failure_waits_without_using_up_attempts(bus, monkeypatch):
    monkeypatch.setattr(bus_module, "TRANSIENT_PAUSE", 0)
    failures = MAX_ATTEMPTS * 2
    handled = []

    def handle(envelope):
        if len(handled) < failures:
            handled.append(None)
            raise Transient("database restarting")
        handled.append(envelope.id)

    subscription = Subscription(f"t.{uuid.uuid4().hex[:6]}.events", ("events.#",), handle)
    publisher = publish(bus, subscription)
    drain(bus, subscription, publisher)
    assert len(handled) == failures + 1
    assert consumed(subscription.queue, "waiting") == failures
    assert consumed(subscription.queue, "handled") == 1
    assert handled[-1] is not None
    assert dead_letters(bus, subscription) == []


def test_an_unreachable_database_is_transient(bus, monkeypatch):
    monkeypatch.setattr(bus_module, "TRANSIENT_PAUSE", 0)
    # Nothing listens on port 1: every transaction fails to connect, as during a restart.
    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    inbox = inbox_table(metadata())

    def begin():
        return engine.begin()

    handle = transactional(begin, inbox, "t.rsvps.events", {"events.event_scheduled": print})
    envelope = Envelope(type="events.event_scheduled", payload={}, producer="events")
    with pytest.raises(Transient, match="connect"):
        handle(envelope)
    engine.dispose()


def test_hearth_dead_letters_says_when_the_broker_cannot_be_reached(tmp_path):
    env = {
        **{name: value for name, value in os.environ.items() if not name.endswith("_URL")},
        "HEARTH_DATA": str(tmp_path / "cli"),
        "AMQP_URL": "amqp://ops:s3cret@127.0.0.1:1//",  # nothing listens on port 1
    }
    listed = subprocess.run(
        [sys.executable, "-m", "hearth.cli", "dead-letters", "list"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 1
    assert "Error: cannot reach the broker at amqp://ops:**@127.0.0.1:1//" in listed.stderr
    assert "s3cret" not in listed.stderr + listed.stdout
    assert "Traceback" not in listed.stderr
