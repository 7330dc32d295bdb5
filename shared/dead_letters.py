"""Dead-lettered messages, for operators (`hearth dead-letters`): what is parked where and why,
and putting it back once the cause is fixed.

A message lands in `<queue>.dead` when its handler failed on every attempt or its body was not
an envelope (parked by shared.bus, with the error in `x-hearth-error`), or when a consumer died
on it more often than the queue's delivery limit (dead-lettered by the broker, which says so in
`x-death`). Replaying publishes it to its work queue again with its message id, type and
correlation id, as a first attempt; the inbox still absorbs it if it had been handled after all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import kombu

from shared.bus import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    QUEUE_HEADER,
    Bus,
    Subscription,
    body_text,
    forward,
    without_past_deaths,
)

# Headers that describe past deliveries, not the message: a replay starts without them (and
# without the broker's record of its dead-lettering).
DELIVERY_HEADERS = (ATTEMPT_HEADER, ERROR_HEADER, QUEUE_HEADER, "x-delivery-count")


@dataclass(frozen=True)
class Parked:
    """One dead-lettered message, as `show` prints it."""

    message_id: str
    type: str
    correlation_id: str
    attempts: int
    reason: str
    body: str


class NoSuchQueue(LookupError):
    pass


class NoBroker(RuntimeError):
    """There is no broker to read dead letters from: the bus is in-process, or unreachable."""


def find(subscriptions: list[Subscription], name: str) -> Subscription:
    """The subscription a queue name names: its work queue's name or its dead-letter queue's."""
    for subscription in subscriptions:
        if name in (subscription.queue, subscription.dead_letter_queue):
            return subscription
    known = ", ".join(subscription.queue for subscription in subscriptions)
    raise NoSuchQueue(f"no queue named {name!r}; the queues are: {known}")


def counts(bus: Bus, subscriptions: list[Subscription]) -> list[tuple[str, int]]:
    """How many messages wait in each dead-letter queue (declared if missing, as the topology
    has it, so a fresh broker answers with zeros rather than an error)."""
    found = []
    with _channel(bus) as channel:
        for subscription in subscriptions:
            queue = bus.topology.dead_letter_queue(subscription)(channel)
            _, count, _ = queue.queue_declare()
            found.append((subscription.dead_letter_queue, count))
    return found


def peek(bus: Bus, subscription: Subscription, limit: int) -> list[Parked]:
    """The first `limit` parked messages, left where they are: they are taken without an ack,
    and closing the channel gives them back to the queue."""
    parked: list[Parked] = []
    with _channel(bus) as channel:
        queue = bus.topology.dead_letter_queue(subscription)(channel)
        while len(parked) < limit and (message := queue.get(no_ack=False)) is not None:
            parked.append(_parked(message))
    return parked


def replay(bus: Bus, subscription: Subscription, message_id: str | None = None) -> int:
    """Publish parked messages (all, or the one with `message_id`) to their work queue again,
    each removed from the dead-letter queue only once the broker confirmed its copy; how many.
    Others taken on the way are given back."""
    replayed = 0
    publisher = bus.publisher()
    try:
        with _channel(bus) as channel:
            queue = bus.topology.dead_letter_queue(subscription)(channel)
            while (message := queue.get(no_ack=False)) is not None:
                if message_id is not None and message.properties.get("message_id") != message_id:
                    continue  # given back when the channel closes
                headers = {
                    name: value
                    for name, value in without_past_deaths(message.headers or {}).items()
                    if name not in DELIVERY_HEADERS
                }
                forward(publisher, message, subscription.queue, headers)
                message.ack()
                replayed += 1
                if message_id is not None:
                    break
    finally:
        publisher.close()
    return replayed


def purge(bus: Bus, subscription: Subscription) -> int:
    """Delete every parked message of a queue; how many there were."""
    with _channel(bus) as channel:
        return int(bus.topology.dead_letter_queue(subscription)(channel).purge() or 0)


@contextmanager
def _channel(bus: Bus) -> Iterator[Any]:
    if bus.in_process:
        raise NoBroker(
            "the dev stack (memory://) keeps its queues inside its own process; dead letters are "
            "kept on a broker: set AMQP_URL"
        )
    with bus.connection() as connection:
        try:
            connection.ensure_connection(max_retries=3)
        except kombu.exceptions.OperationalError as error:
            raise NoBroker(f"cannot reach the broker at {connection.as_uri()}: {error}") from None
        channel = connection.channel()
        try:
            yield channel
        finally:
            channel.close()


def _parked(message: kombu.Message) -> Parked:
    properties, headers = message.properties, message.headers or {}
    return Parked(
        message_id=str(properties.get("message_id") or ""),
        type=str(properties.get("type") or ""),
        correlation_id=str(properties.get("correlation_id") or ""),
        attempts=int(headers.get(ATTEMPT_HEADER, 1)),
        reason=_reason(headers),
        body=body_text(message),
    )


def _reason(headers: dict[str, Any]) -> str:
    """Why it was parked: the error the consumer recorded, or what the broker says."""
    if ERROR_HEADER in headers:
        return str(headers[ERROR_HEADER])
    deaths = headers.get("x-death") or []
    if deaths:
        death = deaths[0]
        return f"dead-lettered by the broker ({death.get('reason')}) from {death.get('queue')}"
    return "no reason recorded"
