"""Exact seats under load: real HTTP to `hearth serve rsvps` (gunicorn, 2 workers) on PostgreSQL."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
import requests
import sqlalchemy as sa

from hearth.stack import Stack
from services.events import operations
from services.events.store import Store
from services.rsvps import store as rsvps_store
from shared.testing import free_port, fresh_databases

pytestmark = pytest.mark.postgres

SEATS = 25
PEOPLE = 300
DROPOUTS = 20


@pytest.fixture
def databases(postgres_server):
    with fresh_databases(postgres_server, "load") as urls:
        yield urls


@contextmanager
def rsvps_server(env, port, log_path):
    """`hearth serve rsvps`, its log in a file: a pipe nobody reads would fill with its access
    lines and stop the server."""
    command = [sys.executable, "-m", "hearth.cli", "serve", "rsvps", "--port", str(port),
               "--host", "127.0.0.1", "--workers", "2"]  # fmt: skip
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/rsvps/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"hearth serve rsvps did not start: {log_path.read_text()}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(15)


@pytest.fixture
def stack(config, databases):
    """The services in this process, on the PostgreSQL databases the server processes use."""
    stack = Stack(config.with_changes(database_urls=databases))
    stack.migrate()
    stack.declare()
    yield stack
    stack.stop()


def test_300_answers_for_25_seats_then_20_dropouts(config, databases, stack, tmp_path):
    # The event is scheduled through the events service and reaches the rsvps read model
    # through the messages.
    client = stack.app("events").test_client()
    events = stack.services["events"]
    with Store(events.engine, events.outbox).begin() as uow:
        _, token = operations.issue_api_token(uow, "dana@example.org", "Dana")
    auth = {"Authorization": f"Bearer {token}"}
    community = client.post(
        "/api/communities", json={"name": "Big Network", "timezone": "America/Chicago"},
        headers=auth,
    ).json  # fmt: skip
    day = date.today() + timedelta(days=30)  # still to come, so it takes answers
    training = client.post(
        f"/api/communities/{community['slug']}/events", headers=auth,
        json={"kind": "training", "title": "CE workshop", "starts_at": f"{day}T09:00",
              "ends_at": f"{day}T12:00", "capacity": SEATS, "ce_hours": 3},
    ).json  # fmt: skip
    stack.flush()

    env = {
        **os.environ,
        "HEARTH_SECRET_KEY": config.secret_key,
        "HEARTH_RATE_LIMITS": "off",  # 300 people answer from this one machine
        "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672//",
        **{f"{name.upper()}_DATABASE_URL": url for name, url in databases.items()},
    }
    with (
        rsvps_server(env, free_port(), tmp_path / "rsvps.log") as base,
        ThreadPoolExecutor(max_workers=40) as pool,
    ):
        url = f"{base}/rsvps/api/events/{training['id']}/rsvps"

        def answer(n):
            body = {"name": f"Person {n}", "email": f"p{n}@example.org", "response": "yes"}
            return requests.post(url, json=body, timeout=60)

        answers = list(pool.map(answer, range(PEOPLE)))
        assert {a.status_code for a in answers} == {201}
        # A double submit of the same person makes no second RSVP.
        assert answer(0).status_code == 200

        with stack.services["rsvps"].engine.connect() as conn:
            rows = conn.execute(sa.select(rsvps_store.rsvps)).all()
        assert len(rows) == PEOPLE
        assert len({row.email for row in rows}) == PEOPLE
        confirmed = sorted(row.queue_number for row in rows if row.status == "confirmed")
        waiting = sorted((row.queue_number, row.id) for row in rows if row.status == "waitlisted")
        assert confirmed == list(range(1, SEATS + 1))
        # Everyone else waits, in the order the server accepted them: one place each, no gaps.
        assert [number for number, _ in waiting] == list(range(SEATS + 1, PEOPLE + 1))

        # Once the messages have flowed, the events service counts the same seats.
        stack.flush()
        assert attendance_shown(client, auth, training["id"]) == {
            "confirmed_seats": SEATS, "waitlisted": PEOPLE - SEATS, "maybe": 0,
        }  # fmt: skip

        by_id = {a.json()["id"]: a.json() for a in answers}
        dropouts = [rsvp_id for rsvp_id, a in by_id.items() if a["status"] == "confirmed"][
            :DROPOUTS
        ]

        def drop(rsvp_id):
            token = by_id[rsvp_id]["manage_url"].rsplit("/", 1)[1]
            return requests.post(f"{base}/rsvps/api/rsvps/{rsvp_id}/cancel",
                                 json={"token": token}, timeout=60)  # fmt: skip

        assert {r.status_code for r in pool.map(drop, dropouts)} == {200}

    with stack.services["rsvps"].engine.connect() as conn:
        rows = conn.execute(sa.select(rsvps_store.rsvps)).all()
        bodies = conn.execute(sa.select(rsvps_store.outbox.c.body)).scalars().all()
    seated = sum(1 for row in rows if row.status == "confirmed")
    assert seated == SEATS
    # Exactly the next twenty in line were promoted, each once.
    next_in_line = {rsvp_id for _, rsvp_id in waiting[:DROPOUTS]}
    promoted = [json.loads(b)["payload"]["rsvp"]["id"] for b in bodies
                if json.loads(b)["type"] == "rsvps.rsvp_promoted"]  # fmt: skip
    assert sorted(promoted) == sorted(next_in_line)
    assert {row.id for row in rows if row.status == "confirmed"} >= next_in_line
    # One revision per decision (each answer, the double submit, each cancellation), none lost:
    # a cancellation and the promotion it caused share theirs.
    revisions = [json.loads(b)["payload"]["counts"]["revision"] for b in bodies]
    decisions = PEOPLE + 1 + DROPOUTS
    assert sorted(set(revisions)) == list(range(1, decisions + 1))
    assert len(revisions) == decisions + DROPOUTS

    stack.flush()
    assert attendance_shown(client, auth, training["id"]) == {
        "confirmed_seats": SEATS, "waitlisted": PEOPLE - SEATS - DROPOUTS, "maybe": 0,
    }  # fmt: skip


def attendance_shown(client, auth, event_id):
    """The seat counts the events service shows for the event."""
    response = client.get(f"/api/events/{event_id}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json["attendance"]
