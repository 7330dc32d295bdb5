"""Update mail for an event with ATTENDEES (2,000) confirmed attendees, through RabbitMQ and the
notifications worker to a local SMTP server, beside plain smtplib sending the same messages to
the same server, in one run; and RSVP -> confirmation mail latency (issue 5's benchmark).

Everything runs on this machine: RabbitMQ and PostgreSQL as configured for the tests, an aiosmtpd
server in this process (the tests' handler, tests/notifications/smtp_server.py, which also notes
when it accepted each message), and the notifications worker in a process of its own: the worker
role of this file, which does what `hearth worker notifications` does (Worker, with the service's
consumer, relay and email sender, SMTP_URL pointing at the server here) but on an exchange and
queues named for this run. `hearth worker` takes the deployment's names, which the integration
tests delete when they finish and which anything else on the broker may be consuming. A process
rather than a thread, because in a deployment the worker has an interpreter (and a GIL) of its
own: in this process it would fight the SMTP server and the publisher for one. `--workers N`
starts N of them, as replicas sharing the queue and (SKIP LOCKED) the deliveries.

Setup (timed and printed, not measured): publish `events.event_scheduled` for the event, then one
`rsvps.rsvp_confirmed` per attendee (distinct ids and emails), each validated by its publisher's
schema, and wait until all their confirmation mails are accepted: the "seeding" figure is that
throughput, for a burst of answers.

Latency: LATENCY_SAMPLES answers to a second event, one at a time: each timed from the publish
of its `rsvps.rsvp_confirmed` (with the broker's confirm, as the rsvps relay publishes) to the
SMTP server accepting its confirmation; the median and 95th percentile.

Each of ROUNDS rounds then measures, in turn:
  update    publish one `events.event_updated` (the event moved by a day: a higher sequence, new
            times, `changed: ["starts_at", "ends_at"]`) and time until the server accepted the
            last of the ATTENDEES update mails; also when the first one came, which is roughly
            the consumer and the handler's transaction queueing every delivery.
  ceiling   plain `smtplib.SMTP`, in a process of its own as the worker is, on one connection
            opened beforehand, sending the bytes the server received in the first update round
            (the same messages, sizes and recipients) to the same server; timed the same way,
            from the signal to send until the server accepted the last.
Every update mail is checked: one to each attendee, with the update's subject.

How to read it: the figures are medians of the rounds with their min and max, and per round (the
machine is shared and noisy: trust medians). The ratio is update mails/s / ceiling mails/s per
round, then the median; the issue aims for at least 0.5. The aim is reported, not enforced.
The second table says where the time went, in core-ms per mail: the worker process, this
process (the SMTP server, plus a poll every 20 ms), PostgreSQL (this database's sessions and its
background processes), RabbitMQ, the ceiling's client, and everything else ("others", from
/proc/stat); against "had", the core-ms each mail had (cores / rate). "n/a" where /proc cannot
see the processes. A big "others" means something else was using the machine meanwhile (other
people's tests): the rounds alternate so that both measurements share it, and the ratio is the
figure to trust.

Run: .venv/bin/python bench/notification_mail.py [--attendees N] [--rounds N] [--latency N]
[--workers N], or `make bench`. PostgreSQL and RabbitMQ come from TEST_POSTGRES_URL and
TEST_AMQP_URL as in the tests, and the run fails if either cannot be reached; the database is
made for the run and dropped at the end, as are the exchange and queues, also on failure.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import json
import logging
import os
import secrets
import select
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import kombu
import sqlalchemy as sa
from _measure import (
    HOST,
    ROOT,
    START_SECONDS,
    broker_url,
    cpu_seconds,
    machine_busy,
    median_header,
    median_row,
    pids_named,
    postgres_pids,
    postgres_server_url,
    postgres_version,
    rabbitmq_version,
    smtp_server,
    stop,
)

from hearth.stack import Stack
from services.events import messages as events_messages
from services.notifications import store as notifications_store
from services.rsvps import messages as rsvps_messages
from shared.bus import BusPublisher
from shared.config import Config
from shared.envelope import Envelope
from shared.runtime import Worker
from shared.testing import fresh_databases

# The tests' SMTP handler lives in tests/, which is not an installed package.
sys.path.insert(0, str(ROOT))
from tests.conftest import delete_topology
from tests.notifications.smtp_server import Handler

ATTENDEES = 2000
ROUNDS = 3
LATENCY_SAMPLES = 200
WORKERS = 1  # worker processes, as replicas of `hearth worker notifications`
AIM = 0.5
UPDATE_SUBJECT = "Changed:"  # how services/notifications/mail.py begins an update's subject
ZONE = "America/Chicago"
BASE_URL = "http://127.0.0.1:8000"
POLL = 0.02  # seconds between looks at the server's count (its own clock times each message)
STALL_SECONDS = 60  # no new mail for this long while waiting: the run fails


# --- The SMTP server ---------------------------------------------------------------------------


@dataclass
class TimedInbox(Handler):
    """The tests' handler, which also notes when it accepted each message (this process's
    perf_counter, the clock the publishes are timed with)."""

    accepted_at: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            self.accepted_at.append(time.perf_counter())
        return answer

    def count(self) -> int:
        return len(self.accepted_at)

    def take(self) -> tuple[list[tuple[str, bytes]], list[float]]:
        """What arrived so far, (recipient, bytes) with when; and forget it."""
        with self.arrived:
            received = [(r.rcpt_tos[0], r.data) for r in self.received]
            times = self.accepted_at
            self.received, self.accepted_at = [], []
        return received, times


# --- The messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """The community and events the messages are about."""

    community: dict[str, Any]
    event_id: str
    latency_event_id: str
    day: date


def scene() -> Scene:
    community_id = str(uuid.uuid4())
    return Scene(
        community={
            "id": community_id,
            "slug": "bench-network",
            "name": "Bench Network",
            "timezone": ZONE,
            "visibility": "private",
            "url": f"{BASE_URL}/c/bench-network",
        },
        event_id=str(uuid.uuid4()),
        latency_event_id=str(uuid.uuid4()),
        # Far enough ahead that no mail about it is dropped as being about a past event.
        day=date.today() + timedelta(days=60),
    )


def event_state(where: Scene, event_id: str, sequence: int, day: date) -> dict[str, Any]:
    """The event's whole state as the events service publishes it (services/events/messages.py)."""
    zone = ZoneInfo(ZONE)
    start = datetime(day.year, day.month, day.day, 18, 0)
    end = start + timedelta(hours=2)
    return {
        "id": event_id,
        "community": where.community,
        "kind": "social",
        "title": "Winter gathering",
        "description": "Food, drinks and no case talk. Partners welcome; bring a dish to share.",
        "local_start": start.isoformat(),
        "local_end": end.isoformat(),
        "timezone": ZONE,
        "starts_at": start.replace(tzinfo=zone).isoformat(),
        "ends_at": end.replace(tzinfo=zone).isoformat(),
        "all_day": False,
        "rrule": None,
        "cancelled_occurrences": [],
        "overrides": [],
        "series_shift_seconds": 0,
        "location": "The Juniper Room, 12 Mill Street",
        "online_url": None,
        "capacity": None,
        "guest_limit": 1,
        "rsvp_deadline": None,
        "visibility": "community",
        "honoree_email": None,
        "surprise": False,
        "ce_hours": None,
        "presenter": None,
        "status": "scheduled",
        "sequence": sequence,
        "url": f"{BASE_URL}/events/{event_id}",
        "updated_at": datetime.now(UTC).isoformat(),
    }


def scheduled(where: Scene, event_id: str) -> Envelope:
    state = event_state(where, event_id, 1, where.day)
    return events_messages.message("events.event_scheduled", {"event": state}, str(uuid.uuid4()))


def moved(where: Scene, days: int) -> Envelope:
    """The event `days` days later than scheduled, as its `days`-th change."""
    state = event_state(where, where.event_id, 1 + days, where.day + timedelta(days=days))
    payload = {"event": state, "changed": ["starts_at", "ends_at"]}
    return events_messages.message("events.event_updated", payload, str(uuid.uuid4()))


def confirmed(event_id: str, n: int, email: str) -> Envelope:
    rsvp = {
        "id": str(uuid.uuid4()),
        "event_id": event_id,
        "occurrence": None,
        "name": f"Attendee {n}",
        "email": email,
        "phone": None,
        "response": "yes",
        "guests": 0,
        "status": "confirmed",
        "waitlist_position": None,
        "manage_url": f"{BASE_URL}/rsvps/manage/{secrets.token_urlsafe(24)}",
        "updated_at": datetime.now(UTC).isoformat(),
    }
    counts = {"occurrence": None, "revision": n + 1, "capacity": None,
              "confirmed_seats": n + 1, "waitlisted": 0, "maybe": 0}  # fmt: skip
    payload = {"rsvp": rsvp, "counts": counts}
    return rsvps_messages.message("rsvps.rsvp_confirmed", payload, str(uuid.uuid4()))


def attendee_email(n: int) -> str:
    return f"attendee-{n}@example.org"


def publish(publisher: BusPublisher, envelope: Envelope) -> None:
    """As the relays publish: persistent, and confirmed by the broker before this returns."""
    publisher.publish(
        envelope.to_json(),
        type=envelope.type,
        message_id=envelope.id,
        correlation_id=envelope.correlation_id,
    )


# --- The processes -----------------------------------------------------------------------------


class Child:
    """This file running in another process in some role: its output read line by line, and
    its log (stderr) kept in a file, since a pipe nobody reads could fill and stall it."""

    def __init__(
        self, role: str, env: dict[str, str], args: tuple[str, ...], log: IO[bytes]
    ) -> None:
        self.role = role
        self.log = log
        command = [sys.executable, str(Path(__file__).resolve()), "--role", role, *args]
        self.proc = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            bufsize=0,
        )
        self.pid = self.proc.pid
        self._pending = b""

    def line(self, timeout: float) -> str | None:
        """The next line it prints, or None if none comes within `timeout` seconds. Its own
        buffer, because select() cannot see lines a buffered reader already holds."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                return None
            chunk = os.read(out, 4096)
            if not chunk:
                return None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line.decode().strip()

    def expect(self, line: str, timeout: float) -> None:
        said = self.line(timeout)
        if said != line:
            status = "" if self.proc.poll() is None else f", exited {self.proc.returncode}"
            raise SystemExit(
                f"the {self.role} did not say {line!r} within {timeout:.0f} s (said {said!r}"
                f"{status}); its log:\n{self.log_tail()}"
            )

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())

    def check_alive(self, what: str) -> None:
        if self.proc.poll() is not None:
            raise SystemExit(f"the {self.role} died while {what}; its log:\n{self.log_tail()}")

    def log_tail(self, size: int = 4000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        stop(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


@contextmanager
def child(role: str, env: dict[str, str], *args: str) -> Iterator[Child]:
    """This file in another process, in `role`, once it said "ready"; stopped at the end
    whatever happened."""
    with tempfile.TemporaryFile() as log:
        started = Child(role, env, args, log)
        try:
            started.expect("ready", START_SECONDS)
            yield started
        finally:
            started.stop()


def run_worker() -> None:
    """The worker role: what `hearth worker notifications` does, on this run's exchange and
    queues (BENCH_EXCHANGE, BENCH_QUEUE_PREFIX)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = Config.from_env().with_changes(
        exchange=os.environ["BENCH_EXCHANGE"], queue_prefix=os.environ["BENCH_QUEUE_PREFIX"]
    )
    stack = Stack(config, ["notifications"])
    stack.declare()
    running = Worker(stack.services["notifications"], stack.bus)
    signal.signal(signal.SIGTERM, lambda *_: running.stop())
    running.start()
    print("ready", flush=True)
    try:
        running.wait()
    except KeyboardInterrupt:
        running.stop()


def run_ceiling(port: int, messages_path: str) -> None:
    """The ceiling role: for each "go" on its input, send every message of `messages_path` on
    one connection opened beforehand, then "sent"."""
    sender = "no-reply@localhost"
    with open(messages_path) as lines:
        mails = [(m["to"], base64.b64decode(m["data"])) for m in map(json.loads, lines)]
    while True:
        smtp = smtplib.SMTP(HOST, port, timeout=30)
        smtp.ehlo()
        print("ready", flush=True)
        if sys.stdin.readline().strip() != "go":
            smtp.quit()
            return
        for recipient, data in mails:
            refused = smtp.sendmail(sender, [recipient], data)
            if refused:
                raise SystemExit(f"refused: {refused}")
        smtp.quit()
        print("sent", flush=True)


# --- CPU accounting from /proc (Linux; "n/a" elsewhere) ----------------------------------------


def cpu_total(pids: list[int]) -> float | None:
    """utime + stime of every thread of these processes; None if /proc shows none of them."""
    times = cpu_seconds(pids)
    return sum(times.values()) if times else None


GROUPS = ("worker", "smtp server", "postgres", "rabbitmq", "client")


class CpuMeter:
    """Core-seconds by process group over one measurement."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def snapshot(self) -> dict[str, float | None]:
        taken: dict[str, float | None] = {
            name: cpu_total(pids) for name, pids in self.groups.items()
        }
        taken["smtp server"] = time.process_time()
        taken["machine"] = machine_busy()
        return taken

    @staticmethod
    def spent(
        before: dict[str, float | None], after: dict[str, float | None]
    ) -> dict[str, float | None]:
        spent: dict[str, float | None] = {}
        for name in after:
            first, last = before.get(name), after[name]
            spent[name] = None if first is None or last is None else last - first
        machine = spent.pop("machine")
        ours = [value for value in spent.values() if value is not None]
        spent["others"] = None if machine is None else max(machine - sum(ours), 0.0)
        return spent


# --- The run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    attendees: int = ATTENDEES
    rounds: int = ROUNDS
    latency: int = LATENCY_SAMPLES
    workers: int = WORKERS


@dataclass
class Results:
    versions: dict[str, str] = field(default_factory=dict)
    seeding: float = 0.0  # seconds from the first publish to the last confirmation accepted
    latencies: list[float] = field(default_factory=list)
    update: list[float] = field(default_factory=list)  # seconds, per round
    first: list[float] = field(default_factory=list)  # seconds to the first update mail
    ceiling: list[float] = field(default_factory=list)
    mail_bytes: int = 0
    cpu: dict[str, list[dict[str, float | None]]] = field(
        default_factory=lambda: {"update": [], "ceiling": []}
    )


def reachable(postgres: str, amqp: str) -> None:
    """Fail loudly, before anything is made, if either server is away."""
    try:
        engine = sa.create_engine(postgres)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        raise SystemExit(f"PostgreSQL at {postgres} is not reachable: {error}") from None
    try:
        with kombu.Connection(amqp, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except Exception as error:
        raise SystemExit(f"RabbitMQ at {amqp} is not reachable: {error}") from None


def run(plan: Plan) -> Results:
    postgres = postgres_server_url()
    amqp = broker_url()
    reachable(postgres, amqp)
    tag = uuid.uuid4().hex[:8]
    results = Results()
    inbox = TimedInbox()
    with (
        fresh_databases(postgres, "bench", ("notifications",)) as urls,
        smtp_server(inbox) as smtp_port,
        tempfile.TemporaryDirectory(prefix="hearth-bench-") as temp,
    ):
        config = Config(
            secret_key=secrets.token_urlsafe(32),
            database_urls=urls,
            amqp_url=amqp,
            base_url=BASE_URL,
            smtp_url=f"smtp://{HOST}:{smtp_port}",
            exchange=f"hearth-bench-{tag}",
            queue_prefix=f"bench-{tag}.",
        )
        # In this process only to make the schema and the topology, publish, and read the ledger.
        stack = Stack(config, ["notifications"])
        try:
            stack.migrate()
            stack.declare()
            env = {
                **os.environ,
                "HEARTH_SECRET_KEY": config.secret_key,
                "HEARTH_RATE_LIMITS": "off",  # one machine stands in for many people
                "HEARTH_BASE_URL": BASE_URL,
                "HEARTH_DATA": temp,
                "AMQP_URL": amqp,
                "NOTIFICATIONS_DATABASE_URL": urls["notifications"],
                "SMTP_URL": config.smtp_url or "",
                "BENCH_EXCHANGE": config.exchange,
                "BENCH_QUEUE_PREFIX": config.queue_prefix,
            }
            with ExitStack() as running:
                workers = [running.enter_context(child("worker", env)) for _ in range(plan.workers)]
                measure(stack, inbox, smtp_port, workers, env, Path(temp), plan, results)
            return results
        finally:
            delete_topology(stack)
            stack.stop()


def wait_for_mail(inbox: TimedInbox, count: int, senders: list[Child], what: str) -> None:
    """Until the server accepted `count` messages; fails if a sender died or nothing came for
    STALL_SECONDS."""
    seen, since = inbox.count(), time.monotonic()
    while (now_seen := inbox.count()) < count:
        for sender in senders:
            sender.check_alive(what)
        if now_seen != seen:
            seen, since = now_seen, time.monotonic()
        elif time.monotonic() - since > STALL_SECONDS:
            logs = "\n".join(f"the {s.role}'s log:\n{s.log_tail()}" for s in senders)
            raise SystemExit(
                f"{what}: {now_seen} of {count} mails, and none for {STALL_SECONDS} s\n{logs}"
            )
        time.sleep(POLL)


def header_of(data: bytes, name: str) -> str:
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(data)
    return str(headers[name] or "")


def write_messages(path: Path, received: list[tuple[str, bytes]]) -> None:
    """What the server received, for the ceiling to send again: one JSON line per message."""
    with path.open("w") as out:
        for recipient, data in received:
            out.write(json.dumps({"to": recipient, "data": base64.b64encode(data).decode()}))
            out.write("\n")


def measure(
    stack: Stack,
    inbox: TimedInbox,
    smtp_port: int,
    workers: list[Child],
    env: dict[str, str],
    temp: Path,
    plan: Plan,
    results: Results,
) -> None:
    engine = stack.services["notifications"].engine
    results.versions["postgres"] = postgres_version(engine)
    results.versions["rabbitmq"] = rabbitmq_version(stack)
    results.versions["aiosmtpd"] = version("aiosmtpd")
    where = scene()
    publisher = stack.bus.publisher()
    try:
        # Seeding: the events, then the answers, one confirmed publish at a time.
        began = time.perf_counter()
        publish(publisher, scheduled(where, where.event_id))
        publish(publisher, scheduled(where, where.latency_event_id))
        for n in range(plan.attendees):
            publish(publisher, confirmed(where.event_id, n, attendee_email(n)))
        wait_for_mail(inbox, plan.attendees, workers, "seeding")
        _, times = inbox.take()
        results.seeding = times[-1] - began
        print(f"seeded {plan.attendees} attendees in {results.seeding:.1f} s", file=sys.stderr)

        # Latency: one answer at a time, to the other event.
        for n in range(plan.latency):
            email = f"latency-{n}@example.org"
            began = time.perf_counter()
            publish(publisher, confirmed(where.latency_event_id, n, email))
            wait_for_mail(inbox, 1, workers, "timing an answer")
            [(recipient, _)], [accepted] = inbox.take()
            if recipient != email:
                raise SystemExit(f"the confirmation went to {recipient}, not {email}")
            results.latencies.append(accepted - began)
        print(f"timed {plan.latency} answers", file=sys.stderr)

        meter = CpuMeter(
            {
                "worker": [worker.pid for worker in workers],
                "postgres": postgres_pids(engine),
                "rabbitmq": pids_named("beam.smp"),
            }
        )
        expected = {attendee_email(n) for n in range(plan.attendees)}
        with ExitStack() as later:
            ceiling: Child | None = None
            for r in range(plan.rounds):
                # The update.
                before = meter.snapshot()
                began = time.perf_counter()
                publish(publisher, moved(where, r + 1))
                wait_for_mail(inbox, plan.attendees, workers, f"round {r + 1}'s update")
                received, times = inbox.take()
                spent = CpuMeter.spent(before, meter.snapshot())
                spent.pop("client", None)  # the ceiling's, idle meanwhile
                results.cpu["update"].append(spent)
                results.update.append(times[-1] - began)
                results.first.append(times[0] - began)
                check_update(received, expected, f"round {r + 1}")
                if ceiling is None:
                    # The ceiling sends what the server just received.
                    messages = temp / "messages.jsonl"
                    write_messages(messages, received)
                    results.mail_bytes = sum(len(data) for _, data in received)
                    ceiling = later.enter_context(
                        child("ceiling", env, "--smtp-port", str(smtp_port), str(messages))
                    )
                    meter.groups["client"] = [ceiling.pid]
                del received

                # The ceiling, on a connection it opened before saying "ready".
                before = meter.snapshot()
                began = time.perf_counter()
                ceiling.tell("go")
                wait_for_mail(inbox, plan.attendees, [ceiling], f"round {r + 1}'s ceiling")
                _, times = inbox.take()
                results.cpu["ceiling"].append(CpuMeter.spent(before, meter.snapshot()))
                results.ceiling.append(times[-1] - began)
                ceiling.expect("sent", 30)
                ceiling.expect("ready", 30)
                print(f"round {r + 1} of {plan.rounds} done", file=sys.stderr)
        check_ledger(engine, plan)
    finally:
        publisher.close()


def check_update(received: list[tuple[str, bytes]], expected: set[str], what: str) -> None:
    recipients = [recipient for recipient, _ in received]
    if len(recipients) != len(expected) or set(recipients) != expected:
        raise SystemExit(f"{what}: the update mails did not go once to each attendee")
    subjects = {header_of(data, "Subject").split(" ", 1)[0] for _, data in received}
    if subjects != {UPDATE_SUBJECT}:
        raise SystemExit(f"{what}: update mails begin with {subjects}, not {UPDATE_SUBJECT!r}")


def check_ledger(engine: sa.Engine, plan: Plan) -> None:
    deliveries = notifications_store.deliveries
    with engine.connect() as conn:
        states: dict[str, int] = dict(
            conn.execute(
                sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)
            ).all()
        )
    wanted = plan.attendees * (1 + plan.rounds) + plan.latency
    if states != {"sent": wanted}:
        raise SystemExit(f"the ledger holds {states}, not {wanted} sent")


# --- The report --------------------------------------------------------------------------------


def report(plan: Plan, results: Results) -> bool:
    """Print the tables; True if the aim is met."""
    n = plan.attendees
    cores = os.cpu_count() or 1
    versions = results.versions
    print(
        f"\nNotification mail: {n:,} attendees, RabbitMQ {versions['rabbitmq']}, PostgreSQL "
        f"{versions['postgres']}, aiosmtpd {versions['aiosmtpd']}, "
        f"{plan.workers} worker process{'es' if plan.workers > 1 else ''}, {plan.rounds} rounds, "
        f"{cores} cores"
    )
    print(
        f"setup: {n:,} answers -> {n:,} confirmations in {results.seeding:.1f} s "
        f"({n / results.seeding:.0f} mails/s, publishing included); update mails "
        f"{results.mail_bytes / n / 1024:.1f} KiB each"
    )
    update = [n / seconds for seconds in results.update]
    ceiling = [n / seconds for seconds in results.ceiling]
    ratios = [u / c for u, c in zip(update, ceiling, strict=True)]
    first = [1000 * seconds for seconds in results.first]
    latencies = sorted(1000 * seconds for seconds in results.latencies)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[18]
    print(median_header("", 46, 9))
    rows = [
        (f"update -> {n:,}th mail accepted (mails/s)", update, "9.0f"),
        ("ceiling, smtplib on one connection (mails/s)", ceiling, "9.0f"),
        ("ratio, update / ceiling", ratios, "9.2f"),
        ("update -> first mail accepted (ms)", first, "9.0f"),
    ]
    for label, values, shape in rows:
        print(median_row(label, values, 46, shape))
    print(
        f"{'RSVP -> confirmation accepted (ms)':46}{statistics.median(latencies):9.1f}"
        f"{latencies[0]:9.1f}{latencies[-1]:9.1f}   p95 {p95:.1f} ({len(latencies)} answers)"
    )

    print(f"\n{'round':>5}{'update s':>10}{'mails/s':>9}{'first ms':>10}{'ceiling s':>11}"
          f"{'mails/s':>9}{'ratio':>7}")  # fmt: skip
    for r in range(plan.rounds):
        print(
            f"{r + 1:5}{results.update[r]:10.2f}{update[r]:9.0f}{first[r]:10.0f}"
            f"{results.ceiling[r]:11.2f}{ceiling[r]:9.0f}{ratios[r]:7.2f}"
        )

    print(f"\n{'core-ms per mail (medians)':28}" + "".join(f"{g:>12}" for g in GROUPS)
          + f"{'others':>9}{'had':>8}")  # fmt: skip
    for key, rates in (("update", update), ("ceiling", ceiling)):
        cells = ""
        for group, width in [(g, 12) for g in GROUPS] + [("others", 9)]:
            values = [v for spent in results.cpu[key] if (v := spent.get(group)) is not None]
            cells += (
                f"{1000 * statistics.median(values) / n:{width}.2f}"
                if values
                else (f"{'-' if group == 'client' and key == 'update' else 'n/a':>{width}}")
            )
        print(f"{key:28}{cells}{1000 * cores / statistics.median(rates):8.2f}")

    ratio = statistics.median(ratios)
    met = ratio >= AIM
    print(
        f"\naim, update >= {AIM} x ceiling: {'met' if met else 'NOT met'} at {ratio:.2f}; "
        f"RSVP -> confirmation median {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--attendees", type=int, default=ATTENDEES,
                        help="confirmed attendees of the event (default %(default)s)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--latency", type=int, default=LATENCY_SAMPLES,
                        help="answers timed one at a time (default %(default)s)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help="worker processes (default %(default)s)")  # fmt: skip
    # The processes this file starts itself.
    parser.add_argument("--role", choices=("bench", "worker", "ceiling"), default="bench",
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--smtp-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("messages", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "worker":
        run_worker()
        return
    if args.role == "ceiling":
        run_ceiling(args.smtp_port, args.messages)
        return
    plan = Plan(args.attendees, args.rounds, args.latency, args.workers)
    if min(plan.attendees, plan.rounds, plan.workers) < 1 or plan.latency < 2:
        parser.error("--attendees, --rounds and --workers must be at least 1, --latency 2")
    began = time.monotonic()
    report(plan, run(plan))
    print(f"(whole run {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
