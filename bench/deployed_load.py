"""A realistic mix of calendar polls, RSVPs and event edits through Hearth as it is deployed, at a
few load levels, and the message pipeline's end-to-end rate beside the broker's own ceiling, in
one run (issue 6's benchmark).

The deployed shape, all on this machine: `hearth migrate` and `hearth topology`, then `hearth
serve events|rsvps|notifications` (gunicorn, 2 workers each, each service on its own port and
prefix: no gateway) and `hearth worker events|rsvps|notifications`, every one a process of its
own, on fresh PostgreSQL databases (TEST_POSTGRES_URL) and the local RabbitMQ (TEST_AMQP_URL).
They run through tests/integration/hearth_with_test_topology.py, which is `hearth` on an exchange
and queues named for this run, so nothing else on the broker consumes their messages. Mail goes
to an aiosmtpd server in this process (SMTP_URL); texts are left unset (nobody here opts in to
texts, so none are due).

Setup (timed and printed, not measured): an organizer (`hearth token`) creates one community
with MEMBERS members (one in four with a phone) over the API; schedules a weekly consult group
(SERIES_DATES dates, 12 seats each), a CE training (40 seats) and a peer lunch (16 seats), which
take the answers of the load, and STATIC_EVENTS one-off events with STATIC_ATTENDEES confirmed
attendees each, which take the organizer's edits. Every member is told of every event by mail
and every seeded answer confirmed by mail; the run waits for all of them.

Each load level runs CLIENTS threads (requests.Session each, one request at a time) for
--seconds, every request drawn from this mix:
  feed   70%  a calendar app polling: the community's feed (half) or a member's own feed, with
              If-None-Match of the ETag it last got; 200 (with an ETag) or 304.
  rsvp   25%  a member answering yes (two in three) or no for a date of the consult group, the
              training or the lunch: 201 the first time that member answers for that date, 200
              after, with the status the answer calls for (confirmed or waitlisted; declined).
              Seats run out, so the waitlist grows and a "no" promotes the head of the line.
  edit    5%  the organizer moving one of the static events to a new place (every edit) and
              time (every other edit): 200, and an update mail to each of its attendees.
Why this mix: calendar apps poll all day while people answer now and then and organizers edit
rarely; 5% edits is more than real life, so the fan-out shows. Edits go to events that take no
answers during the load, so the update mails they cause are known exactly. Each member answers
from one client at a time, so whether an answer is its first is known too. Any other status
fails the run (after the tables of the levels measured so far).

After each level: the mail it caused must all reach the SMTP server, counted exactly: one per
answer that came back confirmed or waitlisted, one per promotion (the rsvps service's outbox
says how many: promotions are not in the answer of the person who said no, and the outbox's
count of the others must equal the bench's own), and one per attendee per edit. "drain" is how
long after the last request the last of them arrived. Every Message-ID must be new.

Printed per level: per kind the count, rate, median and 99th percentile in ms (from sending
the request to the last byte); the sustained requests/s; and each process's CPU as % of one
core over the level (core-seconds / wall seconds), so what saturated first shows. Then each
process's peak memory (VmHWM from /proc/<pid>/status: gunicorn's master and each worker,
RabbitMQ and this run's PostgreSQL processes when /proc shows them).

The pipeline against the broker's ceiling, alternated over --rounds (A B A B ...), medians:
  ceiling   plain pika: MESSAGES persistent messages (delivery_mode 2) to a quorum queue of this
            run, each publish waiting for its confirm (as Hearth's relay publishes), consumed
            with manual acks (prefetch 100) on a second connection; first publish to last ack.
  pipeline  MESSAGES members added to a community of their own through the events service's
            use case in its unit of work, one transaction each, as the web process does (each
            writes `events.member_added` to the outbox), from WRITERS (4) threads so that the
            writing is not the limit (its rate is printed); relayed by `hearth worker events`,
            handled by `hearth worker notifications`; from the first commit to the last
            membership in the notifications database (polled every 20 ms).

Run: .venv/bin/python bench/deployed_load.py [--clients 4,16,64] [--seconds N] [--members N]
[--messages N] [--rounds N], or `make bench`. Only 127.0.0.1 is used. The databases, the
processes, the exchange and the queues are made for the run and removed at the end, also on
failure.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any
from urllib.parse import urlsplit

import pika
import requests
import sqlalchemy as sa
from _measure import (
    HOST,
    ROOT,
    Process,
    broker_url,
    children,
    cpu_seconds,
    cpu_spent,
    free_port,
    machine_busy,
    median_row,
    peak_memory,
    pids_named,
    postgres_pids,
    postgres_server_url,
    postgres_version,
    rabbitmq_version,
    smtp_server,
    started,
)

from hearth.stack import Stack
from services.events import operations
from services.events.feeds import personal_feed_path
from services.events.store import Store
from services.notifications import store as notifications_store
from shared.config import SERVICES, Config
from shared.testing import fresh_databases, local, thursday

# The tests' helpers live in tests/, which is not an installed package.
sys.path.insert(0, str(ROOT))
from tests.conftest import delete_topology

HEARTH = [sys.executable, str(ROOT / "tests/integration/hearth_with_test_topology.py")]

CLIENTS = (4, 16, 64)  # load levels: concurrent clients
SECONDS = 15.0  # of load per level
MEMBERS = 200
SERIES_DATES = 8
STATIC_EVENTS, STATIC_ATTENDEES = 6, 12
MESSAGES = 1000  # per round of the pipeline and of the ceiling
ROUNDS = 3
# Threads committing the pipeline's rows, as several web processes would, so that writing them
# is not what limits the pipeline.
WRITERS = 4
WEIGHTS = {"feed": 70, "rsvp": 25, "edit": 5}
WORKERS = 2  # gunicorn processes per service (`hearth serve`'s default)
ORGANIZER = "organizer@example.org"
STALL_SECONDS = 60  # no new mail (or handled message) for this long while waiting: the run fails
REQUEST_TIMEOUT = 60
POLL = 0.02
MACHINE = "the whole machine"


# --- The processes ---------------------------------------------------------------------------


def run_command(args: list[str], env: dict[str, str]) -> str:
    """A `hearth` command that does its work and exits: its output, or the run fails."""
    done = subprocess.run([*HEARTH, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"hearth {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def healthy(port: int, prefix: str) -> bool:
    try:
        return requests.get(f"http://{HOST}:{port}{prefix}healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


# --- The SMTP server -------------------------------------------------------------------------


@dataclass
class MailCounter:
    """An aiosmtpd handler that accepts everything and keeps only what the checks need: how
    many mails came, when the last did, and each Message-ID once (a second one is a duplicate)."""

    count: int = 0
    last_at: float = 0.0
    message_ids: set[str] = field(default_factory=set)
    duplicates: list[str] = field(default_factory=list)
    recipients: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(envelope.original_content)
        message_id = str(headers["Message-ID"] or "")
        with self.lock:
            self.count += 1
            self.last_at = time.perf_counter()
            if message_id in self.message_ids:
                self.duplicates.append(message_id)
            self.message_ids.add(message_id)
            for recipient in envelope.rcpt_tos:
                self.recipients[recipient] += 1
        return "250 Message accepted for delivery"


def wait_for_mail(mail: MailCounter, expected: int, processes: list[Process], what: str) -> None:
    """Until the server accepted `expected` mails in all; fails if a process died, nothing came
    for STALL_SECONDS, more came than expected, or any came twice."""
    seen, since = mail.count, time.monotonic()
    while mail.count < expected:
        for process in processes:
            process.check_alive()
        if mail.count != seen:
            seen, since = mail.count, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            raise SystemExit(
                f"{what}: {mail.count} of {expected} mails, none for {STALL_SECONDS} s"
            )
        time.sleep(POLL)
    # Anything more would come right behind the last expected one.
    time.sleep(1.0)
    if mail.count != expected or mail.duplicates:
        raise SystemExit(
            f"{what}: {mail.count} mails arrived, not {expected}"
            f"{f'; twice: {mail.duplicates[:3]}' if mail.duplicates else ''}"
        )


# --- The community ---------------------------------------------------------------------------


@dataclass
class Member:
    id: str
    email: str
    name: str
    phone: str | None
    feed_path: str


@dataclass
class Target:
    """A date people answer for: an event, and its original local start if it is a series'."""

    event_id: str
    occurrence: str | None


@dataclass
class Community:
    slug: str
    id: str
    feed_path: str
    members: list[Member]
    targets: list[Target]
    # The events the organizer edits, with how many are going to each (nobody answers them
    # during the load, so each edit sends that many update mails).
    static: dict[str, int]
    static_start: dict[str, str]


class Api:
    """The three services, each on its own port, with the organizer's token."""

    def __init__(self, ports: dict[str, int], token: str) -> None:
        self.ports = ports
        self.auth = {"Authorization": f"Bearer {token}"}
        self.session = requests.Session()

    def url(self, service: str, path: str) -> str:
        return f"http://{HOST}:{self.ports[service]}{path}"

    def call(self, method: str, service: str, path: str, status: int, **kwargs: Any) -> Any:
        answer = self.session.request(
            method, self.url(service, path), headers=self.auth, timeout=REQUEST_TIMEOUT, **kwargs
        )
        if answer.status_code != status:
            raise SystemExit(f"{method} {path}: {answer.status_code}, not {status}: {answer.text}")
        return answer.json()


def seed(api: Api, secret_key: str, members: int) -> tuple[Community, int]:
    """The community, its members and events, and the seeded answers: and how many mails they
    call for (announcements, confirmations)."""
    made = api.call(
        "POST", "events", "/api/communities", 201,
        json={"name": "Riverside Clinicians Network", "timezone": "America/New_York",
              "visibility": "private"},
    )  # fmt: skip
    slug = made["slug"]
    feed = urlsplit(made["feed_url"])
    people = []
    for n in range(members):
        body = {"email": f"member-{n}@example.org", "name": f"Member {n}", "role": "member"}
        if n % 4 == 0:
            body["phone"] = f"+1312555{n:04d}"
        added = api.call("POST", "events", f"/api/communities/{slug}/members", 201, json=body)
        path = personal_feed_path(secret_key, added["id"], 0)
        people.append(Member(added["id"], added["email"], added["name"], added["phone"], path))

    scheduled = 0

    def schedule(body: dict[str, Any]) -> str:
        nonlocal scheduled
        event = api.call("POST", "events", f"/api/communities/{slug}/events", 201, json=body)
        scheduled += 1
        return str(event["id"])

    first = thursday(1)
    series = schedule({
        "kind": "consult_group", "title": "Thursday consult group", "capacity": 12,
        "starts_at": local(first), "ends_at": local(first + timedelta(hours=1, minutes=30)),
        "rrule": f"FREQ=WEEKLY;COUNT={SERIES_DATES}",
    })  # fmt: skip
    targets = [Target(series, local(first + timedelta(weeks=n))) for n in range(SERIES_DATES)]
    for kind, title, weeks, capacity in (("training", "Ethics CE: boundaries", 2, 40),
                                         ("peer_lunch", "Peer lunch", 3, 16)):  # fmt: skip
        start = thursday(weeks) + timedelta(hours=1)
        targets.append(Target(schedule({
            "kind": kind, "title": title, "capacity": capacity, "starts_at": local(start),
            "ends_at": local(start + timedelta(hours=2)), "location": "Juniper Room",
        }), None))  # fmt: skip
    static, static_start = {}, {}
    for n in range(STATIC_EVENTS):
        start = thursday(n % 4) + timedelta(days=2, hours=6)
        event_id = schedule({
            "kind": "social", "title": f"Gathering {n + 1}", "starts_at": local(start),
            "ends_at": local(start + timedelta(hours=2)), "location": "The Mill, 12 Mill Street",
        })  # fmt: skip
        static[event_id] = 0
        static_start[event_id] = local(start)
    # Everyone in the community is told of every event, the organizer too.
    mails = (members + 1) * scheduled

    everything = [target.event_id for target in targets] + list(static)
    wait_until("the rsvps service to hear of the events", lambda: known_to_rsvps(api, everything))
    for n, event_id in enumerate(static):
        for k in range(STATIC_ATTENDEES):
            person = people[(n * STATIC_ATTENDEES + k) % len(people)]
            body = {"name": person.name, "email": person.email, "response": "yes"}
            answered = api.call("POST", "rsvps", f"/rsvps/api/events/{event_id}/rsvps", 201,
                                json=body)  # fmt: skip
            if answered["status"] != "confirmed":
                raise SystemExit(f"a seeded answer was {answered['status']}, not confirmed")
            static[event_id] += 1
            mails += 1
    community = Community(
        slug, made["id"], f"{feed.path}?{feed.query}", people, targets, static, static_start
    )
    return community, mails


def known_to_rsvps(api: Api, events: list[str]) -> bool:
    """Whether the rsvps service has every one of `events` in its read model (its messages
    arrived): the attendee list answers 404 for an event it has not heard of."""
    for event_id in events:
        answer = api.session.get(
            api.url("rsvps", f"/rsvps/api/events/{event_id}/rsvps"),
            headers=api.auth,
            timeout=REQUEST_TIMEOUT,
        )
        if answer.status_code != 200:
            return False
    return True


def wait_until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STALL_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"waited {STALL_SECONDS} s for {what}")
        time.sleep(0.1)


# --- The load --------------------------------------------------------------------------------


@dataclass
class Level:
    clients: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {kind: [] for kind in WEIGHTS}
    )
    not_modified: int = 0
    errors: list[str] = field(default_factory=list)
    # Mail the level calls for, by cause.
    own_mails: int = 0  # answers that came back confirmed or waitlisted
    promotions: int = 0
    update_mails: int = 0
    drain: float = 0.0
    cpu: dict[str, float | None] = field(default_factory=dict)


class Load:
    """What the clients share: the community, who answered what, and a count of edits."""

    def __init__(self, ports: dict[str, int], token: str, community: Community) -> None:
        self.ports = ports
        self.token = token
        self.community = community
        self.answered: set[tuple[str, str, str | None]] = set()
        self.edits = 0
        self.lock = threading.Lock()

    def run(self, level: Level, seconds: float, seed: int) -> None:
        stop = threading.Event()
        threads = [
            threading.Thread(target=self.client, args=(level, n, stop, seed), daemon=True)
            for n in range(level.clients)
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
        level.seconds = time.perf_counter() - began

    def client(self, level: Level, n: int, stop: threading.Event, seed: int) -> None:
        rng = random.Random(f"{seed}-{n}")
        session = requests.Session()
        # Each member answers from one client only, so whether an answer is its first is known.
        mine = self.community.members[n :: level.clients] or self.community.members[:1]
        etags: dict[str, str] = {}
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        latencies: dict[str, list[float]] = {kind: [] for kind in WEIGHTS}
        own = not_modified = 0
        errors: list[str] = []
        while not stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            try:
                if kind == "feed":
                    seconds, was_304 = self.poll(session, rng, etags)
                    not_modified += was_304
                elif kind == "rsvp":
                    seconds, mails = self.answer(session, rng, mine)
                    own += mails
                else:
                    seconds = self.edit(session, rng, level)
            except (Unexpected, requests.RequestException) as error:
                errors.append(f"{kind}: {error}")
                continue
            latencies[kind].append(seconds)
        with self.lock:
            for kind, values in latencies.items():
                level.latencies[kind] += values
            level.own_mails += own
            level.not_modified += not_modified
            level.errors += errors

    def poll(
        self, session: requests.Session, rng: random.Random, etags: dict[str, str]
    ) -> tuple[float, bool]:
        if rng.random() < 0.5:
            path = self.community.feed_path
        else:
            path = rng.choice(self.community.members).feed_path
        headers = {"If-None-Match": etags[path]} if path in etags else {}
        began = time.perf_counter()
        answer = session.get(self.url("events", path), headers=headers, timeout=REQUEST_TIMEOUT)
        seconds = time.perf_counter() - began
        if answer.status_code == 304 and headers:
            return seconds, True
        if answer.status_code != 200 or "ETag" not in answer.headers:
            raise Unexpected(f"GET {path}: {answer.status_code} {answer.text[:200]}")
        etags[path] = answer.headers["ETag"]
        return seconds, False

    def answer(
        self, session: requests.Session, rng: random.Random, mine: list[Member]
    ) -> tuple[float, int]:
        """One answer; and whether it calls for a mail to its person (confirmed or waitlisted)."""
        person = rng.choice(mine)
        target = rng.choice(self.community.targets)
        response = "yes" if rng.random() < 2 / 3 else "no"
        body: dict[str, Any] = {"name": person.name, "email": person.email, "response": response}
        if person.phone:
            body["phone"] = person.phone
        if target.occurrence:
            body["occurrence"] = target.occurrence
        key = (person.email, target.event_id, target.occurrence)
        with self.lock:
            first = key not in self.answered
        path = f"/rsvps/api/events/{target.event_id}/rsvps"
        began = time.perf_counter()
        answer = session.post(self.url("rsvps", path), json=body, timeout=REQUEST_TIMEOUT)
        seconds = time.perf_counter() - began
        expected = 201 if first else 200
        allowed = ("confirmed", "waitlisted") if response == "yes" else ("declined",)
        status = answer.json().get("status") if answer.status_code in (200, 201) else None
        if answer.status_code != expected or status not in allowed:
            raise Unexpected(
                f"POST {path} ({response}, {'first' if first else 'again'}): "
                f"{answer.status_code} {answer.text[:200]}"
            )
        with self.lock:
            self.answered.add(key)
        return seconds, int(response == "yes")

    def edit(self, session: requests.Session, rng: random.Random, level: Level) -> float:
        """The organizer moves a static event to a new place, and every other time to a new
        time too: each edit is a change attendees are told of."""
        event_id = rng.choice(list(self.community.static))
        with self.lock:
            self.edits += 1
            edit = self.edits
        body = {"location": f"Room {edit}, 12 Mill Street"}
        if edit % 2 == 0:
            start = self.community.static_start[event_id]
            hour = int(start[11:13]) + (edit // 2) % 3  # 0 to 2 hours later than scheduled
            body["starts_at"] = f"{start[:11]}{hour:02d}{start[13:]}"
            body["ends_at"] = f"{start[:11]}{hour + 2:02d}{start[13:]}"
        headers = {"Authorization": f"Bearer {self.token}"}
        path = f"/api/events/{event_id}"
        began = time.perf_counter()
        answer = session.patch(
            self.url("events", path), json=body, headers=headers, timeout=REQUEST_TIMEOUT
        )
        seconds = time.perf_counter() - began
        if answer.status_code != 200:
            raise Unexpected(f"PATCH {path}: {answer.status_code} {answer.text[:200]}")
        with self.lock:
            level.update_mails += self.community.static[event_id]
        return seconds

    def url(self, service: str, path: str) -> str:
        return f"http://{HOST}:{self.ports[service]}{path}"


class Unexpected(Exception):
    """A response other than the one the request calls for."""


def outbox_counts(engine: sa.Engine) -> Counter[str]:
    """The rsvps service's published-or-pending messages by type."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT type, count(*) FROM outbox GROUP BY type")).all()
    return Counter({str(kind): int(count) for kind, count in rows})


# --- The pipeline and the broker's ceiling ---------------------------------------------------


def pika_parameters(amqp_url: str) -> pika.URLParameters:
    # kombu writes the default virtual host as "//", pika as "/%2F".
    if amqp_url.endswith("//"):
        amqp_url = amqp_url[:-1] + "%2F"
    return pika.URLParameters(amqp_url)


def ceiling(amqp_url: str, queue: str, count: int) -> float:
    """Seconds from the first confirmed publish of `count` persistent messages to a quorum queue
    to the last manual ack by a consumer on a second connection."""
    parameters = pika_parameters(amqp_url)
    acked = threading.Event()
    consumer_ready = threading.Event()
    failure: list[BaseException] = []
    finished_at = [0.0]

    def consume() -> None:
        try:
            connection = pika.BlockingConnection(parameters)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=100)
            received = 0

            def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
                nonlocal received
                ch.basic_ack(method.delivery_tag)
                received += 1
                if received == count:
                    finished_at[0] = time.perf_counter()
                    ch.stop_consuming()

            channel.basic_consume(queue, on_message)
            consumer_ready.set()
            channel.start_consuming()
            connection.close()
        except BaseException as error:
            failure.append(error)
            consumer_ready.set()
        finally:
            acked.set()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    consumer_ready.wait(30)
    if failure:
        raise SystemExit(f"the ceiling's consumer failed: {failure[0]!r}")
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        body = b'{"id": "00000000-0000-0000-0000-000000000000", "payload": {"n": 0}}' * 4
        properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        began = time.perf_counter()
        for _ in range(count):
            channel.basic_publish("", queue, body, properties, mandatory=True)
    finally:
        connection.close()
    if not acked.wait(STALL_SECONDS) or failure:
        raise SystemExit(f"the ceiling's consumer did not get every message: {failure[:1]!r}")
    return finished_at[0] - began


def pipeline(
    stack: Stack, organizer_id: str, community_id: str, count: int, start: int
) -> tuple[float, float]:
    """Seconds from the first of `count` members committed (with their `events.member_added` in
    the outbox) to the last one committed, and to the last one's membership stored by the
    notifications worker."""
    events = stack.services["events"]
    store = Store(events.engine, events.outbox)
    ctx = operations.Context(organizer_id, str(uuid.uuid4()), stack.config.base_url)
    with store.begin() as uow:
        community = uow.community_by_id(community_id)
    assert community is not None
    memberships = notifications_store.memberships
    query = (
        sa.select(sa.func.count())
        .select_from(memberships)
        .where(memberships.c.community_id == community_id)
    )
    engine = stack.services["notifications"].engine
    with engine.connect() as conn:
        before = int(conn.execute(query).scalar_one())
    failures: list[BaseException] = []

    def write(numbers: range) -> None:
        try:
            for n in numbers:
                with store.begin() as uow:
                    values = {"email": f"pipeline-{n}@example.org", "name": f"Pipeline {n}"}
                    operations.add_member(uow, ctx, community, values)
        except BaseException as error:
            failures.append(error)

    writers = [
        threading.Thread(target=write, args=(range(start + w, start + count, WRITERS),))
        for w in range(WRITERS)
    ]
    began = time.perf_counter()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    written = time.perf_counter() - began
    if failures:
        raise SystemExit(f"pipeline: writing the members failed: {failures[0]!r}")
    seen, since = before, time.monotonic()
    while seen < before + count:
        time.sleep(POLL)
        with engine.connect() as conn:
            now_seen = int(conn.execute(query).scalar_one())
        if now_seen != seen:
            seen, since = now_seen, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            raise SystemExit(f"pipeline: {seen - before} of {count} handled, none for a minute")
    return written, time.perf_counter() - began


# --- The run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    clients: tuple[int, ...] = CLIENTS
    seconds: float = SECONDS
    members: int = MEMBERS
    messages: int = MESSAGES
    rounds: int = ROUNDS


@dataclass
class Results:
    versions: dict[str, str] = field(default_factory=dict)
    setup: dict[str, float] = field(default_factory=dict)
    seed_mails: int = 0
    levels: list[Level] = field(default_factory=list)
    groups: dict[str, list[int]] = field(default_factory=dict)
    memory: dict[str, int | None] = field(default_factory=dict)
    ceiling: list[float] = field(default_factory=list)
    pipeline: list[float] = field(default_factory=list)
    written: list[float] = field(default_factory=list)  # seconds to commit the pipeline's rows
    failure: str | None = None


def run(plan: Plan) -> Results:
    postgres = postgres_server_url()
    amqp = broker_url()
    tag = uuid.uuid4().hex[:8]
    results = Results()
    ports = {service: free_port() for service in SERVICES}
    mail = MailCounter()
    with (
        fresh_databases(postgres, "load", SERVICES) as urls,
        smtp_server(mail) as smtp_port,
        tempfile.TemporaryDirectory(prefix="hearth-bench-") as temp,
    ):
        config = Config(
            secret_key=secrets.token_urlsafe(32),
            database_urls=urls,
            amqp_url=amqp,
            base_url=f"http://{HOST}:{ports['events']}",
            smtp_url=f"smtp://{HOST}:{smtp_port}",
            exchange=f"hearth-bench-{tag}",
            queue_prefix=f"bench-{tag}.",
        )
        env = {
            **os.environ,
            "HEARTH_SECRET_KEY": config.secret_key,
            "HEARTH_RATE_LIMITS": "off",  # one machine stands in for many people
            "HEARTH_BASE_URL": config.base_url,
            "HEARTH_DATA": temp,
            "AMQP_URL": amqp,
            "SMTP_URL": config.smtp_url or "",
            "HEARTH_TEST_EXCHANGE": config.exchange,
            "HEARTH_TEST_QUEUE_PREFIX": config.queue_prefix,
            **{f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()},
        }
        # In this process: writing the pipeline's outbox rows, reading the databases, and
        # removing the topology at the end.
        stack = Stack(config)
        ceiling_queue = f"bench-{tag}.ceiling"
        try:
            run_command(["migrate"], env)
            run_command(["topology"], env)
            with ExitStack() as running:
                processes = start_processes(running, env, ports)
                measure(stack, env, ports, mail, processes, urls, ceiling_queue, plan, results)
            return results
        finally:
            delete_topology(stack)
            delete_queue(amqp, ceiling_queue)
            stack.stop()


def start_processes(
    running: ExitStack, env: dict[str, str], ports: dict[str, int]
) -> dict[str, Process]:
    processes = {}
    for service in SERVICES:
        prefix = "/" if service == "events" else f"/{service}/"
        port = ports[service]

        def ready(process: Process, port: int = port, prefix: str = prefix) -> bool:
            return healthy(port, prefix) and len(children(process.pid)) == WORKERS

        args = ["serve", service, "--host", HOST, "--port", str(port), "--workers", str(WORKERS)]
        processes[f"{service} web"] = running.enter_context(
            started(f"{service} web", [*HEARTH, *args], env, ready)
        )
    for service in SERVICES:
        processes[f"{service} worker"] = running.enter_context(
            started(f"{service} worker", [*HEARTH, "worker", service], env,
                    lambda process: "running" in process.output())
        )  # fmt: skip
    return processes


def delete_queue(amqp_url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika_parameters(amqp_url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


def measure(
    stack: Stack,
    env: dict[str, str],
    ports: dict[str, int],
    mail: MailCounter,
    processes: dict[str, Process],
    urls: dict[str, str],
    ceiling_queue: str,
    plan: Plan,
    results: Results,
) -> None:
    everything = list(processes.values())
    events_engine = stack.services["events"].engine
    results.versions["postgres"] = postgres_version(events_engine)
    results.versions["rabbitmq"] = rabbitmq_version(stack)
    connection = pika.BlockingConnection(pika_parameters(stack.config.amqp_url))
    channel = connection.channel()
    channel.queue_declare(ceiling_queue, durable=True, arguments={"x-queue-type": "quorum"})
    connection.close()

    token = run_command(["token", ORGANIZER, "--name", "Dana Organizer"], env).strip()
    api = Api(ports, token)
    began = time.perf_counter()
    community, expected = seed(api, stack.config.secret_key, plan.members)
    results.setup["seed"] = time.perf_counter() - began
    wait_for_mail(mail, expected, everything, "the seeded community's mail")
    results.setup["seed mail"] = mail.last_at - began
    results.seed_mails = expected
    print(f"seeded {plan.members} members, {expected} mails", file=sys.stderr)

    # The processes to watch, by name; gunicorn's master and each of its workers apart.
    groups: dict[str, list[int]] = {}
    for name, process in processes.items():
        if name.endswith("web"):
            groups[f"{name} master"] = [process.pid]
            for n, pid in enumerate(children(process.pid), start=1):
                groups[f"{name} {n}"] = [pid]
        else:
            groups[name] = [process.pid]
    groups["rabbitmq"] = pids_named("beam.smp")
    databases = [url.rsplit("/", 1)[1] for url in urls.values()]
    backends = postgres_pids(events_engine, databases)
    groups[f"postgres ({len(backends)} processes)"] = backends
    groups["bench (clients, smtp)"] = [os.getpid()]
    results.groups = groups

    rsvps_engine = stack.services["rsvps"].engine
    load = Load(ports, token, community)
    published = outbox_counts(rsvps_engine)
    own_total = published["rsvps.rsvp_confirmed"] + published["rsvps.rsvp_waitlisted"]
    for clients in plan.clients:
        level = Level(clients)
        before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        busy = machine_busy()
        load.run(level, plan.seconds, clients)
        ended = time.perf_counter()
        after = {name: cpu_seconds(pids) for name, pids in groups.items()}
        for name in groups:
            spent = cpu_spent(before[name], after[name])
            level.cpu[name] = None if spent is None else spent / level.seconds
        now_busy = machine_busy()
        if busy is not None and now_busy is not None:
            level.cpu[MACHINE] = (now_busy - busy) / level.seconds
        results.levels.append(level)
        if level.errors:
            results.failure = (
                f"{len(level.errors)} unexpected answers at {clients} clients, the first: "
                f"{level.errors[0]}"
            )
            return
        now_published = outbox_counts(rsvps_engine)
        level.promotions = now_published["rsvps.rsvp_promoted"] - published["rsvps.rsvp_promoted"]
        now_own = now_published["rsvps.rsvp_confirmed"] + now_published["rsvps.rsvp_waitlisted"]
        if now_own - own_total != level.own_mails:
            raise SystemExit(
                f"{clients} clients: the rsvps service published {now_own - own_total} "
                f"confirmations and waitlist places, the answers said {level.own_mails}"
            )
        published, own_total = now_published, now_own
        expected += level.own_mails + level.promotions + level.update_mails
        wait_for_mail(mail, expected, everything, f"the mail of {clients} clients")
        level.drain = max(mail.last_at - ended, 0.0)
        print(f"{clients} clients done", file=sys.stderr)

    for name, pids in groups.items():
        peaks = [peak for pid in pids if (peak := peak_memory(pid)) is not None]
        results.memory[name] = max(peaks) if peaks else None

    with events_engine.connect() as conn:
        organizer_id = str(
            conn.execute(sa.text("SELECT id FROM members WHERE email = :e"), {"e": ORGANIZER})
            .scalar_one()
        )  # fmt: skip
    made = api.call("POST", "events", "/api/communities", 201,
                    json={"name": "Pipeline Circle", "timezone": "America/New_York"})  # fmt: skip
    wait_until(
        "the notifications service to hear of the pipeline's community",
        lambda: community_known(stack, made["id"]),
    )
    for r in range(plan.rounds):
        results.ceiling.append(ceiling(stack.config.amqp_url, ceiling_queue, plan.messages))
        written, handled = pipeline(stack, organizer_id, made["id"], plan.messages,
                                    r * plan.messages)  # fmt: skip
        results.written.append(written)
        results.pipeline.append(handled)
        for process in everything:
            process.check_alive()
        print(f"round {r + 1} of {plan.rounds} done", file=sys.stderr)


def community_known(stack: Stack, community_id: str) -> bool:
    communities = notifications_store.communities
    with stack.services["notifications"].engine.connect() as conn:
        found = conn.execute(
            sa.select(communities.c.id).where(communities.c.id == community_id)
        ).first()
    return found is not None


# --- The report ------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(plan: Plan, results: Results) -> None:
    cores = os.cpu_count() or 1
    print(
        f"\nDeployed load: RabbitMQ {results.versions['rabbitmq']}, PostgreSQL "
        f"{results.versions['postgres']}, gunicorn {WORKERS} workers per service, "
        f"{plan.members} members, {plan.seconds:.0f} s per level, {cores} cores"
    )
    print(
        f"setup: community, events and seeded answers {results.setup['seed']:.1f} s over HTTP; "
        f"their {results.seed_mails} mails all in {results.setup['seed mail']:.1f} s"
    )
    print(f"mix: {', '.join(f'{kind} {weight}%' for kind, weight in WEIGHTS.items())}")
    print(f"\n{'clients':>7} {'kind':6}{'count':>8}{'per s':>8}{'median ms':>11}{'p99 ms':>9}")
    for level in results.levels:
        total = sum(len(values) for values in level.latencies.values())
        for kind, values in level.latencies.items():
            if not values:
                continue
            ms = [1000 * value for value in values]
            print(
                f"{level.clients:7} {kind:6}{len(ms):8}{len(ms) / level.seconds:8.1f}"
                f"{statistics.median(ms):11.1f}{percentile(ms, 0.99):9.1f}"
            )
        every = [1000 * value for values in level.latencies.values() for value in values]
        if every:
            print(
                f"{level.clients:7} {'all':6}{total:8}{total / level.seconds:8.1f}"
                f"{statistics.median(every):11.1f}{percentile(every, 0.99):9.1f}"
                f"   (304s {level.not_modified}, errors {len(level.errors)})"
            )
    print(f"\n{'clients':>7}{'answers':>9}{'promoted':>10}{'edits':>7}{'mails':>7}{'drain s':>9}")
    for level in results.levels:
        mails = level.own_mails + level.promotions + level.update_mails
        print(
            f"{level.clients:7}{len(level.latencies['rsvp']):9}{level.promotions:10}"
            f"{len(level.latencies['edit']):7}{mails:7}{level.drain:9.1f}"
        )

    header = "".join(f"{f'{level.clients} cl':>8}" for level in results.levels)
    print(f"\n{'CPU, % of one core':30}{header}{'peak MiB':>10}")
    for name in [*results.groups, MACHINE]:
        cells = ""
        for level in results.levels:
            share = level.cpu.get(name)
            cells += f"{'n/a':>8}" if share is None else f"{100 * share:8.0f}"
        peak = results.memory.get(name)
        print(f"{name:30}{cells}{'n/a' if peak is None else f'{peak / 1024:.0f}':>10}")
    for level in results.levels:
        known = {
            name: share
            for name, share in level.cpu.items()
            if share is not None and name != MACHINE and not name.startswith("postgres")
        }
        hottest = max(known, key=lambda name: known[name])
        machine = level.cpu.get(MACHINE)
        print(
            f"{level.clients} clients: busiest single process {hottest} at "
            f"{100 * known[hottest]:.0f}% of a core; the machine "
            f"{'n/a' if machine is None else f'{100 * machine:.0f}%'} of {100 * cores}%"
        )
    if results.failure:
        return

    if results.ceiling:
        n = plan.messages
        ceiling = [n / seconds for seconds in results.ceiling]
        pipe = [n / seconds for seconds in results.pipeline]
        written = [n / seconds for seconds in results.written]
        ratios = [p / c for p, c in zip(pipe, ceiling, strict=True)]
        print(f"\n{n} messages per round, {plan.rounds} rounds{'':10}{'median':>9}{'min':>9}"
              f"{'max':>9}")  # fmt: skip
        for label, values, shape in (
            ("broker ceiling, pika, quorum (msgs/s)", ceiling, "9.0f"),
            ("pipeline, outbox -> handled (msgs/s)", pipe, "9.0f"),
            (f"  rows committed ({WRITERS} threads, msgs/s)", written, "9.0f"),
            ("ratio, pipeline / ceiling", ratios, "9.2f"),
        ):
            print(median_row(label, values, 44, shape))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)),
                        help="load levels, concurrent clients (default %(default)s)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help="seconds of load per level (default %(default)s)")  # fmt: skip
    parser.add_argument("--members", type=int, default=MEMBERS,
                        help="members of the community (default %(default)s)")  # fmt: skip
    parser.add_argument(
        "--messages",
        type=int,
        default=MESSAGES,
        help="messages per round of the pipeline and ceiling (default %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    try:
        clients = tuple(int(n) for n in args.clients.split(","))
    except ValueError:
        parser.error("--clients takes numbers separated by commas, like 4,16,64")
    plan = Plan(clients, args.seconds, args.members, args.messages, args.rounds)
    if min(*plan.clients, plan.messages, plan.rounds) < 1 or plan.seconds <= 0:
        parser.error("--clients, --messages and --rounds must be at least 1, --seconds above 0")
    if plan.members < STATIC_EVENTS * STATIC_ATTENDEES:
        parser.error(f"--members must be at least {STATIC_EVENTS * STATIC_ATTENDEES}")
    began = time.monotonic()
    results = run(plan)
    report(plan, results)
    print(f"(whole run {time.monotonic() - began:.0f} s)")
    if results.failure:
        raise SystemExit(results.failure)


if __name__ == "__main__":
    main()
