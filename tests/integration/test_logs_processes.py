"""One correlation id followed through real processes' JSON log lines: the events web process
(gunicorn) takes a request, its worker relays and handles the message, and the rsvps worker
handles it too, each writing the id on its lines.

The processes run under the test's own exchange and queue names (hearth_with_test_topology.py),
so they take no message of another test on the same broker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pika
import pytest
import requests
from test_processes import consumers_of, pika_parameters

from shared.bus import Subscription, Topology
from shared.testing import free_port, fresh_databases, local, process, thursday

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

HEARTH = [sys.executable, str(Path(__file__).with_name("hearth_with_test_topology.py"))]
# Every queue `hearth topology` declares, without the test's prefix.
QUEUES = ("events.rsvps", "events.calendar", "rsvps.events", "notifications.events")


@pytest.fixture
def deployment(tmp_path, postgres_server, amqp_url) -> Iterator[dict[str, str]]:
    """The environment of a deployment with fresh databases and its own exchange and queues,
    migrated and declared; the queues and exchange are deleted afterwards."""
    run = uuid.uuid4().hex[:8]
    exchange, prefix = f"hearth-test-{run}", f"test-{run}."
    with fresh_databases(postgres_server, "logs") as databases:
        env = {
            # Nothing of the environment's own Hearth settings (a log format, a database).
            **{
                name: value
                for name, value in os.environ.items()
                if not name.startswith("HEARTH_") and not name.endswith("_URL")
            },
            "HEARTH_DATA": str(tmp_path / "var"),
            "HEARTH_SECRET_KEY": "test-secret-" + run,
            "AMQP_URL": amqp_url,
            "HEARTH_TEST_EXCHANGE": exchange,
            "HEARTH_TEST_QUEUE_PREFIX": prefix,
            **{f"{name.upper()}_DATABASE_URL": url for name, url in databases.items()},
        }
        try:
            for command in ("migrate", "topology"):
                done = subprocess.run([*HEARTH, command], env=env, capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
            yield env
        finally:
            _delete_topology(amqp_url, exchange, prefix)


def _delete_topology(amqp_url: str, exchange: str, prefix: str) -> None:
    connection = pika.BlockingConnection(pika_parameters(amqp_url))
    channel = connection.channel()
    topology = Topology(exchange, prefix)
    for name in QUEUES:
        # Only the names matter here: the subscription's handler is never called.
        for queue in topology.queues(Subscription(prefix + name, (), lambda envelope: None)):
            channel.queue_delete(queue.name)
    channel.exchange_delete(exchange)
    connection.close()


def json_lines(path: Path) -> list[dict]:
    """Every whole line of a process's log so far, each of which must be one JSON object."""
    written = path.read_text()
    # The last line may be half written yet.
    return [json.loads(line) for line in written[: written.rfind("\n") + 1].splitlines()]


def lines_with(path: Path, correlation_id: str, until, deadline: float = 30.0) -> list[dict]:
    """The log lines of `path` that carry `correlation_id`, once `until(them)` holds."""
    stop = time.monotonic() + deadline
    while True:
        found = [line for line in json_lines(path) if line.get("correlation_id") == correlation_id]
        if until(found) or time.monotonic() > stop:
            return found
        time.sleep(0.1)


def handled(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["message"].startswith("handled ")]


def test_a_requests_correlation_id_is_on_the_lines_of_each_process_it_reached(
    deployment, amqp_url, tmp_path
):
    env = deployment
    prefix = env["HEARTH_TEST_QUEUE_PREFIX"]
    token = subprocess.run(
        [*HEARTH, "token", "admin@example.org"], env=env, capture_output=True, text=True
    )
    assert token.returncode == 0, token.stderr
    auth = {"Authorization": f"Bearer {token.stdout.strip()}"}

    workers = {}
    for service in ("events", "rsvps"):
        # Files, not pipes: a pipe nobody reads would stop a process once it filled up.
        with (tmp_path / f"{service}-worker.log").open("w") as log:
            workers[service] = subprocess.Popen(
                [*HEARTH, "worker", service], env=env, stdout=subprocess.DEVNULL, stderr=log
            )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [*HEARTH, "serve", "events", "--port", str(port), "--host", "127.0.0.1"]
    try:
        web_log = tmp_path / "events-web.log"
        with process([*serve, "--workers", "1"], env, f"{base}/healthz", web_log) as web:
            for queue in ("events.calendar", "rsvps.events"):
                deadline = time.monotonic() + 60
                while consumers_of(amqp_url, prefix + queue) == 0:
                    assert time.monotonic() < deadline, f"nobody consumes {queue}"
                    time.sleep(0.1)
            community = requests.post(
                f"{base}/api/communities",
                headers=auth,
                json={"name": "Harbor Peers", "timezone": "America/New_York"},
                timeout=10,
            )
            assert community.status_code == 201, community.text
            correlation_id = str(uuid.uuid4())
            event = requests.post(
                f"{base}/api/communities/{community.json()['slug']}/events",
                headers={**auth, "X-Correlation-ID": correlation_id},
                json={
                    "kind": "peer_lunch",
                    "title": "Peer lunch",
                    "starts_at": local(thursday()),
                    "ends_at": local(thursday() + timedelta(hours=1)),
                },
                timeout=10,
            )
            assert event.status_code == 201, event.text

            # The events worker relays the message and handles it on its calendar queue; the
            # rsvps worker learns the event from its own queue.
            trails = {
                service: lines_with(
                    tmp_path / f"{service}-worker.log", correlation_id, lambda found: handled(found)
                )
                for service in workers
            }
            web.terminate()
            web.wait(30)
    finally:
        for worker in workers.values():
            worker.terminate()
            worker.wait(10)

    web_lines = [json.loads(line) for line in web_log.read_text().splitlines()]
    [access] = [line for line in web_lines if line.get("correlation_id") == correlation_id]
    assert access["logger"] == "hearth.access"
    assert (access["service"], access["process"]) == ("events", "web")
    assert (access["method"], access["status"]) == ("POST", 201)
    assert access["path"] == f"/api/communities/{community.json()['slug']}/events"
    # gunicorn's own lines are JSON too, through the same handler.
    assert any(line["logger"] == "gunicorn.error" for line in web_lines)

    message_ids = set()
    for service, queue in (("events", "events.calendar"), ("rsvps", "rsvps.events")):
        [line] = handled(trails[service])
        assert (line["service"], line["process"]) == (service, "worker")
        assert line["queue"] == prefix + queue
        assert line["message_type"] == "events.event_scheduled"
        message_ids.add(line["message_id"])
        # Every line the worker wrote was one JSON object (json_lines parses each).
        assert json_lines(tmp_path / f"{service}-worker.log")
    # One message, taken from two queues by two services.
    [message_id] = message_ids
    uuid.UUID(message_id)
