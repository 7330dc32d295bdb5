"""Never twice, under faults (issue 5): real `hearth worker notifications` processes on RabbitMQ
and PostgreSQL, fed the events and rsvps services' messages through the broker, mail one
confirmation per answer to an aiosmtpd server however often a message arrives, when a worker is
killed in the middle of its work, and when two replicas share the queue and the ledger.

Each test has its own database, exchange and queues (see hearth_with_test_topology.py), so tests
on one broker and PostgreSQL server never see each other's messages.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import broker_control
import pytest
import sqlalchemy as sa
from notifications.smtp_server import Handler, Received, smtp_server

from hearth.stack import Stack
from services.events import messages as events_messages
from services.notifications import store as notifications_store
from services.notifications.sending import Sender
from services.rsvps import messages as rsvps_messages
from shared.bus import BusPublisher
from shared.config import Config
from shared.envelope import Envelope
from shared.testing import fresh_databases

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

HEARTH = [sys.executable, str(Path(__file__).with_name("hearth_with_test_topology.py"))]
# How many deliveries a sender claims at a time.
SENDER_BATCH: int = inspect.signature(Sender.__init__).parameters["batch"].default
CLAIM_SECONDS = 10
deliveries = notifications_store.deliveries
events = notifications_store.events
inbox_table = notifications_store.inbox
WorkerProcess = subprocess.Popen[bytes]


class Deployment:
    """One test's notifications service on the real servers: its database, exchange and queues,
    its worker processes, and a publisher standing in for the events and rsvps services."""

    def __init__(self, config: Config, env: dict[str, str], logs: Path) -> None:
        self.config = config
        self.env = env
        self.logs = logs
        self.stack = Stack(config, ["notifications"])
        [self.subscription] = self.stack.subscriptions
        self.database_url = config.database_url("notifications")
        self.engine = sa.create_engine(self.database_url)
        self.workers: list[WorkerProcess] = []
        self._publisher: BusPublisher | None = None

    # Worker processes

    def start_worker(self, name: str, smtp_url: str, *, consumers: int = 1) -> WorkerProcess:
        """`hearth worker notifications` sending to `smtp_url`, its output in `<name>.log` and
        its database sessions named `name`; returns once the queue has `consumers` consumers."""
        env = {
            **self.env,
            "SMTP_URL": smtp_url,
            "NOTIFICATIONS_DATABASE_URL": f"{self.database_url}?application_name={name}",
        }
        with (self.logs / f"{name}.log").open("wb") as log:
            worker = subprocess.Popen(
                [*HEARTH, "worker", "notifications"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.workers.append(worker)
        self.wait_until(lambda: self.consumers() == consumers, f"{name} to consume", worker)
        return worker

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self, worker: WorkerProcess) -> None:
        """SIGTERM, as a deployment stops a worker: what it holds unacknowledged goes back.
        The exit status is not checked: `hearth worker` often exits 1 after SIGTERM, because
        Worker.wait takes the threads stop() ended for threads that died, which is no fault of
        the mail."""
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    def kill(self, worker: WorkerProcess) -> None:
        """SIGKILL: nothing more commits, nothing more is acknowledged, no goodbye to anyone."""
        worker.kill()
        worker.wait()
        self.wait_until(lambda: self.consumers() == 0, "the broker to drop the dead consumer")

    # The broker

    def publish(self, envelopes: list[Envelope]) -> None:
        """As the other services' relays do: persistent JSON, each confirmed by the broker."""
        if self._publisher is None:
            self._publisher = self.stack.bus.publisher()
        for envelope in envelopes:
            self._publisher.publish(
                envelope.to_json(),
                type=envelope.type,
                message_id=envelope.id,
                correlation_id=envelope.correlation_id,
            )

    def _queue(self, name: str) -> tuple[int, int]:
        """(ready messages, consumers) of a queue."""
        with self.stack.bus.connection() as connection:
            _, ready, consumers = connection.default_channel.queue_declare(name, passive=True)
        return ready, consumers

    def waiting(self) -> int:
        """Messages ready in the work queue (not those a consumer holds unacknowledged)."""
        return self._queue(self.subscription.queue)[0]

    def consumers(self) -> int:
        return self._queue(self.subscription.queue)[1]

    def parked(self) -> int:
        return self._queue(self.subscription.dead_letter_queue)[0]

    # The database

    def knows_event(self, event_id: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(sa.select(events.c.id).where(events.c.id == event_id)).first()
                is not None
            )

    def states(self) -> Counter[str]:
        """How many deliveries are in each state."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)
            ).all()
        return Counter({state: count for state, count in rows})

    def ledger(self) -> list[tuple[str, str]]:
        """(recipient, state) of every delivery, by recipient."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.recipient, deliveries.c.state).order_by(
                    deliveries.c.recipient
                )
            ).all()
        return [(recipient, state) for recipient, state in rows]

    def handled(self) -> int:
        """Message ids in the inbox."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(inbox_table)).scalar_one()
            )

    def wait_until(
        self,
        condition: Callable[[], bool],
        what: str,
        *watched: WorkerProcess,
        deadline: float = 60.0,
    ) -> None:
        stop = time.monotonic() + deadline
        while not condition():
            for worker in watched:
                if worker.poll() is not None:
                    pytest.fail(f"a worker exited ({worker.returncode}) while waiting for {what}")
            if time.monotonic() > stop:
                pytest.fail(f"waited {deadline:.0f} s for {what}")
            time.sleep(0.05)

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if self._publisher is not None:
            self._publisher.close()
        topology = self.stack.bus.topology
        with self.stack.bus.connection() as connection:
            channel = connection.default_channel
            for queue in topology.queues(self.subscription):
                queue(channel).delete()
            topology.exchange(channel).delete()
        self.engine.dispose()
        self.stack.stop()


@pytest.fixture
def deployment(tmp_path: Path, postgres_server: str, amqp_url: str) -> Iterator[Deployment]:
    run = uuid.uuid4().hex[:8]
    with fresh_databases(postgres_server, "faults", ["notifications"]) as databases:
        config = Config(
            amqp_url=amqp_url,
            database_urls=databases,
            secret_key=f"test-secret-{run}",
            exchange=f"hearth-faults-{run}",
            queue_prefix=f"faults-{run}.",
        )
        env = {
            **{name: value for name, value in os.environ.items() if not name.endswith("_URL")},
            "HEARTH_DATA": str(tmp_path / "var"),
            "HEARTH_SECRET_KEY": config.secret_key,
            "AMQP_URL": amqp_url,
            "HEARTH_TEST_EXCHANGE": config.exchange,
            "HEARTH_TEST_QUEUE_PREFIX": config.queue_prefix,
            # What a killed worker had claimed goes out this long after (not minutes).
            "HEARTH_TEST_CLAIM_SECONDS": str(CLAIM_SECONDS),
        }
        deployment = Deployment(config, env, tmp_path)
        # What `hearth migrate` and `hearth topology` do before a deployment starts: a message
        # published before its queue is bound would be lost, not late.
        deployment.stack.migrate()
        deployment.stack.declare()
        try:
            yield deployment
        finally:
            deployment.close()


# --- The messages of the events and rsvps services ------------------------------------------


def event_scheduled() -> Envelope:
    """A one-off lunch a month from now, in the shape the events service publishes (copied from a
    message of the in-process stack) and checked against its schema."""
    event_id, community_id = str(uuid.uuid4()), str(uuid.uuid4())
    zone = "America/New_York"
    day = datetime.now(UTC).date() + timedelta(days=30)
    start = datetime(day.year, day.month, day.day, 12, 0)
    end = start + timedelta(hours=1)
    base = "http://127.0.0.1:8000"
    state = {
        "id": event_id,
        "community": {
            "id": community_id,
            "slug": "riverside-clinicians",
            "name": "Riverside Clinicians",
            "timezone": zone,
            "visibility": "private",
            "url": f"{base}/c/riverside-clinicians",
        },
        "kind": "peer_lunch",
        "title": "Peer lunch",
        "description": "Bring a case you are stuck on.",
        "local_start": start.isoformat(),
        "local_end": end.isoformat(),
        "timezone": zone,
        "starts_at": start.replace(tzinfo=ZoneInfo(zone)).isoformat(),
        "ends_at": end.replace(tzinfo=ZoneInfo(zone)).isoformat(),
        "all_day": False,
        "rrule": None,
        "cancelled_occurrences": [],
        "overrides": [],
        "series_shift_seconds": 0,
        "location": "Juniper Café",
        "online_url": None,
        "capacity": None,
        "guest_limit": 1,
        "rsvp_deadline": None,
        "visibility": "public",
        "honoree_email": None,
        "surprise": False,
        "ce_hours": None,
        "presenter": None,
        "status": "scheduled",
        "sequence": 0,
        "url": f"{base}/events/{event_id}",
        "updated_at": datetime.now(UTC).isoformat(),
    }
    return events_messages.message("events.event_scheduled", {"event": state}, str(uuid.uuid4()))


def address(number: int) -> str:
    return f"guest-{number:03d}@example.org"


def rsvps_confirmed(event: Envelope, count: int) -> list[Envelope]:
    """A "yes" from each of `count` people, each taking a seat, as the rsvps service announces
    them (checked against its schema)."""
    answers = []
    for number in range(count):
        rsvp_id = str(uuid.uuid4())
        rsvp = {
            "id": rsvp_id,
            "event_id": event.payload["event"]["id"],
            "occurrence": None,
            "name": f"Guest {number:03d}",
            "email": address(number),
            "phone": None,
            "response": "yes",
            "guests": 0,
            "status": "confirmed",
            "waitlist_position": None,
            "manage_url": f"http://127.0.0.1:8000/rsvps/manage/{rsvp_id}",
            "updated_at": datetime.now(UTC).isoformat(),
        }
        counts = {
            "occurrence": None,
            "revision": number + 1,
            "capacity": None,
            "confirmed_seats": number + 1,
            "waitlisted": 0,
            "maybe": 0,
        }
        answers.append(
            rsvps_messages.message(
                "rsvps.rsvp_confirmed", {"rsvp": rsvp, "counts": counts}, str(uuid.uuid4())
            )
        )
    return answers


def schedule(deployment: Deployment, count: int) -> list[Envelope]:
    """Publish an event and wait until the service knows it, as it does long before anyone
    answers; the answers of `count` people to it, not yet published."""
    event = event_scheduled()
    deployment.publish([event])
    event_id = event.payload["event"]["id"]
    deployment.wait_until(lambda: deployment.knows_event(event_id), "the event")
    return rsvps_confirmed(event, count)


# --- What arrived -------------------------------------------------------------------------


def arrivals(received: list[Received]) -> dict[str, list[tuple[int, str]]]:
    """Each recipient's mail: (its place in the order of arrival, its Message-ID)."""
    mail: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for place, item in enumerate(received):
        [recipient] = item.rcpt_tos
        message = item.message
        assert [a.addr_spec for a in message["To"].addresses] == [recipient]
        mail[recipient].append((place, str(message["Message-ID"])))
    return dict(mail)


def recipients(*inboxes: Handler) -> int:
    return len({tuple(item.rcpt_tos) for inbox in inboxes for item in list(inbox.received)})


def everything_sent(deployment: Deployment, count: int, *inboxes: Handler) -> Callable[[], bool]:
    """`count` people have mail, no delivery waits to be sent, and no message in the queue (the
    tests then check there is nothing more)."""

    def done() -> bool:
        states = deployment.states()
        return (
            recipients(*inboxes) >= count
            and set(states) == {"sent"}
            and states["sent"] >= count
            and deployment.waiting() == 0
        )

    return done


def assert_one_sent_delivery_each(deployment: Deployment, count: int) -> None:
    assert deployment.ledger() == [(address(number), "sent") for number in range(count)]


def assert_nothing_left(deployment: Deployment) -> None:
    """Once the workers stopped: no message waits or was dead-lettered."""
    assert deployment.waiting() == 0
    assert deployment.parked() == 0, f"{deployment.subscription.dead_letter_queue} is not empty"


# --- The tests ----------------------------------------------------------------------------


def test_redelivered_and_republished_answers_mail_each_attendee_once(deployment):
    """Every answer arrives three times: twice under its id (the broker redelivering it) and once
    more under a new id (the rsvps relay publishing it again after losing its own commit). The
    inbox turns the first kind away; the delivery's key makes the second queue nothing."""
    attendees = 100
    with smtp_server() as (inbox, smtp_url):
        worker = deployment.start_worker("worker", smtp_url)
        answers = schedule(deployment, attendees)
        deployment.publish(
            [
                copy
                for answer in answers
                for copy in (answer, answer, dataclasses.replace(answer, id=str(uuid.uuid4())))
            ]
        )
        deployment.wait_until(everything_sent(deployment, attendees, inbox), "the mail", worker)
        time.sleep(1.0)  # room for a second copy, were one coming
        deployment.stop(worker)
        mail = arrivals(list(inbox.received))

    assert sorted(mail) == [address(number) for number in range(attendees)]
    assert {who: copies for who, copies in mail.items() if len(copies) > 1} == {}
    assert len({message_id for [(_, message_id)] in mail.values()}) == attendees
    assert_one_sent_delivery_each(deployment, attendees)
    # Every copy was handled: the event, each answer's id and each new id, once each ...
    assert deployment.handled() == 1 + 2 * attendees
    # ... and each redelivery was turned away by the inbox.
    assert deployment.log("worker").count("already handled rsvps.rsvp_confirmed") == attendees
    assert_nothing_left(deployment)


@dataclasses.dataclass(frozen=True)
class Kill:
    arrived: int  # mails the server had received when the worker died
    waiting: int  # messages back in the queue, ready for the next worker
    queued: int  # deliveries in the ledger


def test_a_killed_worker_loses_nothing_and_resends_at_most_the_mail_in_flight(deployment):
    """A worker is killed twice while it consumes and sends 300 answers, and a third one
    finishes: every attendee gets their confirmation, and nobody gets a second, different one.

    What a killed consumer held unacknowledged goes back to the queue, and an answer it had
    committed but not acknowledged is turned away by the inbox. The one duplicate left is the
    window sending.py names: the mail the server accepted last, if the worker died before it
    committed that outcome, is sent again by the next worker once its claim ran out; a resent
    mail has its first copy's Message-ID, so a mail client shows it once. The test allows exactly
    that: a second mail to someone is a copy of the last mail the server received before a kill,
    and arrives after that kill; nobody gets three.
    """
    attendees = 300
    kills: list[Kill] = []
    with smtp_server() as (inbox, smtp_url):
        worker = deployment.start_worker("worker-1", smtp_url)
        deployment.publish(schedule(deployment, attendees))
        kill_at = 40
        for number in (2, 3):
            inbox.wait_for(kill_at, timeout=60)
            deployment.kill(worker)
            time.sleep(0.5)  # the server finishes reading what was sent before the kill
            kills.append(Kill(len(inbox.received), deployment.waiting(), len(deployment.ledger())))
            worker = deployment.start_worker(f"worker-{number}", smtp_url)
            # Well after the resent batch, so that no mail is in flight at two kills.
            kill_at = kills[-1].arrived + 5 * SENDER_BATCH
        deployment.wait_until(everything_sent(deployment, attendees, inbox), "the mail", worker)
        time.sleep(1.0)  # room for a late copy, were one coming
        deployment.stop(worker)
        mail = arrivals(list(inbox.received))

    for kill in kills:
        # Killed in the middle: answers still waited, and mail was still due.
        assert 0 < kill.arrived < attendees and kill.waiting > 0, kill
        # Nothing lost at the kill: every answer is in the ledger or back in the queue.
        assert kill.waiting + kill.queued >= attendees, kill
    assert sorted(mail) == [address(number) for number in range(attendees)]
    in_flight = [range(kill.arrived - 1, kill.arrived) for kill in kills]
    twice = {who: copies for who, copies in mail.items() if len(copies) > 1}
    not_a_resent_mail = {
        who: copies
        for who, copies in twice.items()
        if not (
            len(copies) == 2
            and copies[0][1] == copies[1][1]
            and any(copies[0][0] in batch and copies[1][0] >= batch.stop for batch in in_flight)
        )
    }
    assert not_a_resent_mail == {}, f"kills: {kills}"
    assert len(twice) <= len(kills)
    assert_one_sent_delivery_each(deployment, attendees)
    assert_nothing_left(deployment)


def test_two_replicas_share_the_queue_and_the_ledger_and_send_each_mail_once(deployment):
    """Two workers consume one queue and send from one ledger (SKIP LOCKED). Each sends to its
    own SMTP server, so the mail tells which replica sent it, and names its database sessions,
    so the ledger tells which queued it. Each answer is published twice under its id, one after
    the other, so the broker hands the copies to both replicas at once."""
    attendees = 300
    with deployment.engine.begin() as conn:
        # Which replica queued each delivery: the replicas name their database sessions.
        conn.execute(
            sa.text(
                "ALTER TABLE deliveries ADD COLUMN queued_by text NOT NULL"
                " DEFAULT current_setting('application_name')"
            )
        )
    with smtp_server() as (inbox_a, smtp_a), smtp_server() as (inbox_b, smtp_b):
        replica_a = deployment.start_worker("replica-a", smtp_a, consumers=1)
        replica_b = deployment.start_worker("replica-b", smtp_b, consumers=2)
        answers = schedule(deployment, attendees)
        deployment.publish([copy for answer in answers for copy in (answer, answer)])
        deployment.wait_until(
            everything_sent(deployment, attendees, inbox_a, inbox_b),
            "the mail",
            replica_a,
            replica_b,
        )
        time.sleep(1.0)  # room for a second copy, were one coming
        deployment.stop(replica_a)
        deployment.stop(replica_b)
        sent_by_a, sent_by_b = list(inbox_a.received), list(inbox_b.received)

    mail = arrivals(sent_by_a + sent_by_b)
    assert sorted(mail) == [address(number) for number in range(attendees)]
    assert {who: copies for who, copies in mail.items() if len(copies) > 1} == {}
    assert_one_sent_delivery_each(deployment, attendees)
    assert sent_by_a and sent_by_b, (len(sent_by_a), len(sent_by_b))
    with deployment.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT queued_by, count(*) FROM deliveries GROUP BY queued_by")
        )
        queued_by = {name: count for name, count in rows}
    assert set(queued_by) == {"replica-a", "replica-b"}, queued_by
    turned_away = sum(
        deployment.log(name).count("already handled rsvps.rsvp_confirmed")
        for name in ("replica-a", "replica-b")
    )
    assert turned_away == attendees, "each answer's second copy was turned away once"
    assert_nothing_left(deployment)


# --- The broker failing -----------------------------------------------------------------------


def restart_app() -> None:
    with broker_control.app_stopped():
        time.sleep(2.0)


def restart_node() -> None:
    with broker_control.node_stopped():
        time.sleep(2.0)


@pytest.mark.chaos
@pytest.mark.parametrize(
    "fault",
    [restart_app, restart_node, broker_control.close_all_connections],
    ids=lambda f: f.__name__,
)
def test_the_broker_failing_mid_stream_loses_and_doubles_no_mail(deployment, fault):
    """While a worker consumes and sends 300 answers, the broker restarts (or drops every
    connection). The worker reconnects by itself, without a restart: every attendee gets their
    confirmation once, nothing is parked, and the publisher standing in for the rsvps service
    goes on publishing the rest once the broker is back."""
    attendees = 300
    with smtp_server() as (inbox, smtp_url):
        worker = deployment.start_worker("worker", smtp_url)
        answers = schedule(deployment, attendees)
        deployment.publish(answers[: attendees // 2])
        inbox.wait_for(30, timeout=60)
        fault()
        deployment.publish(answers[attendees // 2 :])
        deployment.wait_until(
            everything_sent(deployment, attendees, inbox), "the mail", worker, deadline=120
        )
        deployment.wait_until(lambda: deployment.consumers() == 1, "the consumer to be back")
        time.sleep(1.0)  # room for a second copy, were one coming
        assert worker.poll() is None, "the worker kept running through the fault"
        deployment.stop(worker)
        mail = arrivals(list(inbox.received))

    assert sorted(mail) == [address(number) for number in range(attendees)]
    assert {who: copies for who, copies in mail.items() if len(copies) > 1} == {}
    assert_one_sent_delivery_each(deployment, attendees)
    assert "Connection to broker lost" in deployment.log("worker"), "the fault reached the worker"
    assert_nothing_left(deployment)
