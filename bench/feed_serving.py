"""A community calendar feed served by `hearth serve events` (gunicorn, 2 workers) on PostgreSQL,
beside Radicale (the CalDAV server) serving the same events as a calendar collection, in one
run (issue 4's benchmark).

Setup (not measured, but timed and printed): two communities, one of EVENTS (5,000) events and
one of SMALL (500), a realistic mix made from a fixed seed: about one in eight a weekly series,
four zones, descriptions of 200 to 500 characters, some places and video links, a few private
events. They are scheduled in this process through the events service's own use cases
(services.events.operations, with the API's input schema, in units of work of the events
store), not over HTTP; then `Stack.flush()` relays the outbox and runs the service's calendar
handler, which renders each event's calendar text as a deployment's worker would. The big
community's feed, one VCALENDAR of every event with its VTIMEZONEs, is PUT to Radicale as a
calendar collection, which stores it as one item per event (each with its VTIMEZONE), as a
CalDAV client syncing them one by one would leave it.

Each of ROUNDS rounds measures, in turn, with every request on a new connection to 127.0.0.1:
  Hearth cold GET      COLD_PER_ROUND times: PATCH one event's description over HTTP (the
                       organizer's API token), run the events.calendar handler for it (a flush
                       in this process: the server wrote the message to the outbox in the
                       shared database, this process relays it to its in-memory bus and renders
                       the event there), then time the first GET of the feed, which rebuilds it
                       from the stored texts. Checked: the feed was stale, the GET is 200 with a
                       new ETag and carries the new description.
  Hearth warm GET      WARM_PER_ROUND GETs with nothing changed (the kept bytes); same ETag.
  Hearth 304           as many GETs with If-None-Match of that ETag; each must be 304.
  Hearth warm, small   the small community's feed, WARM_PER_ROUND GETs.
  Radicale after PUT   PUT the changed event (its .ics download from Hearth) to its item, then
                       one GET of the collection (Radicale has nothing like a kept feed; this is
                       its cold case).
  Radicale GET         RADICALE_PER_ROUND GETs of the collection (the whole calendar).
  Radicale, small      the same for a collection of the small community's events.
  Radicale 304?        a GET with If-None-Match of the ETag it just sent: its status is printed.

How to read it: a figure is the median of the rounds' medians, with the min and max of the
rounds' medians (the machine is shared and noisy: trust medians), in milliseconds from opening
the connection to the last byte of the answer. The ratios divide Radicale's collection GET by
Hearth's cold and warm GET, per round, and take the median; the issue aims for cold >= 20x and
warm >= 100x. The aims are reported, not enforced. "growth" is the warm GET at EVENTS over the
warm GET at SMALL: serving kept bytes should grow with the bytes (the feed sizes are printed),
not faster. "render" is the time of the flush that renders the changed event in this process,
which a deployment's worker does between the change and the next GET.

Run: .venv/bin/python bench/feed_serving.py [--events N] [--small N] [--rounds N], or
`make bench`. PostgreSQL comes from TEST_POSTGRES_URL as in the tests; its database is made for
the run and dropped at the end, also on failure, as is Radicale's storage folder.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from _measure import (
    HOST,
    Process,
    children,
    free_port,
    median_header,
    median_row,
    postgres_server_url,
    postgres_version,
    started,
)

from hearth.stack import Stack
from services.events import operations
from services.events.calendar import discreet
from services.events.schemas import EventInput
from services.events.store import Store
from shared.config import Config
from shared.testing import fresh_databases

EVENTS = 5000  # in the big community
SMALL = 500  # in the small one, for the growth of the warm GET
ROUNDS = 5
COLD_PER_ROUND = 3
WARM_PER_ROUND = 20  # also the conditional GETs and the small feed's
RADICALE_PER_ROUND = 3
WORKERS = 2
COLD_AIM, WARM_AIM = 20, 100  # Radicale's GET over Hearth's, at least
BATCH = 250  # events scheduled per unit of work
SEED = 4

COMMUNITY_ZONE = "America/Chicago"
OTHER_ZONES = ("America/New_York", "America/Los_Angeles", "Europe/London")
WORDS = (
    "peer", "support", "supervision", "case", "consultation", "ethics", "boundaries", "trauma",
    "informed", "care", "self", "burnout", "prevention", "group", "practice", "referrals",
    "insurance", "billing", "telehealth", "documentation", "somatic", "attachment", "family",
    "systems", "couples", "adolescents", "grief", "loss", "mindfulness", "evidence", "based",
    "outcomes", "research", "lunch", "coffee", "walk", "park", "library", "room", "bring",
    "questions", "newcomers", "welcome", "parking", "accessible", "elevator", "snacks", "provided",
)  # fmt: skip


# --- Databases, and the events made in this process -----------------------------------------


def event_bodies(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """`count` events as the API takes them: mostly one-offs in the community's zone, about one
    in eight a weekly series, some in other zones, a few private."""
    today = date.today()
    bodies = []
    for n in range(count):
        kind = rng.choices(
            ("peer_lunch", "social", "training", "consult_group", "celebration"),
            weights=(30, 25, 20, 15, 10),
        )[0]
        day = today + timedelta(days=rng.randint(-60, 365))
        start = datetime(day.year, day.month, day.day, rng.randint(9, 19), rng.choice((0, 30)))
        end = start + timedelta(minutes=rng.choice((60, 90, 120, 180)))
        words: list[str] = []
        length = rng.randint(200, 500)
        while sum(len(word) + 1 for word in words) < length:
            words.append(rng.choice(WORDS))
        body: dict[str, Any] = {
            "kind": kind,
            "title": f"{kind.replace('_', ' ').capitalize()} {n}: {' '.join(words[:3])}",
            "description": " ".join(words).capitalize() + ".",
            "starts_at": start.isoformat(timespec="minutes"),
            "ends_at": end.isoformat(timespec="minutes"),
            "capacity": rng.choice((None, 12, 20, 40, 60)),
            "visibility": "private" if rng.random() < 0.08 else "community",
        }
        if rng.random() < 0.3:
            body["timezone"] = rng.choice(OTHER_ZONES)
        if rng.random() < 0.12:
            body["rrule"] = f"FREQ=WEEKLY;COUNT={rng.choice((6, 8, 12, 26))}"
        if rng.random() < 0.6:
            body["location"] = f"{rng.randint(1, 999)} Main Street, Room {rng.randint(1, 40)}"
        if rng.random() < 0.3:
            body["online_url"] = f"https://meet.example.org/{secrets.token_hex(5)}"
        if kind == "training":
            body["ce_hours"] = rng.choice((1.0, 1.5, 2.0, 3.0))
            body["presenter"] = f"Presenter {rng.randint(1, 50)}"
        bodies.append(body)
    return bodies


@dataclass
class Community:
    slug: str
    id: str
    event_ids: list[str]
    # Events whose description is in the feed (not private, not consult groups).
    described: list[str]
    feed_path: str = ""


def populate(stack: Stack, token_owner: str, name: str, count: int) -> Community:
    """A private community of `count` events, scheduled through the service's use cases."""
    events = stack.services["events"]
    store = Store(events.engine, events.outbox)
    ctx = operations.Context(token_owner, str(uuid.uuid4()), stack.config.base_url)
    with store.begin() as uow:
        made = operations.create_community(
            uow,
            ctx,
            {"name": name, "timezone": COMMUNITY_ZONE, "visibility": "private",
             "description": f"{name}: peer support for therapists."},
        )  # fmt: skip
    schema = EventInput()
    bodies = event_bodies(count, random.Random(f"{SEED}-{name}"))
    ids, described = [], []
    for first in range(0, count, BATCH):
        with store.begin() as uow:
            community = uow.community_by_id(made.id)
            assert community is not None
            for body in bodies[first : first + BATCH]:
                event = operations.schedule_event(uow, ctx, community, schema.load(body))
                ids.append(event.id)
                if not discreet(event):
                    described.append(event.id)
    return Community(made.slug, made.id, ids, described)


def stored_count(stack: Stack, table: str, community_id: str) -> int:
    with stack.services["events"].engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE community_id = :id"),
                {"id": community_id},
            ).scalar_one()
        )


def feed_is_stale(stack: Stack, community_id: str) -> bool:
    events = stack.services["events"]
    with Store(events.engine, events.outbox).begin() as uow:
        row = uow.feed_state("community", community_id, "members")
    return row is not None and bool(row.stale)


# --- The servers -----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request on a connection of its own, timed from connecting to the last byte."""
    began = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        content = response.read()
        seconds = time.perf_counter() - began
        found = {key.lower(): value for key, value in response.getheaders()}
        return Answer(response.status, found, content, seconds)
    finally:
        conn.close()


def expect(answer: Answer, status: int, what: str) -> Answer:
    if answer.status != status:
        raise SystemExit(
            f"{what}: {answer.status}, not {status}: {answer.body[:500].decode(errors='replace')}"
        )
    return answer


RADICALE_CONFIG = """\
[server]
hosts = {host}:{port}
max_content_length = 1000000000
max_resource_size = 800000000

[auth]
type = none

[rights]
type = authenticated

[storage]
filesystem_folder = {folder}

[web]
type = none

[logging]
level = warning
"""


# Any name passes with auth "none"; a named user's first request creates its principal
# collection, /bench/, where the calendars go.
RADICALE_USER = {"Authorization": "Basic " + base64.b64encode(b"bench:").decode()}


def radicale_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    return request(port, method, path, body, {**RADICALE_USER, **(headers or {})})


@contextmanager
def radicale(folder: Path) -> Iterator[int]:
    """Radicale with its own storage under `folder`, anyone may read and write (auth none); its
    port."""
    port = free_port()
    config = folder / "config"
    config.write_text(RADICALE_CONFIG.format(host=HOST, port=port, folder=folder / "collections"))
    command = [sys.executable, "-m", "radicale", "--config", str(config)]
    with started(
        "radicale",
        command,
        dict(os.environ),
        lambda _: request(port, "OPTIONS", "/").status == 200,
    ):
        yield port


def radicale_calendar(port: int, folder: Path, path: str, feed: bytes, count: int) -> None:
    """A calendar collection at `path` holding the events of `feed` (one item each)."""
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    expect(radicale_request(port, "PUT", path, feed, headers), 201, "Radicale PUT of the calendar")
    stored = len(list((folder / "collections/collection-root" / path.strip("/")).glob("*.ics")))
    if stored != count:
        raise SystemExit(f"Radicale stored {stored} items, not the {count} events")


def unfolded(calendar: bytes) -> bytes:
    """iCalendar text with its long lines joined again (RFC 5545, 3.1)."""
    return calendar.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")


# --- The run ---------------------------------------------------------------------------------

KEYS = ("cold", "warm", "conditional", "warm_small", "radicale_put", "radicale", "radicale_small")


@dataclass(frozen=True)
class Plan:
    events: int = EVENTS
    small: int = SMALL
    rounds: int = ROUNDS


@dataclass
class Results:
    version: str = ""
    radicale_version: str = ""
    setup: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    # Per round, the median seconds of its requests.
    times: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key in KEYS})
    render: list[float] = field(default_factory=list)
    radicale_conditional: set[int] = field(default_factory=set)


def run(plan: Plan) -> Results:
    server_url = postgres_server_url()
    port = free_port()
    results = Results(radicale_version=version("radicale"))
    with (
        fresh_databases(server_url, "bench", ("events",)) as urls,
        tempfile.TemporaryDirectory(prefix="hearth-bench-") as temp,
    ):
        # The base URL is the server's, so the texts rendered here link to where it serves.
        config = Config(
            secret_key=secrets.token_urlsafe(32),
            database_urls=urls,
            base_url=f"http://{HOST}:{port}",
            demo=False,
        )
        stack = Stack(config, ["events"])
        try:
            stack.migrate()
            stack.declare()
            events = stack.services["events"]
            results.version = postgres_version(events.engine)
            with Store(events.engine, events.outbox).begin() as uow:
                organizer, token = operations.issue_api_token(
                    uow, "bench@example.org", "Bench Organizer"
                )
            began = time.perf_counter()
            big = populate(stack, organizer.id, "Bench Network", plan.events)
            small = populate(stack, organizer.id, "Bench Circle", plan.small)
            results.setup["schedule"] = time.perf_counter() - began
            began = time.perf_counter()
            stack.flush()
            results.setup["render"] = time.perf_counter() - began
            for community, count in ((big, plan.events), (small, plan.small)):
                rendered = stored_count(stack, "calendar_entries", community.id)
                if rendered != count:
                    raise SystemExit(f"{rendered} calendar texts rendered, not {count}")
            env = {
                **os.environ,
                "HEARTH_SECRET_KEY": config.secret_key,
                "HEARTH_RATE_LIMITS": "off",  # one machine stands in for many people
                "HEARTH_BASE_URL": config.base_url,
                "HEARTH_DATA": temp,
                # Serving needs a broker URL to start; the web app only writes the outbox,
                # which this process relays.
                "AMQP_URL": "memory://",
                "EVENTS_DATABASE_URL": urls["events"],
            }
            with hearth_server(env, port):
                measure(stack, port, token, big, small, Path(temp), plan, results)
            return results
        finally:
            stack.stop()


@contextmanager
def hearth_server(env: dict[str, str], port: int) -> Iterator[Process]:
    command = [sys.executable, "-m", "hearth.cli", "serve", "events", "--host", HOST,
               "--port", str(port), "--workers", str(WORKERS)]  # fmt: skip

    def ready(server: Process) -> bool:
        healthy = request(port, "GET", "/healthz").status == 200
        return healthy and len(children(server.pid)) == WORKERS

    with started("hearth serve events", command, env, ready) as server:
        yield server


def measure(
    stack: Stack,
    port: int,
    token: str,
    big: Community,
    small: Community,
    folder: Path,
    plan: Plan,
    results: Results,
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    for community in (big, small):
        about = expect(request(port, "GET", f"/api/communities/{community.slug}", headers=auth),
                       200, "GET the community")  # fmt: skip
        feed_url = urlsplit(json.loads(about.body)["feed_url"])
        community.feed_path = f"{feed_url.path}?{feed_url.query}"
    # Warm up both workers (imports, pooled connections) and build both feeds once.
    for _ in range(4 * WORKERS):
        for community in (big, small):
            expect(request(port, "GET", community.feed_path), 200, "GET the feed")
    feed = expect(request(port, "GET", big.feed_path), 200, "GET the feed").body
    small_feed = expect(request(port, "GET", small.feed_path), 200, "GET the feed").body
    results.sizes = {"big": len(feed), "small": len(small_feed)}
    for body, community in ((feed, big), (small_feed, small)):
        if body.count(b"BEGIN:VEVENT") != len(community.event_ids):
            raise SystemExit("the feed does not hold every event")

    with radicale(folder) as radicale_port:
        collection, small_collection = "/bench/network/", "/bench/circle/"
        began = time.perf_counter()
        radicale_calendar(radicale_port, folder, collection, feed, len(big.event_ids))
        radicale_calendar(radicale_port, folder, small_collection, small_feed,
                          len(small.event_ids))  # fmt: skip
        results.setup["radicale"] = time.perf_counter() - began
        for _ in range(2):
            expect(radicale_request(radicale_port, "GET", collection), 200, "Radicale GET")

        # Events of the big community whose description the feed shows, changed in turn.
        targets = big.described[:50]
        changes = 0
        etag = ""
        for r in range(plan.rounds):
            samples: dict[str, list[float]] = {key: [] for key in KEYS}
            for _ in range(COLD_PER_ROUND):
                changes += 1
                target = targets[changes % len(targets)]
                marker = f"Changed for the benchmark: change {changes}."
                expect(
                    request(port, "PATCH", f"/api/events/{target}",
                            f'{{"description": "{marker}"}}'.encode(),
                            {**auth, "Content-Type": "application/json"}),
                    200, "PATCH the event",
                )  # fmt: skip
                began = time.perf_counter()
                moved = stack.flush()
                results.render.append(time.perf_counter() - began)
                if moved < 2 or not feed_is_stale(stack, big.id):
                    raise SystemExit(
                        f"the change did not reach the feed (flush moved {moved} messages)"
                    )
                cold = expect(request(port, "GET", big.feed_path), 200, "cold GET")
                if cold.headers["etag"] == etag or marker.encode() not in unfolded(cold.body):
                    raise SystemExit("the cold GET did not serve the changed event")
                etag = cold.headers["etag"]
                samples["cold"].append(cold.seconds)
            for _ in range(WARM_PER_ROUND):
                warm = expect(request(port, "GET", big.feed_path), 200, "warm GET")
                if warm.headers["etag"] != etag:
                    raise SystemExit("the warm GET served other bytes")
                samples["warm"].append(warm.seconds)
            for _ in range(WARM_PER_ROUND):
                samples["conditional"].append(
                    expect(
                        request(port, "GET", big.feed_path, headers={"If-None-Match": etag}),
                        304,
                        "conditional GET",
                    ).seconds
                )
            for _ in range(WARM_PER_ROUND):
                samples["warm_small"].append(
                    expect(request(port, "GET", small.feed_path), 200, "warm GET").seconds
                )
            # Radicale: the same change, as a client's PUT of the event's item.
            download = expect(request(port, "GET", f"/events/{target}/calendar.ics",
                                      headers=auth), 200, "GET the event's .ics")  # fmt: skip
            item = f"{collection}{target}@hearth.ics"
            expect(radicale_request(radicale_port, "PUT", item, download.body,
                                    {"Content-Type": "text/calendar; charset=utf-8"}),
                   204, "Radicale PUT of the changed event")  # fmt: skip
            samples["radicale_put"].append(
                expect(
                    radicale_request(radicale_port, "GET", collection), 200, "Radicale GET"
                ).seconds
            )
            for _ in range(RADICALE_PER_ROUND):
                got = expect(
                    radicale_request(radicale_port, "GET", collection), 200, "Radicale GET"
                )
                if marker.encode() not in unfolded(got.body):
                    raise SystemExit("Radicale did not serve the changed event")
                samples["radicale"].append(got.seconds)
            for _ in range(RADICALE_PER_ROUND):
                samples["radicale_small"].append(
                    expect(
                        radicale_request(radicale_port, "GET", small_collection),
                        200,
                        "Radicale GET",
                    ).seconds
                )
            again = radicale_request(radicale_port, "GET", collection,
                            headers={"If-None-Match": got.headers.get("etag", "")})  # fmt: skip
            results.radicale_conditional.add(again.status)
            for key, values in samples.items():
                results.times[key].append(statistics.median(values))
            print(f"round {r + 1} of {plan.rounds} done", file=sys.stderr)


# --- The report ------------------------------------------------------------------------------


def report(plan: Plan, results: Results) -> bool:
    """Print the tables; True if both aims are met."""
    times = results.times
    n, small = f"{plan.events:,}", f"{plan.small:,}"
    labels = {
        "cold": f"Hearth cold GET, {n} (after a change)",
        "warm": f"Hearth warm GET, {n}",
        "conditional": f"Hearth conditional GET, {n} (304)",
        "warm_small": f"Hearth warm GET, {small}",
        "radicale_put": f"Radicale GET, {n}, after a PUT",
        "radicale": f"Radicale GET, {n}",
        "radicale_small": f"Radicale GET, {small}",
    }
    print(
        f"\nCalendar feed serving: PostgreSQL {results.version}, gunicorn {WORKERS} workers, "
        f"Radicale {results.radicale_version}, {plan.rounds} rounds, {os.cpu_count()} cores"
    )
    print(
        f"setup: scheduling {plan.events + plan.small:,} events {results.setup['schedule']:.1f} s "
        f"(in process), rendering them {results.setup['render']:.1f} s (flush), "
        f"Radicale PUTs {results.setup['radicale']:.1f} s"
    )
    print(
        f"feed sizes: {results.sizes['big']:,} bytes ({n} events), "
        f"{results.sizes['small']:,} bytes ({small} events)"
    )
    print(median_header("ms", 44, 9))
    for key, label in labels.items():
        print(median_row(label, [1000 * value for value in times[key]], 44, "9.1f"))
    render = [1000 * value for value in results.render]
    print(median_row("render of the changed event (flush)", render, 44, "9.1f"))

    ratios = {}
    for key in ("cold", "warm"):
        per_round = [
            radicale / hearth
            for radicale, hearth in zip(times["radicale"], times[key], strict=True)
        ]
        ratios[key] = statistics.median(per_round)
        print(median_row(f"ratio, Radicale GET / Hearth {key} GET", per_round, 44, "9.1f"))
    growth = [big / little for big, little in zip(times["warm"], times["warm_small"], strict=True)]
    print(median_row(f"growth, warm GET {n} / {small}", growth, 44, "9.1f"))
    print(f"{'(feed bytes, ' + n + ' / ' + small + ')':44}"
          f"{results.sizes['big'] / results.sizes['small']:9.1f}")  # fmt: skip
    statuses = ", ".join(str(status) for status in sorted(results.radicale_conditional))
    honoured = "honours it" if results.radicale_conditional == {304} else "does not honour it"
    print(f"\nRadicale's answer to If-None-Match with its own ETag: {statuses} ({honoured})")

    met = {"cold": ratios["cold"] >= COLD_AIM, "warm": ratios["warm"] >= WARM_AIM}
    for key, aim in (("cold", COLD_AIM), ("warm", WARM_AIM)):
        print(
            f"aim, {key} GET >= {aim}x faster than Radicale's: "
            f"{'met' if met[key] else 'NOT met'} at {ratios[key]:.1f}x"
        )
    return all(met.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=EVENTS,
                        help="events in the big community (default %(default)s)")  # fmt: skip
    parser.add_argument("--small", type=int, default=SMALL,
                        help="events in the small community (default %(default)s)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    plan = Plan(args.events, args.small, args.rounds)
    if min(plan.events, plan.small, plan.rounds) < 1:
        parser.error("--events, --small and --rounds must be at least 1")
    began = time.monotonic()
    report(plan, run(plan))
    print(f"(whole run {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
