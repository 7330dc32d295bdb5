"""`hearth dead-letters` on a real RabbitMQ: what is parked and why, replaying once the cause is
fixed (keeping the message's id), and purging."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from hearth.stack import Stack
from shared import dead_letters
from shared.bus import MAX_ATTEMPTS, Subscription, drain
from shared.envelope import Envelope

pytestmark = [
    pytest.mark.broker,
    pytest.mark.parametrize("bus_url", ["rabbitmq"], indirect=True),
]

HEARTH = [sys.executable, str(Path(__file__).with_name("hearth_with_test_topology.py"))]


class Handler:
    """A handler that fails (as one whose database is behind would) until it is fixed."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[str] = []

    def __call__(self, envelope: Envelope) -> None:
        if self.broken:
            raise RuntimeError('relation "attendees" does not exist')
        self.handled.append(envelope.id)


@pytest.fixture
def probe(stack: Stack, declare: Any) -> tuple[Subscription, Handler]:
    handler = Handler()
    queue = stack.bus.topology.queue_name("probe", f"dead-{uuid.uuid4().hex[:6]}")
    return declare(Subscription(queue, ("probe.pinged",), handler)), handler


def park(stack: Stack, subscription: Subscription, *messages: Envelope | str) -> None:
    """Publish each message (an envelope, or a body that is none) and handle the queue until
    all of them are parked."""
    publisher = stack.bus.publisher()
    try:
        for message in messages:
            if isinstance(message, Envelope):
                body, message_id, correlation_id = (
                    message.to_json(),
                    message.id,
                    message.correlation_id,
                )
            else:
                body, message_id, correlation_id = message, f"bad-{message}", "none"
            publisher.publish(
                body, type="probe.pinged", message_id=message_id, correlation_id=correlation_id
            )
        # Retries wait in the delay queues between attempts: handle until all are parked.
        deadline = time.monotonic() + 15
        while dead_letters.counts(stack.bus, [subscription])[0][1] < len(messages):
            assert time.monotonic() < deadline, "gave up waiting for the messages to be parked"
            drain(stack.bus, subscription, publisher)
            time.sleep(0.02)
    finally:
        publisher.close()


def ping() -> Envelope:
    return Envelope(type="probe.pinged", producer="probe", payload={"n": 1})


def test_parked_messages_are_counted_shown_and_left_in_place(stack, probe):
    subscription, _ = probe
    failing = ping()
    park(stack, subscription, failing, "{oops")

    assert dead_letters.counts(stack.bus, [subscription]) == [(subscription.dead_letter_queue, 2)]
    # The malformed one is parked at once; the failing one after its last attempt.
    malformed, failed = dead_letters.peek(stack.bus, subscription, limit=10)
    assert (malformed.message_id, malformed.attempts) == ("bad-{oops", 1)
    assert malformed.reason.startswith("malformed: body is not JSON")
    assert malformed.body == "{oops"
    assert (failed.message_id, failed.attempts) == (failing.id, MAX_ATTEMPTS)
    assert 'relation "attendees" does not exist' in failed.reason
    assert failed.correlation_id == failing.correlation_id
    assert failed.body == failing.to_json()
    assert dead_letters.counts(stack.bus, [subscription]) == [(subscription.dead_letter_queue, 2)]
    assert [p.message_id for p in dead_letters.peek(stack.bus, subscription, limit=1)] == [
        "bad-{oops"
    ], "showing took nothing away and kept the order"


def test_a_replay_once_fixed_is_handled_with_the_same_id(stack, probe):
    subscription, handler = probe
    first, second = ping(), ping()
    park(stack, subscription, first, second)
    handler.broken = False

    assert dead_letters.replay(stack.bus, subscription, second.id) == 1
    assert dead_letters.counts(stack.bus, [subscription]) == [(subscription.dead_letter_queue, 1)]
    publisher = stack.bus.publisher()
    try:
        drain(stack.bus, subscription, publisher)
        assert handler.handled == [second.id], "replayed as itself, a first attempt, and handled"
        assert dead_letters.replay(stack.bus, subscription) == 1
        drain(stack.bus, subscription, publisher)
    finally:
        publisher.close()
    assert handler.handled == [second.id, first.id]
    assert dead_letters.counts(stack.bus, [subscription]) == [(subscription.dead_letter_queue, 0)]
    assert dead_letters.replay(stack.bus, subscription, "no-such-id") == 0


def test_purge_empties_a_dead_letter_queue(stack, probe):
    subscription, _ = probe
    park(stack, subscription, "{", "[")
    assert dead_letters.purge(stack.bus, subscription) == 2
    assert dead_letters.counts(stack.bus, [subscription]) == [(subscription.dead_letter_queue, 0)]


def test_the_command_lists_shows_replays_and_purges(stack, config, amqp_url, tmp_path):
    """`hearth dead-letters` as an operator runs it, against the services' own queues."""
    [queue] = [s for s in stack.subscriptions if s.queue.endswith("rsvps.events")]
    publisher = stack.bus.publisher()
    try:
        for message_id, body in (("m-1", "{"), ("m-2", "[")):
            publisher.publish(
                body, type="events.event_scheduled", message_id=message_id,
                correlation_id="c", exchange="", routing_key=queue.queue,
            )  # fmt: skip
        drain(stack.bus, queue, publisher)
    finally:
        publisher.close()
    env = {
        **{name: value for name, value in os.environ.items() if not name.endswith("_URL")},
        "HEARTH_DATA": str(tmp_path / "cli"),
        "AMQP_URL": amqp_url,
        "HEARTH_TEST_EXCHANGE": config.exchange,
        "HEARTH_TEST_QUEUE_PREFIX": config.queue_prefix,
    }

    def hearth(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HEARTH, "dead-letters", *args], env=env, capture_output=True, text=True, timeout=60
        )

    listed = hearth("list")
    assert listed.returncode == 0, listed.stderr
    without_broker = subprocess.run(
        [*HEARTH, "dead-letters", "list"],
        env={name: value for name, value in env.items() if name != "AMQP_URL"},
        capture_output=True,
        text=True,
    )
    assert without_broker.returncode == 2
    assert "AMQP_URL is not set" in without_broker.stderr
    assert f"      2  {queue.dead_letter_queue}" in listed.stdout.splitlines()
    shown = hearth("show", queue.queue)
    assert "m-1  events.event_scheduled  attempts=1" in shown.stdout
    assert "reason: malformed: body is not JSON" in shown.stdout
    replayed = hearth("replay", queue.dead_letter_queue, "--id", "m-2")
    assert replayed.stdout.strip() == f"replayed 1 message to {queue.queue}", replayed.stderr
    missing = hearth("replay", queue.queue, "--id", "m-2")
    assert missing.returncode == 1
    assert f"no message m-2 in {queue.dead_letter_queue}" in missing.stderr
    unknown = hearth("show", "no.such.queue")
    assert unknown.returncode == 2
    assert "no queue named 'no.such.queue'; the queues are:" in unknown.stderr
    refused = hearth("purge", queue.queue)  # no --yes, and nobody to answer
    assert refused.returncode == 1
    assert dead_letters.counts(stack.bus, [queue]) == [(queue.dead_letter_queue, 1)]
    purged = hearth("purge", queue.queue, "--yes")
    assert purged.stdout.strip() == f"purged 1 message from {queue.dead_letter_queue}"
    assert dead_letters.counts(stack.bus, [queue]) == [(queue.dead_letter_queue, 0)]
