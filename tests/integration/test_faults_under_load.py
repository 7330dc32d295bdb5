"""Faults under a steady load (issue 6): the three services run as they are deployed, each web
app as its own `hearth serve` and two replicas of each `hearth worker`, on the real RabbitMQ and
PostgreSQL, with mail going to an aiosmtpd server and texts to a local server speaking the SMS
provider's API. While guests keep answering and calendar apps keep polling, a peer lunch fills up,
people drop out and are promoted from its waitlist, its organizer moves it, and its text reminders
come due; meanwhile a notifications worker is killed (and started again), the broker node is
stopped and started, the broker closes every connection, and malformed messages and messages no
handler can take are published.

Afterwards every mail and text that the story calls for arrived once, every RSVP is in the state
its answers call for, every outbox row was published, the poison sits in the dead-letter queues of
the consumers it reached, and every process but the killed one ran throughout.

The test has its own databases, exchange and queues (hearth_with_test_topology.py), so it shares the
servers with other tests without seeing their messages.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import broker_control
import pytest
import requests
import sqlalchemy as sa
from notifications import fake_twilio
from notifications.smtp_server import Handler, smtp_server

from hearth.stack import PREFIXES, Stack
from services.notifications import sms
from services.notifications import store as notifications_store
from services.rsvps import store as rsvps_store
from shared import dead_letters
from shared.bus import Subscription
from shared.config import SERVICES, Config
from shared.envelope import Envelope
from shared.testing import free_port, fresh_databases

pytestmark = [pytest.mark.broker, pytest.mark.postgres, pytest.mark.chaos]

HEARTH = [sys.executable, str(Path(__file__).with_name("hearth_with_test_topology.py"))]
BASE_URL = "http://127.0.0.1:8000"  # the public origin links and signatures are made for
ORGANIZER = "organizer@example.org"
SMS_AUTH_TOKEN = "sms-auth-token"
# Zones a community might have, spread round the clock: one of them always has office hours, so
# that no text of the test waits out the quiet hours (21:00 to 08:00) before it can be sent.
ZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
SEATS = 20
PEOPLE = 30  # answer the lunch: SEATS get a seat, the rest wait
DROPPING_OUT = 5


def office_hours_zone() -> str:
    for name in ZONES:
        if 9 <= datetime.now(ZoneInfo(name)).hour < 16:
            return name
    raise AssertionError("no zone in ZONES has office hours now")


def person(number: int) -> dict[str, str]:
    # 555-01xx numbers are set aside for fiction, and valid in form.
    return {
        "name": f"Clinician {number:02d}",
        "email": f"clinician-{number:02d}@example.org",
        "phone": f"+1212555{100 + number:04d}",
    }


# --- The deployment ---------------------------------------------------------------------


@dataclass
class Deployment:
    """The processes of one deployment, the servers standing in for the mail and SMS providers,
    and a stack in this process for looking at the broker and the databases."""

    stack: Stack
    env: dict[str, str]
    logs: Path
    mail: Handler
    texts: fake_twilio.FakeTwilio
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def start(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [*HEARTH, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def serve(self, service: str) -> None:
        self.ports[service] = free_port()
        port = str(self.ports[service])
        self.start(f"{service}-web", "serve", service, "--port", port, "--host", "127.0.0.1")

    def run(self, *args: str) -> str:
        done = subprocess.run([*HEARTH, *args], env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def kill(self, name: str) -> None:
        """SIGKILL: nothing more commits, nothing more is acknowledged, no goodbye to anyone."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def exited(self) -> dict[str, int | None]:
        return {name: process.poll() for name, process in self.processes.items() if process.poll()}

    def queues(self) -> dict[str, tuple[int, int]]:
        """(messages ready, consumers) of each work queue."""
        with self.stack.bus.connection() as connection:
            channel = connection.default_channel
            found = {}
            for subscription in self.stack.subscriptions:
                _, ready, consumers = channel.queue_declare(subscription.queue, passive=True)
                found[subscription.queue] = (ready, consumers)
            return found

    def consumers(self) -> dict[str, int]:
        return {queue: consumers for queue, (_, consumers) in self.queues().items()}

    def waiting(self) -> dict[str, int]:
        return {queue: ready for queue, (ready, _) in self.queues().items()}

    def ready(self) -> bool:
        """Every web process answers, and every work queue has its two replicas' consumers."""
        for service in SERVICES:
            try:
                requests.get(self.url(service, f"{PREFIXES[service]}healthz"), timeout=5)
            except requests.RequestException:  # not listening yet, or still busy starting
                return False
        return set(self.consumers().values()) == {2}

    def wait_until(
        self,
        condition: Callable[[], bool],
        what: str,
        deadline: float = 90,
        explain: Callable[[], object] = lambda: "",
    ) -> None:
        """Wait for `condition`, failing if a process exits meanwhile or `deadline` passes (with
        what `explain` says of the state then)."""
        stop = time.monotonic() + deadline
        while not condition():
            assert not self.exited(), f"exited while waiting for {what}: {self.exited()}"
            assert time.monotonic() < stop, f"waited {deadline:.0f} s for {what}: {explain()}"
            time.sleep(0.1)

    def rows(self, service: str, query: sa.Executable) -> list[sa.Row]:
        with self.stack.services[service].engine.connect() as conn:
            return list(conn.execute(query))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def delete_topology(self) -> None:
        topology = self.stack.bus.topology
        with self.stack.bus.connection() as connection:
            channel = connection.default_channel
            for subscription in self.stack.subscriptions:
                for queue in topology.queues(subscription):
                    queue(channel).delete()
            topology.exchange(channel).delete()


@pytest.fixture
def deployment(tmp_path: Path, postgres_server: str, amqp_url: str) -> Iterator[Deployment]:
    broker_control.require_rabbitmqctl()
    run = uuid.uuid4().hex[:8]
    with (
        fresh_databases(postgres_server, "load") as databases,
        smtp_server() as (mail, smtp_url),
        fake_twilio.running() as texts,
    ):
        config = Config(
            amqp_url=amqp_url,
            database_urls=databases,
            secret_key=f"test-secret-{run}",
            exchange=f"hearth-load-{run}",
            queue_prefix=f"load-{run}.",
            retry_delays=(0.05, 0.1, 0.2),
        )
        env = {
            **{name: value for name, value in os.environ.items() if not name.endswith("_URL")},
            "HEARTH_DATA": str(tmp_path / "var"),
            "HEARTH_SECRET_KEY": config.secret_key,
            "HEARTH_BASE_URL": BASE_URL,
            "HEARTH_RATE_LIMITS": "off",  # every guest answers from this one machine
            "AMQP_URL": amqp_url,
            **{f"{name.upper()}_DATABASE_URL": url for name, url in databases.items()},
            "SMTP_URL": smtp_url,
            "SMS_API_URL": texts.url,
            "SMS_ACCOUNT_SID": "AC" + "0" * 32,
            "SMS_AUTH_TOKEN": SMS_AUTH_TOKEN,
            "SMS_FROM": "+12125550199",
            "HEARTH_TEST_EXCHANGE": config.exchange,
            "HEARTH_TEST_QUEUE_PREFIX": config.queue_prefix,
            "HEARTH_TEST_RETRY_DELAYS": ",".join(map(str, config.retry_delays or ())),
            # What a killed worker had claimed is sent by another this long after.
            "HEARTH_TEST_CLAIM_SECONDS": "5",
        }
        logs = tmp_path / "logs"
        logs.mkdir()
        deployment = Deployment(Stack(config), env, logs, mail, texts)
        try:
            # As a deployment starts: the schemas, then the queues, then the processes.
            deployment.run("migrate")
            deployment.run("topology")
            for service in SERVICES:
                deployment.serve(service)
                for replica in (1, 2):
                    deployment.start(f"{service}-worker-{replica}", "worker", service)
            deployment.wait_until(deployment.ready, "every process to start")
            yield deployment
        finally:
            deployment.stop()
            deployment.delete_topology()
            deployment.stack.stop()


# --- What people and calendar apps do ------------------------------------------------------


class Guests(threading.Thread):
    """Steady work while the faults happen: people answering yes to a training one after
    another, each with an address of their own, and a calendar app polling the community's feed
    as calendar apps do (If-None-Match)."""

    def __init__(self, deployment: Deployment, event_id: str, feed: str) -> None:
        super().__init__(name="guests", daemon=True)
        self.answers = deployment.url("rsvps", f"/rsvps/api/events/{event_id}/rsvps")
        self.feed = deployment.url("events", feed)
        self.answered: list[str] = []
        self.polls = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        etag = ""
        for number in range(100_000):
            if self.stopping.wait(0.1):
                return
            email = f"guest-{number:04d}@example.org"
            try:
                answer = session.post(
                    self.answers,
                    json={"name": f"Guest {number}", "email": email, "response": "yes"},
                    timeout=10,
                )
                feed = session.get(self.feed, headers={"If-None-Match": etag}, timeout=10)
            except requests.RequestException as error:
                self.failures.append(f"{email}: {error}")
                continue
            if answer.status_code == 201:
                self.answered.append(email)
            else:
                self.failures.append(f"{email}: {answer.status_code} {answer.text[:300]}")
            if feed.status_code in (200, 304):
                etag = feed.headers.get("ETag", etag)
                self.polls += 1
            else:
                self.failures.append(f"feed: {feed.status_code}")

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def text_in(deployment: Deployment, phone: str, body: str) -> None:
    """A text to Hearth's number, as the SMS provider delivers it: signed for the public URL."""
    path = "/notifications/sms/inbound"
    form = {"From": phone, "Body": body, "To": "+12125550199"}
    signature = sms.signature(SMS_AUTH_TOKEN, BASE_URL + path, form.items())
    answer = requests.post(
        deployment.url("notifications", path),
        data=form,
        headers={"X-Twilio-Signature": signature},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def person_of(answer: dict) -> dict[str, str]:
    return {key: answer[key] for key in ("name", "email", "phone")}


def whole_minute(moment: datetime) -> datetime:
    """The first whole minute at or after `moment`."""
    return moment + (datetime.min.replace(tzinfo=moment.tzinfo) - moment) % timedelta(minutes=1)


def local(moment: datetime, zone: str) -> str:
    """A moment as the API takes it: wall-clock time in the community's zone."""
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat(timespec="minutes")


# --- Poison --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Poison:
    message_id: str
    routing_key: str


def publish_poison(deployment: Deployment) -> list[Poison]:
    """Malformed bodies, and well-formed messages no handler can take (their payloads lack what
    every handler reads), under types that several services consume."""
    poison = []
    publisher = deployment.stack.bus.publisher()
    try:
        for producer, type in (
            ("events", "events.event_updated"),
            ("rsvps", "rsvps.rsvp_confirmed"),
        ):
            broken = str(uuid.uuid4())
            publisher.publish(
                '{"id": "' + broken + '", "type": "' + type + '", "payload": {',
                type=type,
                message_id=broken,
                correlation_id=str(uuid.uuid4()),
            )
            hollow = Envelope(type=type, producer=producer, payload={})
            publisher.publish(
                hollow.to_json(),
                type=type,
                message_id=hollow.id,
                correlation_id=hollow.correlation_id,
            )
            poison += [Poison(broken, type), Poison(hollow.id, type)]
    finally:
        publisher.close()
    return poison


def reaches(subscription: Subscription, routing_key: str) -> bool:
    return any(
        binding == routing_key or (binding.endswith(".#") and routing_key.startswith(binding[:-1]))
        for binding in subscription.bindings
    )


# --- What arrived ------------------------------------------------------------------------


def message_id(key: str) -> str:
    """The Message-ID of a delivery's mail (mail.Mail.message_id; MAIL_FROM's default domain)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@localhost>"


def ledger(deployment: Deployment) -> list[sa.Row]:
    deliveries = notifications_store.deliveries
    return deployment.rows(
        "notifications",
        sa.select(
            deliveries.c.key,
            deliveries.c.channel,
            deliveries.c.kind,
            deliveries.c.recipient,
            deliveries.c.state,
            deliveries.c.last_error,
        ),
    )


def sent(rows: list[sa.Row]) -> set[tuple[str, str]]:
    """(recipient, kind) of each delivery sent."""
    return {(row.recipient, row.kind) for row in rows if row.state == "sent"}


def unpublished(deployment: Deployment) -> dict[str, int]:
    counts = {}
    for name, service in deployment.stack.services.items():
        table = service.outbox.table
        query = sa.select(sa.func.count()).where(table.c.published_at.is_(None))
        counts[name] = deployment.rows(name, query)[0][0]
    return counts


def statuses(deployment: Deployment, service: str, event_id: str) -> Counter[str]:
    table = rsvps_store.rsvps if service == "rsvps" else notifications_store.attendees
    rows = deployment.rows(
        service,
        sa.select(table.c.status, sa.func.count())
        .where(table.c.event_id == event_id)
        .group_by(table.c.status),
    )
    return Counter(dict(rows))


# --- The test ------------------------------------------------------------------------------


def test_under_load_nothing_is_lost_or_doubled_when_workers_die_and_the_broker_fails(deployment):
    d = deployment
    zone = office_hours_zone()
    organizer = requests.Session()
    organizer.headers["Authorization"] = "Bearer " + d.run("token", ORGANIZER).strip()

    def created(path: str, body: dict) -> dict:
        response = organizer.post(d.url("events", path), json=body, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def answer(event_id: str, someone: dict[str, str], response: str) -> dict:
        answered = requests.post(
            d.url("rsvps", f"/rsvps/api/events/{event_id}/rsvps"),
            json={**someone, "response": response},
            timeout=10,
        )
        assert answered.status_code in (200, 201), answered.text
        return {**answered.json(), **someone}

    community = created("/api/communities", {"name": "Harbor Peer Network", "timezone": zone})
    slug = community["slug"]
    # As members join before the events they hear of: an announcement goes to the members the
    # notifications service knows when it handles the event, and two replicas may handle the
    # membership and the event at the same time.
    memberships = sa.select(sa.func.count()).select_from(notifications_store.memberships)
    d.wait_until(lambda: d.rows("notifications", memberships)[0][0] == 1, "the organizer")

    def schedule(kind: str, title: str, start: datetime, hours: int, **more: object) -> dict:
        local_times = {
            "starts_at": local(start, zone),
            "ends_at": local(start + timedelta(hours=hours), zone),
        }
        body = {"kind": kind, "title": title, **local_times, "visibility": "public", **more}
        return created(f"/api/communities/{slug}/events", body)

    now = datetime.now(UTC)
    lunch = schedule(
        "peer_lunch", "Peer lunch", now + timedelta(hours=3), 1,
        location="Juniper Café", capacity=SEATS,
    )  # fmt: skip
    training = schedule("training", "Ethics refresher", now + timedelta(days=3), 2)

    # People answer once they have heard of an event, by when the other services know it too.
    def known(service: str, table: sa.Table) -> bool:
        return d.rows(service, sa.select(sa.func.count()).select_from(table))[0][0] == 2

    d.wait_until(lambda: known("rsvps", rsvps_store.events), "rsvps to know the events")
    d.wait_until(
        lambda: known("notifications", notifications_store.events), "notifications to know them"
    )
    people = [person(number) for number in range(PEOPLE)]
    for someone in people:
        text_in(d, someone["phone"], "START")  # each phone opts in to texts
    feed = urlsplit(community["feed_url"])
    guests = Guests(d, training["id"], f"{feed.path}?{feed.query}" if feed.query else feed.path)
    guests.start()
    try:
        poison = publish_poison(d)

        # 1. The lunch fills up, and a notifications worker dies in the middle of its mail.
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda someone: answer(lunch["id"], someone, "yes"), people))
        seated = [a for a in answers if a["status"] == "confirmed"]
        waiting = sorted(
            (a for a in answers if a["status"] == "waitlisted"),
            key=lambda a: a["waitlist_position"],
        )
        assert len(seated) == SEATS and len(waiting) == PEOPLE - SEATS
        assert [a["waitlist_position"] for a in waiting] == list(range(1, len(waiting) + 1))
        d.mail.wait_for(len(d.mail.received) + 20, timeout=60)
        d.kill("notifications-worker-1")
        killed = (len(d.mail.received), len(d.texts.accepted))
        d.start("notifications-worker-3", "worker", "notifications")
        lunch_mail = {
            (a["email"], "rsvp-going" if a in seated else "rsvp-waitlisted") for a in answers
        }
        d.wait_until(
            lambda: lunch_mail <= sent(ledger(d)), "the lunch's first mail to be sent", 120
        )

        # 2. Some drop out while the broker node is down: their answers are taken, and the
        # promotions they cause wait in the rsvps outbox.
        dropping, promoted = seated[:DROPPING_OUT], waiting[:DROPPING_OUT]
        with broker_control.node_stopped():
            before = len(guests.answered)
            for someone in dropping:
                assert answer(lunch["id"], person_of(someone), "no")["status"] == "declined"
            assert unpublished(d)["rsvps"] > 0, "nothing can be published with the broker down"
            d.wait_until(lambda: len(guests.answered) > before + 5, "guests to answer meanwhile")

        going = [a for a in seated if a not in dropping] + promoted
        still_waiting = waiting[DROPPING_OUT:]
        final = Counter(
            {"confirmed": len(going), "declined": len(dropping), "waitlisted": len(still_waiting)}
        )
        # 3. Once the notifications service knows every answer, the organizer moves the lunch
        # two hours and a half minute ahead, just after the broker closed every connection.
        d.wait_until(
            lambda: statuses(d, "notifications", lunch["id"]) == final, "the answers to arrive", 120
        )
        d.wait_until(lambda: set(d.consumers().values()) == {2}, "every consumer to be back")
        broker_control.close_all_connections()
        # Times are to the minute: its reminders come due between half a minute and a minute
        # and a half from now, after every seat was taken (one due earlier would not be sent).
        moved_start = whole_minute(datetime.now(UTC) + timedelta(hours=2, seconds=30))
        moved = organizer.patch(
            d.url("events", f"/api/events/{lunch['id']}"),
            json={
                "starts_at": local(moved_start, zone),
                "ends_at": local(moved_start + timedelta(hours=1), zone),
            },
            timeout=10,
        )
        assert moved.status_code == 200, moved.text

        # 4. Its text reminders come due, while the guests go on answering.
        reminders = {(a["phone"], "text-reminder") for a in going}
        d.wait_until(
            lambda: reminders <= sent(ledger(d)),
            "the reminders",
            120,
            lambda: [tuple(row) for row in ledger(d) if row.kind == "text-reminder"],
        )
    finally:
        guests.stop()

    # What the story calls for, each once.
    expected = Counter(
        [(ORGANIZER, "event-announced")] * 2
        + [(a["email"], "rsvp-going") for a in seated]
        + [(a["email"], "rsvp-waitlisted") for a in waiting]
        + [(a["email"], "rsvp-promoted") for a in promoted]
        + [(a["phone"], "text-promoted") for a in promoted]
        + [(a["email"], "event-updated") for a in going]
        + [(a["phone"], "text-updated") for a in going]
        + [(a["phone"], "text-reminder") for a in going]
        + [(email, "rsvp-going") for email in guests.answered]
    )

    def settled() -> bool:
        rows = ledger(d)
        return (
            len(rows) >= sum(expected.values())
            and {row.state for row in rows} == {"sent"}
            and len(d.mail.received) >= sum(1 for row in rows if row.channel == "email")
            and len(d.texts.accepted) >= sum(1 for row in rows if row.channel == "sms")
            and not any(unpublished(d).values())
            and not any(d.waiting().values())
        )

    d.wait_until(
        settled,
        "everything to be sent",
        120,
        lambda: (
            Counter((row.channel, row.state) for row in ledger(d)),
            expected - Counter((row.recipient, row.kind) for row in ledger(d)),
            (len(d.mail.received), len(d.texts.accepted)),
            unpublished(d),
            d.waiting(),
        ),
    )
    time.sleep(2.0)  # room for a second copy, were one coming
    assert d.exited() == {}, "only the killed worker stopped"
    for name in d.processes:
        if "-worker-" in name:
            assert "Connection to broker lost" in d.log(name), f"the faults reached {name}"
    assert guests.failures == [], "requests were refused during the faults"
    assert guests.polls > 0
    rows = ledger(d)
    problems = [row for row in rows if row.state != "sent"]
    assert problems == []
    assert Counter((row.recipient, row.kind) for row in rows) == expected

    # At the mail server: each mail of the ledger once. The one copy allowed is the mail in
    # flight at the kill (sending.py's window), resent with the same Message-ID after it.
    arrived = [str(item.message["Message-ID"]) for item in d.mail.received]
    mailed = {message_id(row.key) for row in rows if row.channel == "email"}
    assert set(arrived) == mailed
    doubled = [mid for mid, count in Counter(arrived).items() if count > 1]
    assert len(doubled) <= 1, doubled
    for mid in doubled:
        first, second = (place for place, seen in enumerate(arrived) if seen == mid)
        assert first < killed[0] <= second, (first, killed, second)
    # At the SMS endpoint: each text of the ledger once, give or take the one in flight.
    texted = Counter(recorded.form["To"] for recorded in d.texts.accepted)
    ledgered = Counter(row.recipient for row in rows if row.channel == "sms")
    assert texted - ledgered == Counter() or (
        sum((texted - ledgered).values()) == 1 and killed[1] > 0
    ), texted - ledgered
    assert ledgered - texted == Counter()

    # Every RSVP in the state its answers call for, in all three services.
    assert statuses(d, "rsvps", lunch["id"]) == final
    listed = organizer.get(d.url("rsvps", f"/rsvps/api/events/{lunch['id']}/rsvps"), timeout=10)
    [roster] = listed.json()["occurrences"]
    assert [entry["email"] for entry in roster["waitlisted"]] == [a["email"] for a in still_waiting]
    assert statuses(d, "rsvps", training["id"]) == Counter({"confirmed": len(guests.answered)})
    shown = organizer.get(d.url("events", f"/api/events/{lunch['id']}"), timeout=10).json()
    assert shown["attendance"] == {
        "confirmed_seats": len(going),
        "waitlisted": len(still_waiting),
        "maybe": 0,
    }

    # The poison is parked in the dead-letter queue of each consumer it reached, and only there.
    for subscription in d.stack.subscriptions:
        parked = dead_letters.peek(d.stack.bus, subscription, limit=100)
        assert sorted(p.message_id for p in parked) == sorted(
            p.message_id for p in poison if reaches(subscription, p.routing_key)
        ), subscription.queue
