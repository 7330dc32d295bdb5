"""The message bus on kombu: topology, publishing with confirms, consuming with bounded retries.

The same code runs against RabbitMQ and against kombu's in-process `memory://` transport, which
`hearth dev` and the unit tests use. Attempts are counted and messages parked here, by
republishing, so both behave alike. On RabbitMQ a failed message waits for its next attempt in a
retry queue whose TTL is the wait, and which dead-letters it back to its work queue (the delay
tiers, RETRY_DELAYS); the memory transport has no TTL, so there it goes to the back of its queue
at once. The broker's own dead-lettering (quorum queues with a delivery limit) stays as the
safety net for a consumer that dies mid-message.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import kombu
from kombu.mixins import ConsumerMixin

from shared import logs, metrics
from shared.envelope import Envelope, MalformedMessage

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-hearth-attempt"
# What a parked message carries: why it was parked, and the work queue it came from.
ERROR_HEADER = "x-hearth-error"
QUEUE_HEADER = "x-hearth-queue"
MAX_ATTEMPTS = 5
# Redeliveries the broker allows before it dead-letters on its own (a consumer crashing on it).
DELIVERY_LIMIT = 10
PUBLISH_TIMEOUT = 10.0

Handler = Callable[[Envelope], None]
# How long a failed message waits before its next attempt, on RabbitMQ: the n-th retry waits the
# n-th of these (the last one for later retries); one that is not the message's fault (Transient)
# waits the first each time, without using up an attempt. Five attempts span about 2 minutes:
# long enough for a database restart or a deploy, short enough that people are told in time.
RETRY_DELAYS = (1.0, 10.0, 60.0)
# Headers RabbitMQ adds when it dead-letters a message.
DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-")
# How long a consumer on the memory transport (no delay queues) pauses in place after a
# Transient failure, before it retries.
TRANSIENT_PAUSE = 1.0


class Transient(Exception):
    """The handler could not run for a reason outside the message (its database is away, a
    deadlock): the message is retried after a pause without using up one of its attempts."""


@dataclass(frozen=True)
class Subscription:
    """One durable queue of a consuming service, the message types bound to it, and its handler."""

    queue: str
    bindings: tuple[str, ...]
    handle: Handler

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dead"


class Topology:
    """Names and declarations of the exchange and queues: the one place they are defined."""

    def __init__(
        self,
        exchange: str = "hearth",
        queue_prefix: str = "",
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.exchange = kombu.Exchange(exchange, type="topic", durable=True)
        self.queue_prefix = queue_prefix
        self.retry_delays = retry_delays

    def queue_name(self, service: str, purpose: str) -> str:
        return f"{self.queue_prefix}{service}.{purpose}"

    def work_queue(self, subscription: Subscription) -> kombu.Queue:
        return kombu.Queue(
            subscription.queue,
            bindings=[
                kombu.binding(self.exchange, routing_key=key) for key in subscription.bindings
            ],
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": subscription.dead_letter_queue,
            },
        )

    def dead_letter_queue(self, subscription: Subscription) -> kombu.Queue:
        return kombu.Queue(
            subscription.dead_letter_queue,
            durable=True,
            queue_arguments={"x-queue-type": "quorum"},
        )

    def retry_queues(self, subscription: Subscription) -> list[kombu.Queue]:
        """The subscription's delay tiers: a message waits in one for its TTL, then the broker
        dead-letters it back to the work queue. Quorum queues with at-least-once dead-lettering
        (which needs reject-publish overflow), so a message waiting there survives a node."""
        return [
            kombu.Queue(
                self.retry_queue_name(subscription, tier),
                durable=True,
                queue_arguments={
                    "x-queue-type": "quorum",
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": subscription.queue,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
            for tier, delay in enumerate(self.retry_delays)
        ]

    def retry_queue_name(self, subscription: Subscription, retry: int) -> str:
        """Where the `retry`-th retry (from 0) of a subscription's message waits."""
        delay = self.retry_delays[min(retry, len(self.retry_delays) - 1)]
        wait = f"{delay:g}s" if delay >= 1 else f"{round(delay * 1000)}ms"
        return f"{subscription.queue}.retry.{wait}"

    def queues(self, subscription: Subscription) -> list[kombu.Queue]:
        """Every queue of a subscription: its dead-letter queue, its delay tiers, its work queue."""
        return [
            self.dead_letter_queue(subscription),
            *self.retry_queues(subscription),
            self.work_queue(subscription),
        ]

    def definitions(
        self, subscriptions: Iterable[Subscription], vhost: str = "/"
    ) -> dict[str, Any]:
        """The same topology as RabbitMQ definitions (what `rabbitmqctl import_definitions` and
        the `load_definitions` setting read), for a broker set up before any Hearth process runs."""
        subscriptions = list(subscriptions)
        exchange = self.exchange
        return {
            "vhosts": [{"name": vhost}],
            "exchanges": [
                {
                    "name": exchange.name,
                    "vhost": vhost,
                    "type": exchange.type,
                    "durable": exchange.durable,
                    "auto_delete": exchange.auto_delete,
                    "internal": False,
                    "arguments": {},
                }
            ],
            "queues": [
                {
                    "name": queue.name,
                    "vhost": vhost,
                    "durable": queue.durable,
                    "auto_delete": queue.auto_delete,
                    # kombu keeps its constructor's arguments as attributes it does not declare.
                    "arguments": dict(queue.queue_arguments or {}),  # type: ignore[attr-defined]
                }
                for subscription in subscriptions
                for queue in self.queues(subscription)
            ],
            "bindings": [
                {
                    "source": exchange.name,
                    "vhost": vhost,
                    "destination": subscription.queue,
                    "destination_type": "queue",
                    "routing_key": key,
                    "arguments": {},
                }
                for subscription in subscriptions
                for key in subscription.bindings
            ],
        }

    def declare(self, connection: kombu.Connection, subscriptions: Iterable[Subscription]) -> None:
        channel = connection.default_channel
        self.exchange(channel).declare()
        for subscription in subscriptions:
            for queue in self.queues(subscription):
                queue(channel).declare()


class Bus:
    """Opens connections to the broker for one process; each thread uses its own connection."""

    def __init__(self, url: str, topology: Topology) -> None:
        self.url = url
        self.topology = topology
        # A cluster's nodes may be listed `;`-separated; a connection tries them in turn from the
        # first. Each process takes them in an order of its own, so that processes spread over
        # the nodes instead of all using the first (kombu's own "shuffle" picks at random on
        # each try, so a few tries might all hit a node that is down).
        nodes = url.split(";")
        random.shuffle(nodes)
        self._nodes = ";".join(nodes)

    @property
    def in_process(self) -> bool:
        return self.url.startswith("memory://")

    def connection(self, *, heartbeat: int = 0) -> kombu.Connection:
        if self.in_process:
            # The memory transport is one per process; the host name only keeps kombu quiet.
            return kombu.Connection(
                "memory://localhost/", transport_options={"polling_interval": 0.05}
            )
        return kombu.Connection(
            self._nodes,
            heartbeat=heartbeat,
            connect_timeout=5,
            transport_options={"confirm_publish": True},
        )

    def publisher(self) -> BusPublisher:
        return BusPublisher(self.connection(), self.topology.exchange)

    def declare(self, subscriptions: Iterable[Subscription]) -> None:
        with self.connection() as connection:
            connection.ensure_connection(max_retries=3)
            self.topology.declare(connection, subscriptions)

    def retry_queue(self, subscription: Subscription, retry: int) -> str | None:
        """Where the `retry`-th retry (from 0) of a message waits; None on the memory transport,
        which has no delay queues (the message goes to the back of its work queue)."""
        return None if self.in_process else self.topology.retry_queue_name(subscription, retry)

    def ping(self) -> None:
        """Raise if the broker cannot be reached (for readiness checks)."""
        if self.in_process:
            return
        with self.connection() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)


class BusPublisher:
    """Publishes persistent JSON messages and waits for the broker's confirm.

    It owns its connection and has no heartbeat, because it is used from threads that cannot
    heartbeat while idle; a dead connection is noticed and reopened by `ensure` on the next publish.
    """

    def __init__(self, connection: kombu.Connection, exchange: kombu.Exchange) -> None:
        self.connection = connection
        self.exchange = exchange
        self._producer: kombu.Producer | None = None

    def publish(
        self,
        body: str,
        *,
        type: str,
        message_id: str,
        correlation_id: str,
        routing_key: str | None = None,
        exchange: kombu.Exchange | str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        if self._producer is None:
            self._producer = kombu.Producer(self.connection)
        publish = self.connection.ensure(
            self._producer,
            self._producer.publish,
            max_retries=3,
            interval_start=0.5,
            interval_step=1,
        )
        publish(
            body,
            exchange=self.exchange if exchange is None else exchange,
            routing_key=type if routing_key is None else routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=message_id,
            type=type,
            correlation_id=correlation_id,
            headers=headers or {},
            timeout=PUBLISH_TIMEOUT,
        )

    def close(self) -> None:
        self.connection.release()


# Where the n-th retry (from 0) of a subscription's message waits, or None to retry at once.
RetryQueue = Callable[[Subscription, int], str | None]


def no_delay(subscription: Subscription, retry: int) -> str | None:
    return None


def process(
    message: kombu.Message,
    subscription: Subscription,
    publisher: BusPublisher,
    retry_queue: RetryQueue = no_delay,
    max_attempts: int = MAX_ATTEMPTS,
) -> None:
    """Handle one delivery; ack only after the handler's transaction committed.

    A body that is not an envelope goes straight to the dead-letter queue. A handler that fails is
    retried by republishing with a higher attempt count, to wait in `retry_queue` (Bus.retry_queue)
    if it names one; after `max_attempts` the message is parked in the dead-letter queue with the
    error, so it can neither block the queue nor loop forever. A Transient failure is not the
    message's fault: it is retried after the first delay (or a pause in place), uncounted.
    """
    started = time.perf_counter()
    # Every line logged while handling it carries the message's ids, which the publisher set
    # from its envelope, so even one that is not an envelope can be traced.
    properties = message.properties
    with logs.context(
        queue=subscription.queue,
        correlation_id=properties.get("correlation_id"),
        message_id=properties.get("message_id"),
        message_type=properties.get("type"),
    ):
        outcome = _process(message, subscription, publisher, retry_queue, max_attempts)
        elapsed = time.perf_counter() - started
        if outcome == "handled":
            # One line per message, as the web logs one per request: how a correlation id is
            # followed from service to service. Failures were logged where they happened.
            log.info(
                "handled %s in %.1f ms",
                properties.get("type") or "a message",
                elapsed * 1000,
                extra={"duration_ms": round(elapsed * 1000, 1)},
            )
    metrics.CONSUMED.labels(subscription.queue, outcome).inc()
    metrics.HANDLING.labels(subscription.queue).observe(elapsed)


def _process(
    message: kombu.Message,
    subscription: Subscription,
    publisher: BusPublisher,
    retry_queue: RetryQueue,
    max_attempts: int,
) -> str:
    """`process` without the counting: what became of the message (metrics.OUTCOMES)."""
    headers = dict(message.headers or {})
    attempt = int(headers.get(ATTEMPT_HEADER, 1))
    try:
        envelope = Envelope.from_json(message.body)
    except MalformedMessage as error:
        log.error("dead-lettering malformed message on %s: %s", subscription.queue, error)
        _park(message, subscription, publisher, headers, f"malformed: {error}")
        return "dead_lettered"
    try:
        subscription.handle(envelope)
    except Transient as error:
        log.warning("%s %s must wait: %s", envelope.type, envelope.id, error.__cause__ or error)
        waits_in = retry_queue(subscription, 0)
        if waits_in is None:
            time.sleep(TRANSIENT_PAUSE)
        _requeue(message, subscription, publisher, envelope, headers, waits_in)
        return "waiting"
    except Exception as error:
        if attempt >= max_attempts:
            log.exception(
                "dead-lettering %s %s after %d attempts", envelope.type, envelope.id, attempt
            )
            _park(message, subscription, publisher, headers, _describe(error))
            return "dead_lettered"
        log.warning(
            "retrying %s %s (attempt %d of %d): %s",
            envelope.type,
            envelope.id,
            attempt,
            max_attempts,
            error,
        )
        _requeue(
            message,
            subscription,
            publisher,
            envelope,
            {**headers, ATTEMPT_HEADER: attempt + 1},
            retry_queue(subscription, attempt - 1),
        )
        return "retried"
    message.ack()
    return "handled"


def _requeue(
    message: kombu.Message,
    subscription: Subscription,
    publisher: BusPublisher,
    envelope: Envelope,
    headers: dict[str, Any],
    waits_in: str | None,
) -> None:
    """Put a copy in the delay queue `waits_in`, or else at the back of the subscription's own
    queue, then let go of this delivery. The broker's record of earlier waits stays behind."""
    publisher.publish(
        body_text(message),
        type=envelope.type,
        message_id=envelope.id,
        correlation_id=envelope.correlation_id,
        exchange="",
        routing_key=waits_in or subscription.queue,
        headers=without_past_deaths(headers),
    )
    message.ack()


def _park(
    message: kombu.Message,
    subscription: Subscription,
    publisher: BusPublisher,
    headers: dict[str, Any],
    reason: str,
) -> None:
    forward(
        publisher,
        message,
        subscription.dead_letter_queue,
        {
            **without_past_deaths(headers),
            ERROR_HEADER: reason[:2000],
            QUEUE_HEADER: subscription.queue,
        },
    )
    message.ack()


def forward(
    publisher: BusPublisher, message: kombu.Message, queue: str, headers: dict[str, Any]
) -> None:
    """Publish a copy of a delivered message (its body, type, id and correlation id) straight to
    `queue`, with `headers`; the message itself is left to its taker to ack."""
    properties = message.properties
    publisher.publish(
        body_text(message),
        type=str(properties.get("type") or "unknown"),
        message_id=str(properties.get("message_id") or ""),
        correlation_id=str(properties.get("correlation_id") or ""),
        exchange="",
        routing_key=queue,
        headers=headers,
    )


def without_past_deaths(headers: dict[str, Any]) -> dict[str, Any]:
    """`headers` without what the broker recorded of the message's dead-lettering (a delay
    tier's expiry, or a delivery limit): a copy we publish starts a history of its own."""
    return {name: value for name, value in headers.items() if not name.startswith(DEATH_HEADERS)}


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip()


def body_text(message: kombu.Message) -> str:
    """A message's body as text (py-amqp hands over bytes unless it was declared UTF-8)."""
    body = message.body
    return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body


def drain(
    bus: Bus, subscription: Subscription, publisher: BusPublisher, limit: int = 10_000
) -> int:
    """Process what waits in a subscription's queue now, then return (tests and `flush`)."""
    handled = 0
    with bus.connection() as connection:
        queue = bus.topology.work_queue(subscription)(connection.default_channel)
        while handled < limit:
            message = queue.get(no_ack=False, accept=["application/json"])
            if message is None:
                break
            process(message, subscription, publisher, bus.retry_queue)
            handled += 1
    return handled


class ConsumerLoop(ConsumerMixin):
    """Consumes a service's subscriptions until stopped, reconnecting after broker failures."""

    def __init__(self, bus: Bus, subscriptions: list[Subscription], prefetch: int = 10) -> None:
        self.bus = bus
        self.subscriptions = subscriptions
        self.prefetch = prefetch
        # Heartbeats keep a quiet consumer's connection alive; ConsumerMixin checks them.
        self.connection = bus.connection(heartbeat=30)
        self.publisher = bus.publisher()

    def get_consumers(self, Consumer, channel):  # type: ignore[no-untyped-def]
        if not self.bus.in_process:
            # Retries must never be published to a delay queue that does not exist (the broker
            # would drop them), so a consumer declares its own before it takes a message.
            for subscription in self.subscriptions:
                for queue in self.bus.topology.retry_queues(subscription):
                    queue(channel).declare()
        return [
            Consumer(
                queues=[self.bus.topology.work_queue(subscription)],
                on_message=lambda message, s=subscription: process(
                    message, s, self.publisher, self.bus.retry_queue
                ),
                accept=["application/json"],
                prefetch_count=self.prefetch,
            )
            for subscription in self.subscriptions
        ]

    def on_connection_error(self, exc, interval):  # type: ignore[no-untyped-def]
        log.warning("broker connection lost (%s); reconnecting in %ss", exc, interval)

    def stop(self) -> None:
        self.should_stop = True

    def close(self) -> None:
        self.publisher.close()
        self.connection.release()
