"""The bus on a real RabbitMQ: what goes on the wire, bounded retries, dead letters and the inbox.

Each test consumes with a running `ConsumerLoop` in a thread, as a worker does, and waits for
its effects with a deadline rather than sleeping.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import kombu
import pytest
import sqlalchemy as sa

from hearth.stack import Stack
from services.events.store import outbox as events_outbox
from services.rsvps import handlers
from services.rsvps.store import Store, inbox
from shared import bus
from shared.bus import ATTEMPT_HEADER, MAX_ATTEMPTS, ConsumerLoop, Subscription
from shared.envelope import Envelope
from shared.runtime import transactional

pytestmark = [
    pytest.mark.broker,
    pytest.mark.parametrize("bus_url", ["rabbitmq"], indirect=True),
]

WAIT = 15.0  # seconds; a healthy broker answers in milliseconds, a loaded CI box may not


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def consume(stack: Stack) -> Iterator[Callable[[Subscription], None]]:
    """Run a ConsumerLoop for a subscription in a thread until the test ends."""
    running: list[tuple[ConsumerLoop, threading.Thread]] = []

    def consume(subscription: Subscription) -> None:
        loop = ConsumerLoop(stack.bus, [subscription])
        thread = threading.Thread(target=loop.run, name="test-consumer", daemon=True)
        thread.start()
        running.append((loop, thread))

    yield consume
    for loop, thread in running:
        loop.stop()
        thread.join(WAIT)
        loop.close()
        assert not thread.is_alive(), "the consumer did not stop"


@pytest.fixture
def deliveries(monkeypatch: pytest.MonkeyPatch) -> list[kombu.Message]:
    """Every message a consumer finished processing, as it came off the wire (a spy on
    `shared.bus.process`, which the ConsumerLoop calls for each delivery)."""
    processed: list[kombu.Message] = []
    process = bus.process

    def spy(message: kombu.Message, *args: Any, **kwargs: Any) -> None:
        try:
            process(message, *args, **kwargs)
        finally:
            processed.append(message)

    monkeypatch.setattr(bus, "process", spy)
    return processed


def publish(stack: Stack, body: str, *, type: str, message_id: str) -> None:
    publisher = stack.bus.publisher()
    try:
        publisher.publish(body, type=type, message_id=message_id, correlation_id=str(uuid.uuid4()))
    finally:
        publisher.close()


def publish_envelope(stack: Stack, envelope: Envelope) -> None:
    publish(stack, envelope.to_json(), type=envelope.type, message_id=envelope.id)


def take_dead_letters(stack: Stack, subscription: Subscription) -> list[kombu.Message]:
    """Remove and return what waits in the subscription's dead-letter queue now."""
    taken = []
    with stack.bus.connection() as connection:
        queue = stack.bus.topology.dead_letter_queue(subscription)(connection.default_channel)
        while (message := queue.get(no_ack=True, accept=["application/json"])) is not None:
            taken.append(message)
    return taken


def text(body: bytes | str) -> str:
    # py-amqp hands over a str when the message says it is UTF-8 encoded, bytes otherwise.
    return body.decode() if isinstance(body, bytes) else body


def ready_in(stack: Stack, subscription: Subscription) -> int:
    with stack.bus.connection() as connection:
        queue = stack.bus.topology.work_queue(subscription)(connection.default_channel)
        return int(queue.queue_declare(passive=True).message_count)


def ping(**payload: Any) -> Envelope:
    return Envelope(type="probe.pinged", producer="probe", payload=payload)


def test_an_envelope_makes_the_round_trip_with_its_properties(stack, declare, consume, deliveries):
    received: list[Envelope] = []
    probe = declare(
        Subscription(stack.bus.topology.queue_name("probe", "round_trip"), ("probe.#",),
                     received.append)
    )  # fmt: skip
    consume(probe)
    sent = ping(text="Grüße aus Köln", n=1)

    publish_envelope(stack, sent)
    wait_until(lambda: deliveries, "the consumer to process the message")

    assert received == [sent]
    [message] = deliveries
    assert message.content_type == "application/json"
    assert message.properties["delivery_mode"] == 2
    assert message.properties["message_id"] == sent.id
    assert message.properties["type"] == sent.type
    assert message.delivery_info["exchange"] == stack.bus.topology.exchange.name
    assert message.delivery_info["routing_key"] == "probe.pinged"
    assert json.loads(message.body) == sent.to_dict()


def test_a_poison_message_is_parked_after_its_attempts_and_the_queue_moves_on(
    stack, declare, consume, deliveries
):
    attempts: Counter[str] = Counter()
    handled: list[str] = []

    def handle(envelope: Envelope) -> None:
        attempts[envelope.id] += 1
        if envelope.payload.get("poison"):
            raise RuntimeError("this message can never be handled")
        handled.append(envelope.id)

    probe = declare(
        Subscription(stack.bus.topology.queue_name("probe", "poison"), ("probe.#",), handle)
    )
    consume(probe)
    poison, behind = ping(poison=True), ping(n=1)

    publish_envelope(stack, poison)
    publish_envelope(stack, behind)
    dead: list[kombu.Message] = []
    wait_until(lambda: dead.extend(take_dead_letters(stack, probe)) or dead, "a dead letter")

    [parked] = dead
    assert attempts[poison.id] == MAX_ATTEMPTS
    assert json.loads(parked.body) == poison.to_dict()
    assert parked.properties["message_id"] == poison.id
    assert parked.headers[ATTEMPT_HEADER] == MAX_ATTEMPTS
    assert "this message can never be handled" in parked.headers["x-hearth-error"]
    assert parked.headers["x-hearth-queue"] == probe.queue
    assert behind.id in handled, "the message behind the poison waited for it"

    # The same consumer keeps working, and the parked message is not tried again.
    after = ping(n=2)
    publish_envelope(stack, after)
    wait_until(lambda: after.id in handled, "a message published after the poison")
    assert attempts[poison.id] == MAX_ATTEMPTS
    assert sum(m.properties["message_id"] == poison.id for m in deliveries) == MAX_ATTEMPTS
    assert ready_in(stack, probe) == 0
    assert take_dead_letters(stack, probe) == []


def test_a_failed_message_waits_out_each_delay_tier_and_a_transient_one_blocks_nobody(
    stack, declare, consume, deliveries
):
    """Retries wait in the delay queues (their TTL, then back to the work queue), counted; a
    Transient failure waits the first delay, uncounted, while the consumer goes on."""
    delays = stack.bus.topology.retry_delays
    tried_at: dict[str, list[float]] = {}
    handled: list[str] = []

    def handle(envelope: Envelope) -> None:
        tried_at.setdefault(envelope.id, []).append(time.monotonic())
        if envelope.payload.get("poison"):
            raise RuntimeError("this message can never be handled")
        if envelope.payload.get("database_away") and len(tried_at[envelope.id]) <= MAX_ATTEMPTS:
            raise bus.Transient("the database is restarting")
        handled.append(envelope.id)

    probe = declare(
        Subscription(stack.bus.topology.queue_name("probe", "tiers"), ("probe.#",), handle)
    )
    consume(probe)
    poison, away, fine = ping(poison=True), ping(database_away=True), ping(n=1)
    for envelope in (poison, away, fine):
        publish_envelope(stack, envelope)
    dead: list[kombu.Message] = []
    wait_until(lambda: dead.extend(take_dead_letters(stack, probe)) or dead, "a dead letter")
    wait_until(lambda: away.id in handled, "the message whose database came back")

    assert handled[0] == fine.id, "the messages that failed waited; the one behind them did not"
    waits = [
        later - earlier
        for earlier, later in zip(tried_at[poison.id], tried_at[poison.id][1:], strict=False)
    ]
    assert len(waits) == MAX_ATTEMPTS - 1
    for retry, waited in enumerate(waits):
        assert waited >= delays[min(retry, len(delays) - 1)] * 0.9
    assert len(tried_at[away.id]) == MAX_ATTEMPTS + 1, "transient failures used up no attempt"
    [parked] = dead
    assert parked.headers[ATTEMPT_HEADER] == MAX_ATTEMPTS
    assert "x-death" not in parked.headers, "the delay queues' history stays behind"
    names = {queue.name for queue in stack.bus.topology.retry_queues(probe)}
    assert names == {f"{probe.queue}.retry.{ms}ms" for ms in (50, 100, 200)}


def test_a_malformed_body_is_dead_lettered_at_once(stack, declare, consume, deliveries):
    handled: list[Envelope] = []
    probe = declare(
        Subscription(stack.bus.topology.queue_name("probe", "malformed"), ("probe.#",),
                     handled.append)
    )  # fmt: skip
    consume(probe)
    bodies = {
        str(uuid.uuid4()): "this is not JSON",
        str(uuid.uuid4()): json.dumps({"id": "not an envelope"}),
    }

    for message_id, body in bodies.items():
        publish(stack, body, type="probe.pinged", message_id=message_id)
    dead: list[kombu.Message] = []
    wait_until(lambda: dead.extend(take_dead_letters(stack, probe)) or len(dead) == 2, "2 dead")

    assert {message.properties["message_id"]: text(message.body) for message in dead} == bodies
    for message in dead:
        assert message.headers["x-hearth-error"].startswith("malformed")
        assert ATTEMPT_HEADER not in message.headers, "a malformed body is never retried"
    assert len(deliveries) == 2
    assert handled == []

    # And the consumer is still there for the next good message.
    good = ping(n=1)
    publish_envelope(stack, good)
    wait_until(lambda: handled, "a good message after the malformed ones")
    assert handled == [good]


def test_a_message_delivered_twice_has_its_effect_once(
    client, organizer, community, stack, declare, consume, deliveries
):
    response = client.post(
        f"/api/communities/{community['slug']}/events",
        json={"kind": "peer_lunch", "title": "Lunch", "starts_at": "2026-12-03T12:00",
              "ends_at": "2026-12-03T13:00", "capacity": 6},
        headers=organizer,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    with stack.services["events"].engine.connect() as conn:
        scheduled = conn.execute(
            sa.select(events_outbox).where(events_outbox.c.type == "events.event_scheduled")
        ).one()

    # The rsvps read model's real handler, inbox and database, counting the handler's runs.
    rsvps = stack.services["rsvps"]
    store = Store(rsvps.engine, rsvps.outbox)
    effects: list[str] = []

    def record_event(uow: Any, envelope: Envelope) -> None:
        effects.append(envelope.id)
        handlers.record_event(uow, envelope)

    subscription = declare(
        Subscription(
            stack.bus.topology.queue_name("probe", "rsvps_events"),
            ("events.event_scheduled",),
            transactional(
                store.begin, inbox, "rsvps.events", {"events.event_scheduled": record_event}
            ),
        )
    )
    consume(subscription)

    for _ in range(2):
        publish(stack, scheduled.body, type=scheduled.type, message_id=scheduled.message_id)
    wait_until(lambda: len(deliveries) == 2, "both deliveries to be processed")

    assert effects == [scheduled.message_id]
    with store.begin() as uow:
        event = uow.event(response.json["id"])
        claims = uow.conn.execute(
            sa.select(sa.func.count()).where(inbox.c.message_id == scheduled.message_id)
        ).scalar()
    assert event is not None
    assert (event.capacity, event.sequence) == (6, 0)
    assert claims == 1


def test_a_list_of_broker_urls_gets_past_a_node_that_is_down(stack, declare, consume, deliveries):
    """AMQP_URL may name every node of a cluster, separated by `;`. With one of them down, each
    new connection (a readiness check, a publisher) gets to one that is up. Each process takes
    the nodes in an order of its own: over 8 of them, the one that is down comes first in most."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = closed.getsockname()[1]  # nothing listens there once the socket is closed
    nodes = f"amqp://guest:guest@127.0.0.1:{nobody}//;{stack.bus.url}"
    received: list[Envelope] = []
    probe = declare(
        Subscription(stack.bus.topology.queue_name("probe", "failover"), ("probe.#",),
                     received.append)
    )  # fmt: skip
    consume(probe)
    sent = [ping(n=n) for n in range(8)]
    for envelope in sent:
        listed = bus.Bus(nodes, stack.bus.topology)  # as a new process would
        listed.ping()
        publisher = listed.publisher()
        try:
            publisher.publish(
                envelope.to_json(),
                type=envelope.type,
                message_id=envelope.id,
                correlation_id=envelope.correlation_id,
            )
        finally:
            publisher.close()
    wait_until(lambda: len(received) == len(sent), "the messages to arrive")
    assert sorted(e.id for e in received) == sorted(e.id for e in sent)
