"""Log lines: one JSON object per line, with the ids of the request or message being handled, so
one RSVP can be followed by its correlation id through the three services."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared import logs
from shared.bus import Bus, Subscription, Topology, drain
from shared.envelope import Envelope
from shared.testing import local, thursday

LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": local(thursday()),
    "ends_at": local(thursday() + timedelta(hours=1)),
    "capacity": 3,
}


class Lines:
    """What a handler like the processes' own wrote, one parsed JSON object per line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def of(self, logger: str) -> list[dict]:
        return [line for line in self.all() if line["logger"] == logger]


@pytest.fixture
def lines():
    """Every record from INFO up, written as `hearth worker rsvps` writes them, into a string."""
    stream = io.StringIO()
    handler = logs.handler("json", role="worker", service="rsvps", stream=stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield Lines(stream)
    root.removeHandler(handler)
    root.setLevel(level)


log = logging.getLogger("tests.logs")


def test_a_line_is_one_json_object_with_the_time_level_logger_and_process(lines):
    log.info("seated %s of %d", "ana", 3)
    [line] = lines.all()
    assert line["message"] == "seated ana of 3"
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.logs"
    assert line["service"] == "rsvps"
    assert line["process"] == "worker"
    assert line["pid"] == os.getpid()
    assert line["time"].endswith("Z")
    written = datetime.fromisoformat(line["time"])
    assert written.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - written) < timedelta(seconds=5)
    # Nothing is in the context outside a request or a message.
    assert "correlation_id" not in line
    assert "exception" not in line


def test_an_exception_is_a_field_of_one_line(lines):
    try:
        raise ValueError("no seat left\nfor ana")
    except ValueError:
        log.exception("could not seat %s", "ana")
    text = lines.stream.getvalue()
    assert text.count("\n") == 1
    [line] = lines.all()
    assert line["level"] == "ERROR"
    assert line["message"] == "could not seat ana"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: no seat left\nfor ana")


def test_ids_are_on_the_lines_logged_inside_their_context_only(lines):
    correlation_id = str(uuid.uuid4())
    log.info("before")
    with logs.context(correlation_id=correlation_id, message_id="m-1"):
        log.info("inside")
        with logs.context(queue="rsvps.events"):
            log.info("deeper")
        log.info("back")
    log.info("after")
    before, inside, deeper, back, after = lines.all()
    assert "correlation_id" not in before
    assert inside["correlation_id"] == correlation_id
    assert inside["message_id"] == "m-1"
    assert "queue" not in inside
    assert deeper["queue"] == "rsvps.events"
    assert deeper["correlation_id"] == correlation_id
    assert "queue" not in back
    assert back["correlation_id"] == correlation_id
    assert "correlation_id" not in after
    assert "message_id" not in after


def test_the_text_format_shows_the_correlation_id():
    stream = io.StringIO()
    handler = logs.handler("text", stream=stream)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with logs.context(correlation_id="c-42"):
            log.warning("late message")
        log.warning("no request")
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith(" WARNING tests.logs [c-42]: late message")
    assert outside.endswith(" WARNING tests.logs: no request")


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="json, text"):
        logs.handler("xml")


def test_each_request_has_one_access_line_with_the_correlation_id_it_came_with(
    client, organizer, lines
):
    correlation_id = str(uuid.uuid4())
    created = client.post(
        "/api/communities",
        json={"name": "Harbor Peers", "timezone": "America/New_York"},
        headers={**organizer, "X-Correlation-ID": correlation_id},
    )
    assert created.status_code == 201, created.text
    assert created.headers["X-Correlation-ID"] == correlation_id
    missing = client.get("/rsvps/api/events/00000000-0000-0000-0000-000000000000/rsvps")
    assert client.get("/healthz").status_code == 200  # probes are not logged at INFO
    log.info("between requests")

    first, second = lines.of("hearth.access")
    assert first["message"] == "POST /api/communities 201"
    assert first["correlation_id"] == correlation_id
    assert first["service"] == "events"
    assert (first["method"], first["path"], first["status"]) == ("POST", "/api/communities", 201)
    assert first["duration_ms"] >= 0
    uuid.UUID(first["request_id"])
    # A request without one is given its own, and says so.
    assert second["service"] == "rsvps"
    assert second["status"] == missing.status_code
    assert second["correlation_id"] == missing.headers["X-Correlation-ID"] != correlation_id
    assert second["request_id"] != first["request_id"]
    # Nothing of a request stays in the context after it.
    [between] = [line for line in lines.all() if line["message"] == "between requests"]
    assert "correlation_id" not in between
    assert "request_id" not in between


def test_a_handlers_lines_carry_the_messages_ids(lines):
    bus = Bus("memory://", Topology(f"hearth-test-{uuid.uuid4().hex[:8]}", "t."))

    def handle(envelope):
        log.info("seating the waitlist of %s", envelope.payload["event"])

    subscription = Subscription(f"t.{uuid.uuid4().hex[:6]}.events", ("events.#",), handle)
    bus.declare([subscription])
    envelope = Envelope(type="events.event_updated", payload={"event": "e-1"}, producer="events")
    publisher = bus.publisher()
    publisher.publish(
        envelope.to_json(),
        type=envelope.type,
        message_id=envelope.id,
        correlation_id=envelope.correlation_id,
    )
    drain(bus, subscription, publisher)
    publisher.close()
    log.info("after the message")

    mine, handled, after = lines.all()
    for line in (mine, handled):
        assert line["correlation_id"] == envelope.correlation_id
        assert line["message_id"] == envelope.id
        assert line["message_type"] == "events.event_updated"
        assert line["queue"] == subscription.queue
    assert mine["message"] == "seating the waitlist of e-1"
    assert handled["logger"] == "shared.bus"
    assert handled["message"].startswith("handled events.event_updated in ")
    assert handled["duration_ms"] >= 0
    assert "message_id" not in after


def test_one_rsvp_is_followed_through_the_three_services(
    client, organizer, community, stack, lines
):
    """The answer's correlation id is on its request's line and on the lines of every service
    that handled the messages it caused."""
    event = client.post(
        f"/api/communities/{community['slug']}/events", json=LUNCH, headers=organizer
    )
    assert event.status_code == 201, event.text
    stack.flush()
    correlation_id = str(uuid.uuid4())
    answered = client.post(
        f"/rsvps/api/events/{event.json['id']}/rsvps",
        json={"name": "Ana", "email": "ana@example.org", "response": "yes"},
        headers={"X-Correlation-ID": correlation_id},
    )
    assert answered.status_code == 201, answered.text
    stack.flush()

    trail = [line for line in lines.all() if line.get("correlation_id") == correlation_id]
    [request] = [line for line in trail if line["logger"] == "hearth.access"]
    assert (request["service"], request["method"], request["status"]) == ("rsvps", "POST", 201)
    handled = {
        (line["queue"].removeprefix(stack.config.queue_prefix), line["message_type"])
        for line in trail
        if line["logger"] == "shared.bus"
    }
    assert handled == {
        ("events.rsvps", "rsvps.rsvp_confirmed"),
        ("notifications.events", "rsvps.rsvp_confirmed"),
    }
    [message_id] = {line["message_id"] for line in trail if "message_id" in line}
    uuid.UUID(message_id)

    # The answer's manage link is a secret: its line names the route, not the token.
    manage = answered.json["manage_url"].removeprefix(stack.config.base_url)
    token = manage.rsplit("/", 1)[1]
    assert client.get(manage).status_code == 200
    last = lines.of("hearth.access")[-1]
    assert last["path"] == "/rsvps/manage/<token>"
    assert token not in lines.stream.getvalue()


def test_the_commands_write_json_unless_told_text(tmp_path):
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("HEARTH_")},
        "HEARTH_DATA": str(tmp_path / "var"),
    }
    env.pop("AMQP_URL", None)
    migrate = [sys.executable, "-m", "hearth.cli", "migrate"]
    done = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in done.stderr.splitlines()]
    assert written, "hearth migrate logged nothing"
    assert {line["process"] for line in written} == {"migrate"}
    assert done.stdout.startswith("migrated: ")

    as_text = {**env, "HEARTH_DATA": str(tmp_path / "text"), "HEARTH_LOG_FORMAT": "text"}
    text = subprocess.run(migrate, env=as_text, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert text.stderr and not text.stderr.lstrip().startswith("{")

    wrong = subprocess.run(
        migrate, env={**env, "HEARTH_LOG_FORMAT": "xml"}, capture_output=True, text=True
    )
    assert wrong.returncode == 2
    assert "HEARTH_LOG_FORMAT must be json or text, not 'xml'" in wrong.stderr
