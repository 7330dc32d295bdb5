"""What the events service publishes, read by a plain pika client: the contract, not our code.

A consumer written in any language sees only AMQP. pika shares nothing with kombu or with
`shared.envelope`, so this is the check that the envelopes and properties on the wire are the
ones the contract promises.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pika
import pytest
from kombu.utils.url import parse_url
from pika.adapters.blocking_connection import BlockingChannel

pytestmark = [
    pytest.mark.broker,
    pytest.mark.parametrize("bus_url", ["rabbitmq"], indirect=True),
]

ENVELOPE_FIELDS = {"id", "type", "version", "occurred_at", "producer", "correlation_id", "payload"}
EVENT_MESSAGES = (
    "events.event_scheduled",
    "events.event_updated",
    "events.occurrence_cancelled",
    "events.event_cancelled",
)


@pytest.fixture
def listener(stack, amqp_url: str) -> Iterator[tuple[BlockingChannel, str]]:
    """A pika channel and a private queue bound to every events.* message on the test's exchange;
    exclusive and auto-delete, so closing the connection removes it."""
    # Read the URL as the stack does: kombu takes `//` as the vhost "/", pika as an empty vhost.
    url = parse_url(amqp_url)
    parameters = pika.ConnectionParameters(
        host=url["hostname"],
        port=url["port"] or 5672,
        virtual_host=url["virtual_host"] or "/",
        credentials=pika.PlainCredentials(url["userid"] or "guest", url["password"] or "guest"),
    )
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(
            queue=queue, exchange=stack.bus.topology.exchange.name, routing_key="events.#"
        )
        yield channel, queue
    finally:
        connection.close()


def receive(channel: BlockingChannel, queue: str, count: int, timeout: float = 15.0) -> list[Any]:
    """Exactly `count` messages, then nothing more: fails on fewer within `timeout`, or on more."""
    received: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(received) < count:
        assert time.monotonic() < deadline, f"only {len(received)} of {count} messages arrived"
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            channel.connection.sleep(0.02)
            continue
        received.append((method, properties, body))
    assert channel.basic_get(queue, auto_ack=True)[0] is None, "more messages than expected"
    return received


def test_every_change_is_published_as_a_contract_envelope(client, organizer, stack, listener):
    channel, queue = listener
    requests = [str(uuid.uuid4()) for _ in range(5)]

    def call(method: str, path: str, body: dict[str, Any], request: str) -> Any:
        headers = {**organizer, "X-Correlation-ID": request}
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json

    community = call(
        "POST", "/api/communities",
        {"name": "Riverside Clinicians", "timezone": "America/New_York"}, requests[0],
    )  # fmt: skip
    series = call(
        "POST", f"/api/communities/{community['slug']}/events",
        {"kind": "consult_group", "title": "Case consultation", "starts_at": "2026-12-03T12:00",
         "ends_at": "2026-12-03T13:00", "rrule": "FREQ=WEEKLY;BYDAY=TH;COUNT=8", "capacity": 8},
        requests[1],
    )  # fmt: skip
    call("PATCH", f"/api/events/{series['id']}", {"capacity": 10}, requests[2])
    call(
        "POST", f"/api/events/{series['id']}/cancel", {"occurrence": "2026-12-24T12:00"},
        requests[3],
    )  # fmt: skip
    call("POST", f"/api/events/{series['id']}/cancel", {}, requests[4])
    stack.flush()

    received = receive(channel, queue, 7)

    envelopes = []
    for method, properties, body in received:
        envelope = json.loads(body)
        envelopes.append(envelope)
        assert set(envelope) == ENVELOPE_FIELDS
        assert str(uuid.UUID(envelope["id"])) == envelope["id"]
        assert envelope["producer"] == "events"
        assert isinstance(envelope["version"], int) and envelope["version"] >= 1
        assert envelope["occurred_at"].endswith("Z"), "RFC 3339 in UTC"
        assert datetime.fromisoformat(envelope["occurred_at"]).utcoffset() == UTC.utcoffset(None)
        assert isinstance(envelope["payload"], dict)
        assert method.routing_key == envelope["type"]
        assert properties.content_type == "application/json"
        assert properties.delivery_mode == 2
        assert properties.message_id == envelope["id"]
        assert properties.type == envelope["type"]
        assert properties.correlation_id == envelope["correlation_id"]

    # First the organizer's token, issued (as `hearth token` does) before any request.
    token, *envelopes = envelopes
    assert token["type"] == "events.api_token_issued"
    assert [envelope["type"] for envelope in envelopes] == [
        "events.community_created", "events.member_added", *EVENT_MESSAGES,
    ]  # fmt: skip
    # Each message carries the id of the request that caused it.
    assert [envelope["correlation_id"] for envelope in envelopes] == [
        requests[0], requests[0], *requests[1:],
    ]  # fmt: skip
    assert len({envelope["id"] for envelope in [token, *envelopes]}) == 7

    states = [envelope["payload"]["event"] for envelope in envelopes[2:]]
    assert {state["id"] for state in states} == {series["id"]}
    assert [state["sequence"] for state in states] == [0, 1, 2, 3]
    assert [state["status"] for state in states] == ["scheduled"] * 3 + ["cancelled"]
    assert states[2]["cancelled_occurrences"] == ["2026-12-24T12:00:00"]
    assert envelopes[4]["payload"]["occurrence"] == "2026-12-24T12:00:00"
    assert envelopes[3]["payload"]["changed"] == ["capacity"]
