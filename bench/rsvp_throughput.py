"""RSVP answers per second through `hearth serve rsvps` (gunicorn, 2 workers) on PostgreSQL,
beside the database's own ceiling on the same machine, in one run (issue 3's benchmark).

Each of ROUNDS rounds runs four measurements in turn, so that noise hits them all alike:
  ceiling, 2 threads  one-row INSERT + COMMIT per transaction with psycopg, one thread per open
                      connection, for CEILING_SECONDS, on the database the server writes (rsvps):
                      as many client threads as server workers; the figure the ratios divide by.
  RSVP, 50 events     SPREAD_ANSWERS new "yes" answers (distinct emails) POSTed over real HTTP
                      to /rsvps/api/events/<id>/rsvps with CONCURRENCY (32) requests in flight,
                      dealt round 50 events of 10 seats (20 answers each: 10 seated, 10 waiting).
                      The common case: decisions for different events do not contend.
                      Wall time -> requests/s.
  ceiling, 1 thread   as above with one thread, for reference.
  RSVP, one event     HOT_ANSWERS answers for one event of 25 seats: every decision queues on that
                      event's row lock.
Every round has events of its own, scheduled through the events service and carried into the
rsvps read model by its messages, so each round starts from empty lists. Every answer must come
back 201 and be stored, or the run fails.

How to read it: each figure is the median of the rounds, with their min and max (the machine is
shared and noisy: trust medians). "ratio" is RSVP req/s / ceiling tx/s with 2 threads, taken per
round and then the median; the issue aims for at least 0.25 in the common case. The aim is
reported, not enforced. A first answer is decided from the occurrence's counts, which the
database sums over its RSVPs, so its cost still grows a little with the answers an event already
has: the figures hold for these counts per event, not for any.
The second table says where the time went, in core-milliseconds per request or transaction: in
the server's worker processes, in PostgreSQL (this database's sessions and its background
processes), in this client, and in everything else the machine ran meanwhile ("others", from
/proc/stat), against "had", the core-ms each one had (cores / rate). What "had" leaves over after
those four is idle time: waiting on locks or commits with CPUs free. "n/a" where /proc cannot see
the processes (PostgreSQL on another machine, say).

Run: .venv/bin/python bench/rsvp_throughput.py [--rounds N] [--spread N] [--hot N], or `make bench`.
PostgreSQL comes from TEST_POSTGRES_URL as in the tests; its databases are made for the run and
dropped at the end, also on failure. Everything talks over 127.0.0.1.
"""

from __future__ import annotations

import argparse
import errno
import http.client
import json
import os
import secrets
import selectors
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from _measure import (
    HOST,
    Process,
    broker_url,
    children,
    cpu_seconds,
    cpu_spent,
    free_port,
    machine_busy,
    median_header,
    median_row,
    postgres_pids,
    postgres_server_url,
    postgres_version,
    started,
)

from hearth.stack import Stack
from services.events import operations
from services.events.store import Store
from services.rsvps import store as rsvps_store
from shared.config import Config
from shared.testing import fresh_databases

ROUNDS = 5
SPREAD_ANSWERS = 1000  # per round, over the 50 events
HOT_ANSWERS = 500  # per round, for the one event
CONCURRENCY = 32  # answers in flight at once
WORKERS = 2  # gunicorn processes, and client threads of the ceiling it is compared with
CEILING_SECONDS = 2.0
SPREAD_EVENTS, SPREAD_SEATS = 50, 10
HOT_SEATS = 25
AIM = 0.25
WARM_UP = 4 * CONCURRENCY  # answers for a spare event before measuring


# --- Databases and the services in this process ----------------------------------------------


def schedule_events(stack: Stack, capacities: list[int]) -> list[str]:
    """Schedule one event per capacity through the events service's API and let the messages
    carry them into the rsvps read model, as a deployment would."""
    client = stack.app("events").test_client()
    events = stack.services["events"]
    with Store(events.engine, events.outbox).begin() as uow:
        _, token = operations.issue_api_token(uow, "bench@example.org", "Bench Organizer")
    auth = {"Authorization": f"Bearer {token}"}
    community = client.post(
        "/api/communities", json={"name": "Bench Network", "timezone": "America/Chicago"},
        headers=auth,
    )  # fmt: skip
    if community.status_code != 201:
        raise SystemExit(
            f"could not create the community: {community.status_code} {community.text}"
        )
    slug = community.get_json()["slug"]
    day = (date.today() + timedelta(days=365)).isoformat()
    ids: list[str] = []
    for n, capacity in enumerate(capacities):
        body = {"kind": "social", "title": f"Bench event {n}", "starts_at": f"{day}T18:00",
                "ends_at": f"{day}T20:00", "capacity": capacity}  # fmt: skip
        made = client.post(f"/api/communities/{slug}/events", json=body, headers=auth)
        if made.status_code != 201:
            raise SystemExit(f"could not schedule an event: {made.status_code} {made.text}")
        ids.append(made.get_json()["id"])
    stack.flush()
    known = rsvps_count(stack, rsvps_store.events)
    if known != len(ids):
        raise SystemExit(f"the rsvps read model holds {known} events, not the {len(ids)} scheduled")
    return ids


def rsvps_count(stack: Stack, table: sa.Table) -> int:
    with stack.services["rsvps"].engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# --- The server ------------------------------------------------------------------------------


@contextmanager
def rsvps_server(env: dict[str, str], port: int) -> Iterator[Process]:
    command = [sys.executable, "-m", "hearth.cli", "serve", "rsvps", "--host", HOST,
               "--port", str(port), "--workers", str(WORKERS)]  # fmt: skip

    def ready(server: Process) -> bool:
        healthy = request(port, "GET", "/rsvps/healthz")[0] == 200
        return healthy and len(children(server.pid)) == WORKERS

    with started("hearth serve rsvps", command, env, ready) as server:
        yield server


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One request and its response, for the health check (the answers go by `send_all`)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post_request(port: int, path: str, body: bytes) -> bytes:
    """The bytes of one JSON POST on a connection of its own, as a proxy sends it."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Exchange:
    """One request on its connection: what is left to send, and what came back so far."""

    n: int
    unsent: memoryview
    received: list[bytes] = field(default_factory=list)


def send_all(port: int, requests: list[bytes]) -> list[tuple[int, bytes]]:
    """Send each request on a new connection, CONCURRENCY in flight, from this one thread: the
    status and body of each response, in order.

    One thread waiting on all the sockets at once costs the machine (whose cores the server
    shares) a fraction of what a thread per request costs in locks and switches. Each
    connection is closed by the server after its response (gunicorn's sync workers, like
    nginx in front of them, use one connection per request), so a response ends at EOF.
    """
    selector = selectors.DefaultSelector()
    responses: list[tuple[int, bytes]] = [(0, b"")] * len(requests)
    pending = iter(enumerate(requests))
    in_flight = 0

    def start() -> bool:
        nonlocal in_flight
        job = next(pending, None)
        if job is None:
            return False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if sock.connect_ex((HOST, port)) not in (0, errno.EINPROGRESS):
            raise SystemExit(f"could not connect to the server on port {port}")
        selector.register(sock, selectors.EVENT_WRITE, Exchange(job[0], memoryview(job[1])))
        in_flight += 1
        return True

    for _ in range(CONCURRENCY):
        if not start():
            break
    while in_flight:
        ready = selector.select(timeout=60)
        if not ready:
            raise SystemExit("the server sent nothing for 60 s")
        for key, _ in ready:
            sock, state = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            try:
                if state.unsent:
                    state.unsent = state.unsent[sock.send(state.unsent) :]
                    if not state.unsent:
                        selector.modify(sock, selectors.EVENT_READ, state)
                    continue
                chunk = sock.recv(65536)
            except OSError as error:
                raise SystemExit(f"request {state.n} failed: {error}") from None
            if chunk:
                state.received.append(chunk)
                continue
            selector.unregister(sock)
            sock.close()
            in_flight -= 1
            head, _, body = b"".join(state.received).partition(b"\r\n\r\n")
            responses[state.n] = (int(head[9:12]) if head[:5] == b"HTTP/" else 0, body)
            start()
    selector.close()
    return responses


# --- CPU accounting from /proc (Linux; "n/a" elsewhere) ----------------------------------------


class CpuMeter:
    """Core-seconds spent by the server's workers, this database's PostgreSQL processes, this
    client and everything else on the machine over one measurement (processes that came or
    went in between are left out)."""

    def __init__(self, server_pid: int, postgres_pids: list[int]) -> None:
        self.server_pid = server_pid
        self.postgres_pids = postgres_pids

    def snapshot(self) -> dict[str, Any]:
        return {
            "server": cpu_seconds(children(self.server_pid)),
            "postgres": cpu_seconds(self.postgres_pids),
            "client": time.process_time(),
            "machine": machine_busy(),
        }

    @staticmethod
    def spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
        spent: dict[str, float | None] = {"client": after["client"] - before["client"]}
        for group in ("server", "postgres"):
            spent[group] = cpu_spent(before[group], after[group])
        ours = [spent[group] for group in ("server", "postgres", "client")]
        known = None not in ours and None not in (before["machine"], after["machine"])
        others = after["machine"] - before["machine"] - sum(ours) if known else None  # type: ignore[arg-type]
        spent["others"] = None if others is None else max(others, 0.0)
        return spent


# --- The two measurements --------------------------------------------------------------------


@contextmanager
def open_connections(dsn: str, count: int) -> Iterator[list[psycopg.Connection[Any]]]:
    """The ceiling's connections, open for the whole run so that connecting is not measured."""
    opened: list[psycopg.Connection[Any]] = []
    try:
        for _ in range(count):
            opened.append(psycopg.connect(dsn))
        yield opened
    finally:
        for conn in opened:
            conn.close()


def ceiling(connections: list[psycopg.Connection[Any]], seconds: float) -> tuple[float, int]:
    """One-row INSERT + COMMIT transactions, one thread per connection, for `seconds`:
    transactions per second and how many."""
    counts = [0] * len(connections)
    start = threading.Barrier(len(connections) + 1)

    def insert_and_commit(n: int) -> None:
        conn = connections[n]
        start.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            conn.execute("INSERT INTO ceiling_rows (body) VALUES (%s)", (f"row {n}",))
            conn.commit()
            counts[n] += 1

    runners = [threading.Thread(target=insert_and_commit, args=(n,)) for n in range(len(counts))]
    for runner in runners:
        runner.start()
    start.wait()
    began = time.perf_counter()
    for runner in runners:
        runner.join()
    return sum(counts) / (time.perf_counter() - began), sum(counts)


def answer_all(port: int, jobs: list[tuple[str, bytes]]) -> tuple[float, int]:
    """POST every (path, body), CONCURRENCY at a time: requests per second and how many.
    Anything but 201 for any of them ends the run."""
    requests = [post_request(port, path, body) for path, body in jobs]
    began = time.perf_counter()
    responses = send_all(port, requests)
    rate = len(jobs) / (time.perf_counter() - began)
    statuses = Counter(status for status, _ in responses)
    failures = [body for status, body in responses if status != 201]
    if set(statuses) != {201}:
        first = failures[0][:500].decode(errors="replace") if failures else "-"
        raise SystemExit(f"not every answer was created: {dict(statuses)}; first failure: {first}")
    return rate, len(jobs)


def answers(tag: str, event_ids: list[str], count: int) -> list[tuple[str, bytes]]:
    """`count` new "yes" answers with distinct emails, dealt round the events in turn."""
    jobs = []
    for n in range(count):
        body = {"name": f"Person {n}", "email": f"{tag}-{n}@example.org", "response": "yes"}
        jobs.append(
            (f"/rsvps/api/events/{event_ids[n % len(event_ids)]}/rsvps", json.dumps(body).encode())
        )
    return jobs


# --- The run ---------------------------------------------------------------------------------

KEYS = ("c2", "spread", "c1", "hot")  # also the order within a round


@dataclass(frozen=True)
class Plan:
    rounds: int = ROUNDS
    spread: int = SPREAD_ANSWERS  # answers per round over the 50 events
    hot: int = HOT_ANSWERS  # answers per round for the one event


@dataclass
class Results:
    version: str = ""
    rates: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key in KEYS})
    # Core-ms per request or transaction, by process group, per round (None: not measurable).
    cpu: dict[str, list[dict[str, float | None]]] = field(
        default_factory=lambda: {key: [] for key in KEYS}
    )


def run(plan: Plan) -> Results:
    server_url = postgres_server_url()
    with fresh_databases(server_url, "bench", ("events", "rsvps")) as urls:
        config = Config(secret_key=secrets.token_urlsafe(32), database_urls=urls, demo=False)
        stack = Stack(config, ["events", "rsvps"])
        try:
            stack.migrate()
            stack.declare()
            # Fresh events for every round, so each round starts from the same empty lists;
            # one more for warming up.
            rounds = plan.rounds
            capacities = [SPREAD_SEATS] * SPREAD_EVENTS * rounds + [HOT_SEATS] * (rounds + 1)
            ids = schedule_events(stack, capacities)
            spread = [ids[r * SPREAD_EVENTS : (r + 1) * SPREAD_EVENTS] for r in range(rounds)]
            hot = [[event_id] for event_id in ids[SPREAD_EVENTS * rounds :]]
            results = measure(stack, urls, plan, spread, hot)
            stored = rsvps_count(stack, rsvps_store.rsvps)
            expected = WARM_UP + (plan.spread + plan.hot) * rounds
            if stored != expected:
                raise SystemExit(f"{stored} RSVPs stored, but {expected} were answered 201")
            return results
        finally:
            stack.stop()


def measure(
    stack: Stack,
    urls: dict[str, str],
    plan: Plan,
    spread: list[list[str]],
    hot: list[list[str]],
) -> Results:
    dsn = sa.make_url(urls["rsvps"]).set(drivername="postgresql").render_as_string(False)
    port = free_port()
    env = {
        **os.environ,
        "HEARTH_SECRET_KEY": stack.config.secret_key,
        "HEARTH_RATE_LIMITS": "off",  # one machine stands in for many people
        # Serving needs a broker URL to start; answering only writes the outbox.
        "AMQP_URL": broker_url(),
        **{f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()},
    }
    engine = stack.services["rsvps"].engine
    results = Results(version=postgres_version(engine))
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("CREATE TABLE ceiling_rows (id bigserial PRIMARY KEY, body text NOT NULL)")
        try:
            with (
                rsvps_server(env, port) as server,
                open_connections(dsn, WORKERS) as writers,
            ):
                # Warm up both workers (imports, pooled connections, caches) and the table.
                answer_all(port, answers("warm", hot[-1], WARM_UP))
                ceiling(writers, 0.3)
                meter = CpuMeter(server.pid, postgres_pids(engine))
                jobs = {
                    "spread": [answers(f"s{r}", ids, plan.spread) for r, ids in enumerate(spread)],
                    "hot": [answers(f"h{r}", ids, plan.hot) for r, ids in enumerate(hot)],
                }
                steps: dict[str, Callable[[int], tuple[float, int]]] = {
                    "c2": lambda r: ceiling(writers, CEILING_SECONDS),
                    "spread": lambda r: answer_all(port, jobs["spread"][r]),
                    "c1": lambda r: ceiling(writers[:1], CEILING_SECONDS),
                    "hot": lambda r: answer_all(port, jobs["hot"][r]),
                }
                for r in range(len(spread)):
                    for key in KEYS:
                        before = meter.snapshot()
                        rate, done = steps[key](r)
                        spent = CpuMeter.spent(before, meter.snapshot())
                        results.rates[key].append(rate)
                        results.cpu[key].append(
                            {k: None if v is None else 1000 * v / done for k, v in spent.items()}
                        )
        finally:
            admin.execute("DROP TABLE IF EXISTS ceiling_rows")
    return results


# --- The report ------------------------------------------------------------------------------


def report(plan: Plan, results: Results) -> bool:
    """Print the tables; True if the common case meets the aim."""
    rates, cores = results.rates, os.cpu_count() or 1
    labels = {
        "c2": f"ceiling, {WORKERS} threads (tx/s)",
        "c1": "ceiling, 1 thread (tx/s)",
        "spread": f"RSVP, {plan.spread} over {SPREAD_EVENTS} events (req/s)",
        "hot": f"RSVP, {plan.hot} for one event (req/s)",
    }
    print(
        f"\nRSVP throughput: PostgreSQL {results.version}, gunicorn {WORKERS} workers, "
        f"{CONCURRENCY} answers in flight, {plan.rounds} rounds, {cores} cores"
    )
    print(median_header("", 40, 8))
    for key, label in labels.items():
        print(median_row(label, rates[key], 40, "8.0f"))
    ratio = {}
    for key, shape in (("spread", f"{SPREAD_EVENTS} events"), ("hot", "one event")):
        per_round = [rsvp / c2 for rsvp, c2 in zip(rates[key], rates["c2"], strict=True)]
        ratio[key] = statistics.median(per_round)
        print(median_row(f"ratio, {shape} / ceiling {WORKERS} threads", per_round, 40, "8.2f"))

    print(
        f"\n{'core-ms each (medians)':40}{'server':>8}{'postgres':>9}{'client':>8}"
        f"{'others':>8}{'had':>8}"
    )
    for key, label in labels.items():
        cells = ""
        for group, width in (("server", 8), ("postgres", 9), ("client", 8), ("others", 8)):
            values = [v for spent in results.cpu[key] if (v := spent[group]) is not None]
            cells += f"{statistics.median(values):{width}.2f}" if values else f"{'n/a':>{width}}"
        had = 1000 * cores / statistics.median(rates[key])
        print(f"{label.rsplit(' (', 1)[0]:40}{cells}{had:8.2f}")

    met = ratio["spread"] >= AIM
    print(
        f"\naim, RSVP >= {AIM} x ceiling ({WORKERS} threads) with {SPREAD_EVENTS} events: "
        f"{'met' if met else 'NOT met'} at {ratio['spread']:.2f} (one event: {ratio['hot']:.2f})"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--spread", type=int, default=SPREAD_ANSWERS, help="answers per round "
                        f"over {SPREAD_EVENTS} events (default %(default)s)")  # fmt: skip
    parser.add_argument("--hot", type=int, default=HOT_ANSWERS, help="answers per round for "
                        "one event (default %(default)s)")  # fmt: skip
    args = parser.parse_args()
    plan = Plan(args.rounds, args.spread, args.hot)
    if min(plan.rounds, plan.spread, plan.hot) < 1:
        parser.error("--rounds, --spread and --hot must be at least 1")
    began = time.monotonic()
    report(plan, run(plan))
    print(f"(whole run {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
