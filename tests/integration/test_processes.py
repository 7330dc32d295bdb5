"""The `hearth` commands as real processes on RabbitMQ and PostgreSQL, watched with plain pika."""

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import broker_control
import pika
import pytest
import requests
import sqlalchemy as sa

from services.events.store import outbox as events_outbox
from services.notifications import store as notifications_store
from services.rsvps import store as rsvps_store
from shared.bus import Subscription, Topology
from shared.testing import HEARTH, free_port, fresh_databases, process

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

SERVICE_QUEUES = (
    "events.rsvps",
    "events.calendar",
    "rsvps.events",
    "notifications.events",
    "dev.console",
)


def pika_parameters(amqp_url: str) -> pika.URLParameters:
    # kombu writes the default virtual host as "//", pika as "/%2F".
    if amqp_url.endswith("//"):
        amqp_url = amqp_url[:-1] + "%2F"
    return pika.URLParameters(amqp_url)


@pytest.fixture
def environment(tmp_path, postgres_server, amqp_url) -> Iterator[dict[str, str]]:
    """Fresh databases for the three services and the real broker, as the contract's variables."""
    run = uuid.uuid4().hex[:8]
    with fresh_databases(postgres_server, "proc") as databases:
        yield {
            **os.environ,
            "HEARTH_DATA": str(tmp_path / "var"),
            "HEARTH_SECRET_KEY": "test-secret-" + run,
            "AMQP_URL": amqp_url,
            "HEARTH_DEV_TOKEN": "dev-token-" + run,
            **{f"{name.upper()}_DATABASE_URL": url for name, url in databases.items()},
        }
    _delete_queues(amqp_url)


def _delete_queues(amqp_url: str) -> None:
    # These tests use the deployment's own queue names; leave the broker as they found it.
    connection = pika.BlockingConnection(pika_parameters(amqp_url))
    channel = connection.channel()
    topology = Topology()
    for name in SERVICE_QUEUES:
        # Only the names matter here: the subscription's handler is never called.
        for queue in topology.queues(Subscription(name, (), lambda envelope: None)):
            channel.queue_delete(queue.name)
    connection.close()


class Watcher:
    """An exclusive queue bound to the `hearth` exchange, read as any AMQP client would."""

    def __init__(self, amqp_url: str, binding: str) -> None:
        self.connection = pika.BlockingConnection(pika_parameters(amqp_url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare("hearth", exchange_type="topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        self.channel.queue_bind(self.queue, "hearth", routing_key=binding)
        self.received: list = []

    def collect(self, until, deadline: float = 30.0) -> list:
        """(properties, body) of every message so far, reading until `until(received)` holds."""
        stop = time.monotonic() + deadline
        while not until(self.received) and time.monotonic() < stop:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.connection.sleep(0.05)
                continue
            self.received.append((properties, json.loads(body)))
        return self.received


@contextmanager
def watching(amqp_url: str, binding: str = "events.#") -> Iterator[Watcher]:
    watcher = Watcher(amqp_url, binding)
    try:
        yield watcher
    finally:
        watcher.connection.close()


def wait_for_row(url: str, query, expected: tuple, deadline: float = 30.0):
    """Poll `query` until its first row equals `expected` or `deadline` passes; the last row."""
    engine = sa.create_engine(url)
    stop = time.monotonic() + deadline
    try:
        while True:
            with engine.connect() as conn:
                row = conn.execute(query).first()
            found = tuple(row) if row is not None else None
            if found == expected or time.monotonic() > stop:
                return found
            time.sleep(0.1)
    finally:
        engine.dispose()


def check_envelope(properties, body) -> None:
    assert properties.content_type == "application/json"
    assert properties.delivery_mode == 2
    assert properties.message_id == body["id"]
    assert properties.type == body["type"]
    assert body["producer"] == "events"
    assert body["version"] == 1
    assert body["occurred_at"].endswith("Z")
    uuid.UUID(body["correlation_id"])
    assert isinstance(body["payload"], dict)


def test_hearth_dev_on_rabbitmq_and_postgres_publishes_every_change(environment, amqp_url):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**environment, "HEARTH_PORT": str(port), "HEARTH_DEMO": "1"}
    auth = {"Authorization": f"Bearer {env['HEARTH_DEV_TOKEN']}"}
    with watching(amqp_url) as seen, process([*HEARTH, "dev"], env, f"{base}/healthz"):
        for prefix in ("/", "/rsvps/", "/notifications/"):
            ready = requests.get(f"{base}{prefix}readyz", timeout=5).json()
            assert ready == {**ready, "status": "ready", "broker": "ok", "database": "ok"}
        demo = requests.get(f"{base}/api/communities/riverside", headers=auth, timeout=5)
        assert demo.status_code == 200
        community = requests.post(
            f"{base}/api/communities",
            headers=auth,
            timeout=5,
            json={"name": "Harbor Peer Network", "timezone": "America/Los_Angeles"},
        ).json()
        event = requests.post(
            f"{base}/api/communities/{community['slug']}/events",
            headers=auth,
            timeout=5,
            json={
                "kind": "consult_group",
                "title": "Consult",
                "starts_at": "2027-01-07T12:00",
                "ends_at": "2027-01-07T13:00",
                "rrule": "FREQ=WEEKLY;BYDAY=TH",
            },
        ).json()
        requests.patch(
            f"{base}/api/events/{event['id']}", json={"capacity": 8}, headers=auth, timeout=5
        ).raise_for_status()
        requests.post(
            f"{base}/api/events/{event['id']}/cancel",
            json={"occurrence": "2027-01-14T12:00"},
            headers=auth,
            timeout=5,
        ).raise_for_status()
        requests.post(
            f"{base}/api/events/{event['id']}/cancel", json={}, headers=auth, timeout=5
        ).raise_for_status()

        def mine(messages):
            return [
                body
                for _, body in messages
                if body["payload"].get("event", {}).get("id") == event["id"]
            ]

        messages = seen.collect(lambda received: len(mine(received)) >= 4)
        for properties, body in messages:
            check_envelope(properties, body)
        assert [m["type"] for m in mine(messages)] == [
            "events.event_scheduled",
            "events.event_updated",
            "events.occurrence_cancelled",
            "events.event_cancelled",
        ]
        assert [m["payload"]["event"]["sequence"] for m in mine(messages)] == [0, 1, 2, 3]
        types = {body["type"] for _, body in messages}
        # The demo community was seeded through the same outbox.
        assert {"events.community_created", "events.member_added"} <= types
        # The other services learned it all through their own queues, into their own databases.
        assert wait_for_row(
            env["RSVPS_DATABASE_URL"],
            sa.select(rsvps_store.events.c.status, rsvps_store.events.c.sequence).where(
                rsvps_store.events.c.event_id == event["id"]
            ),
            ("cancelled", 3),
        ) == ("cancelled", 3)
        assert wait_for_row(
            env["NOTIFICATIONS_DATABASE_URL"],
            sa.select(notifications_store.members.c.email).where(
                notifications_store.members.c.email == "organizer@example.org"
            ),
            ("organizer@example.org",),
        ) == ("organizer@example.org",)


def test_the_deployed_commands_serve_migrate_topology_token_and_worker(environment, amqp_url):
    env = environment
    migrated = subprocess.run([*HEARTH, "migrate"], env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    # Declaring queues signs nothing: the broker's URL is all it needs.
    unsigned = {name: value for name, value in env.items() if name != "HEARTH_SECRET_KEY"}
    declared = subprocess.run([*HEARTH, "topology"], env=unsigned, capture_output=True, text=True)
    assert declared.returncode == 0, declared.stderr
    assert "rsvps.events" in declared.stdout
    connection = pika.BlockingConnection(pika_parameters(amqp_url))
    channel = connection.channel()
    for queue in ("rsvps.events", "rsvps.events.dead", "notifications.events"):
        channel.queue_declare(queue, passive=True)  # raises if the queue does not exist
    connection.close()

    token = subprocess.run(
        [*HEARTH, "token", "admin@example.org"], env=env, capture_output=True, text=True
    )
    assert token.returncode == 0, token.stderr
    auth = {"Authorization": f"Bearer {token.stdout.strip()}"}
    bad = subprocess.run(
        [*HEARTH, "token", "not-an-email"], env=env, capture_output=True, text=True
    )
    assert bad.returncode != 0
    assert "EMAIL" in bad.stderr

    port = free_port()
    serve = [*HEARTH, "serve", "events", "--port", str(port), "--host", "127.0.0.1"]
    with (
        watching(amqp_url, "events.community_created") as seen,
        process(serve, env, f"http://127.0.0.1:{port}/healthz"),
    ):
        created = requests.post(
            f"http://127.0.0.1:{port}/api/communities",
            headers=auth,
            timeout=5,
            json={"name": "Solo Practitioners", "timezone": "Europe/London"},
        )
        assert created.status_code == 201, created.text
        # The web process only writes the outbox; nothing is published until a worker relays it.
        assert seen.collect(lambda received: received, deadline=1.0) == []
        metrics_port = free_port()
        worker = subprocess.Popen(
            [*HEARTH, "worker", "events", "--metrics-port", str(metrics_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            messages = seen.collect(lambda received: received)
            # The worker counts what its relay published (once committed), for Prometheus.
            published = 'hearth_messages_published_total{type="events.community_created"} 1.0'
            deadline = time.monotonic() + 10
            while published not in (
                counted := requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            ):
                assert time.monotonic() < deadline, counted
                time.sleep(0.05)
        finally:
            worker.terminate()
            worker.wait(10)
        [(properties, body)] = messages
        check_envelope(properties, body)
        assert body["payload"]["community"]["slug"] == created.json()["slug"]
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "hearth_http_requests_total" in metrics


def consumers_of(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika_parameters(amqp_url))
    try:
        return int(connection.channel().queue_declare(queue, passive=True).method.consumer_count)
    finally:
        connection.close()


@pytest.mark.chaos
def test_while_the_broker_is_away_requests_are_taken_and_published_when_it_returns(
    environment, amqp_url, tmp_path
):
    """The web process needs no broker to take a request: the message waits in its outbox, the
    service reports itself not ready, and the worker's relay publishes it once the broker is
    back, without a restart of either."""
    env = environment
    for command in ("migrate", "topology"):
        done = subprocess.run([*HEARTH, command], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    token = subprocess.run(
        [*HEARTH, "token", "admin@example.org"], env=env, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [*HEARTH, "serve", "events", "--port", str(port), "--host", "127.0.0.1"]
    unpublished = (
        sa.select(sa.func.count())
        .select_from(events_outbox)
        .where(events_outbox.c.published_at.is_(None))
    )
    log = (tmp_path / "worker.log").open("wb")  # a file: its reconnect warnings fill no pipe
    worker = subprocess.Popen([*HEARTH, "worker", "events"], env=env, stdout=log, stderr=log)
    try:
        with process(serve, env, f"{base}/healthz"):
            deadline = time.monotonic() + 60
            while consumers_of(amqp_url, "events.rsvps") == 0:
                assert worker.poll() is None, "the worker exited"
                assert time.monotonic() < deadline, "the worker did not start consuming"
                time.sleep(0.1)
            with broker_control.app_stopped():
                created = requests.post(
                    f"{base}/api/communities",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"name": "Weekend Supervisors", "timezone": "America/Denver"},
                    timeout=10,
                )
                assert created.status_code == 201, created.text
                ready = requests.get(f"{base}/readyz", timeout=10)
                assert ready.status_code == 503
                assert ready.json()["broker"].startswith("unreachable")
                assert ready.json()["database"] == "ok"
                waiting = wait_for_row(env["EVENTS_DATABASE_URL"], unpublished, (0,), 2.0)
                assert waiting != (0,), "nothing can be published while the broker is away"
            # Back: the same relay publishes what waited.
            assert wait_for_row(env["EVENTS_DATABASE_URL"], unpublished, (0,), 60) == (0,)
            assert worker.poll() is None, "the worker kept running through the outage"
            assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    finally:
        worker.terminate()
        worker.wait(10)
        log.close()


def test_serve_and_worker_refuse_to_start_without_their_settings(environment):
    env = {key: value for key, value in environment.items() if key != "HEARTH_SECRET_KEY"}
    result = subprocess.run([*HEARTH, "worker", "events"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "HEARTH_SECRET_KEY is not set" in result.stderr


def test_the_topology_names_match_the_contract():
    topology = Topology()
    assert topology.exchange.name == "hearth"
    assert topology.exchange.type == "topic"
    assert topology.queue_name("rsvps", "events") == "rsvps.events"


def test_hearth_dev_grants_its_token_on_every_start(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")},
        "HEARTH_DATA": str(tmp_path / "var"),
        "HEARTH_PORT": str(port),
        "HEARTH_DEV_TOKEN": "first",
        "AMQP_URL": "",
    }
    base = f"http://127.0.0.1:{port}"
    for token in ("first", "second"):
        env["HEARTH_DEV_TOKEN"] = token
        with process([*HEARTH, "dev"], env, f"{base}/healthz"):
            demo = requests.get(
                f"{base}/api/communities/riverside",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            assert demo.status_code == 200, f"{token}: {demo.status_code}"
