"""Mail about an answer, over real SMTP: a "yes" brings one confirmation with a calendar
invitation (iMIP REQUEST) that icalendar and ical.js both read, a "yes" to a full event its place
in line, a seat that opens up a second invitation; the honoree of a surprise hears nothing, and a
private event's invitation says only what, when and where to look."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa

from services.rsvps import store as rsvps_store
from shared.calendar_readers import read_with_icalendar, read_with_icaljs
from shared.config import Config
from shared.testing import COMMUNITY_ZONE, thursday

from .smtp_server import Handler, Received

# A Thursday noon in the community's zone, two to three weeks from now (answers are taken only
# for what has not begun), and the one after it.
ZONE = COMMUNITY_ZONE
FIRST = thursday()
SECOND = FIRST + timedelta(weeks=1)
LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "description": "Bring a case you are stuck on.",
    "starts_at": f"{FIRST:%Y-%m-%dT%H:%M}",
    "ends_at": f"{FIRST + timedelta(hours=1):%Y-%m-%dT%H:%M}",
    "location": "Juniper Café",
    "capacity": 6,
}
WINDOW = (datetime.now(UTC), datetime.now(UTC) + timedelta(weeks=8))


@pytest.fixture
def config(config: Config, smtp: tuple[Handler, str]) -> Config:
    return config.with_changes(smtp_url=smtp[1])


def utc_text(moment: datetime) -> str:
    """An instant as ical.js gives it: "2026-12-03T17:00:00Z"."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def answer(client, event, who: str, **fields: Any) -> dict[str, Any]:
    body = {"name": who.title(), "email": f"{who}@example.org", "response": "yes", **fields}
    response = client.post(f"/rsvps/api/events/{event['id']}/rsvps", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json  # type: ignore[no-any-return]


def to(inbox: Handler, who: str) -> list[EmailMessage]:
    return [
        r.message
        for r in inbox.received
        if r.rcpt_tos == [f"{who}@example.org"] and not is_announcement(r)
    ]


def calendar_part(message: EmailMessage) -> EmailMessage:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert isinstance(part, EmailMessage)
    return part


def settle(inbox: Handler, count: int) -> list[Received]:
    """The mail about answers that arrived, once `count` did and a moment passed for any extra
    one (the announcement of each new event to its organizer is left out)."""
    inbox.wait_for(count, where=lambda received: not is_announcement(received))
    time.sleep(0.2)
    return [received for received in inbox.received if not is_announcement(received)]


def is_announcement(received: Received) -> bool:
    return str(received.message["Subject"]).startswith("New: ")


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_yes_brings_one_confirmation_with_an_invitation(client, stack, schedule, inbox):
    lunch = schedule()
    ana = answer(client, lunch, "ana")
    stack.flush()

    [received] = settle(inbox, 1)
    assert received.rcpt_tos == ["ana@example.org"]
    message = received.message
    assert message["Subject"] == "You're going: Peer lunch"
    assert message["To"] == "Ana <ana@example.org>"
    assert message["In-Reply-To"] == message["References"] == f"<event-{lunch['id']}@localhost>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "List-Unsubscribe" not in message, "a direct confirmation"
    # multipart/mixed → multipart/alternative (text, HTML, calendar)
    assert message.get_content_type() == "multipart/mixed"
    [alternative] = message.iter_parts()
    assert isinstance(alternative, EmailMessage)
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    text = message.get_body(("plain",)).get_content()
    assert ana["manage_url"] in text and "Juniper Café" in text
    assert f"Thursday {FIRST.day} {FIRST:%B %Y}, 12:00 to 13:00 (America/New_York)" in text

    part = calendar_part(message)
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    assert b"\r\nMETHOD:REQUEST\r\n" in part.get_payload(decode=True), "RFC 5545 lines end in CRLF"
    ics = part.get_content()
    calendar = read_with_icalendar(ics)
    assert calendar["METHOD"] == "REQUEST"
    [vevent] = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == f"{lunch['id']}@hearth"
    assert int(vevent["SEQUENCE"]) == lunch["sequence"]
    assert str(vevent["ORGANIZER"]) == "mailto:no-reply@localhost"
    attendees = vevent["ATTENDEE"]
    assert not isinstance(attendees, list), "only the recipient may be listed"
    assert str(attendees) == "mailto:ana@example.org"
    assert attendees.params["PARTSTAT"] == "ACCEPTED"
    assert str(vevent["LOCATION"]) == "Juniper Café"
    assert vevent.decoded("DTSTART") == FIRST
    assert vevent.decoded("DTSTART").utcoffset() == FIRST.utcoffset()

    reading = read_with_icaljs(ics, *WINDOW)
    [event] = reading["events"]
    assert event["uid"] == f"{lunch['id']}@hearth"
    assert [o["start"] for o in event["occurrences"]] == [utc_text(FIRST)]

    # The broker redelivers the rsvps message, and the rsvps service publishes it again under a
    # new id: Ana's confirmation is still one mail.
    with stack.services["rsvps"].engine.connect() as conn:
        [row] = conn.execute(
            sa.select(rsvps_store.outbox).where(rsvps_store.outbox.c.type == "rsvps.rsvp_confirmed")
        ).all()
    again = json.loads(row.body) | {"id": str(uuid.uuid4())}
    publisher = stack.bus.publisher()
    try:
        for body, message_id in ((row.body, row.message_id), (json.dumps(again), again["id"])):
            publisher.publish(
                body, type=row.type, message_id=message_id, correlation_id=str(uuid.uuid4())
            )
    finally:
        publisher.close()
    stack.flush()
    assert len(settle(inbox, 2)) == 1


def test_the_waitlist_and_the_seat_that_opens_up_are_told_in_order(client, stack, schedule, inbox):
    lunch = schedule(capacity=1)
    ana = answer(client, lunch, "ana")
    answer(client, lunch, "ben")
    stack.flush()
    cancelled = client.post(
        f"/rsvps/api/rsvps/{ana['id']}/cancel",
        json={"token": ana["manage_url"].rsplit("/", 1)[1]},
    )
    assert cancelled.status_code == 200, cancelled.text
    stack.flush()

    assert len(settle(inbox, 3)) == 3
    assert [m["Subject"] for m in to(inbox, "ana")] == ["You're going: Peer lunch"]
    waiting, promoted = to(inbox, "ben")
    assert waiting["Subject"] == "You're number 1 on the waitlist for Peer lunch"
    assert not [p for p in waiting.walk() if p.get_content_type() == "text/calendar"]
    assert "Change my answer" in waiting.get_body(("html",)).get_content()
    assert promoted["Subject"] == "A seat opened up: you're in for Peer lunch"
    assert waiting["In-Reply-To"] == promoted["In-Reply-To"] == f"<event-{lunch['id']}@localhost>"
    [vevent] = read_with_icalendar(calendar_part(promoted).get_content()).walk("VEVENT")
    assert str(vevent["ATTENDEE"]) == "mailto:ben@example.org"


def test_the_honoree_of_a_surprise_hears_nothing_of_it(client, stack, schedule, inbox):
    party = schedule(
        kind="celebration",
        title="Priya's licensure",
        honoree_email="Priya@Example.org",
        surprise=True,
        capacity=None,
    )
    answer(client, party, "priya")
    answer(client, party, "sam")
    stack.flush()

    received = settle(inbox, 2)
    assert [r.rcpt_tos for r in received] == [["sam@example.org"]]


def test_a_private_date_of_a_series_is_invited_to_with_its_title_time_and_link_only(
    client, stack, schedule, inbox
):
    group = schedule(
        kind="consult_group",
        title="Consult group",
        description="Case: a patient who …",
        location="Room 4",
        visibility="private",
        rrule="FREQ=WEEKLY;BYDAY=TH",
    )
    answer(client, group, "ana", occurrence=f"{SECOND:%Y-%m-%dT%H:%M}")
    stack.flush()

    [received] = settle(inbox, 1)
    message = received.message
    ics = calendar_part(message).get_content()
    [vevent] = read_with_icalendar(ics).walk("VEVENT")
    # One date, under the UID the personal feed gives it, not the series.
    assert str(vevent["UID"]) == f"{group['id']}-{SECOND:%Y%m%dT%H%M}@hearth"
    assert "RRULE" not in vevent and "RECURRENCE-ID" not in vevent
    assert "LOCATION" not in vevent
    assert "Room 4" not in ics and "a patient" not in ics
    assert str(vevent["CLASS"]) == "PRIVATE"
    assert str(vevent["SUMMARY"]) == "Consult group"
    assert f"/events/{group['id']}" in str(vevent["DESCRIPTION"])
    text = message.get_body(("plain",)).get_content()
    assert "Room 4" not in text and "a patient" not in text
    [event] = read_with_icaljs(ics, *WINDOW)["events"]
    assert [o["start"] for o in event["occurrences"]] == [utc_text(SECOND)]


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_an_answer_for_all_upcoming_dates_is_confirmed_in_one_mail(client, stack, schedule, inbox):
    """Four weekly dates, one seat each, and Bo has the second: Ana's "all upcoming" yes is one
    mail with one invitation for the three dates she is going to, and her place in line for the
    fourth; not a mail a date."""
    first = (datetime.now(UTC) + timedelta(days=8)).date()
    group = schedule(
        kind="consult_group",
        title="Consult group",
        starts_at=f"{first}T12:00",
        ends_at=f"{first}T13:00",
        rrule="FREQ=WEEKLY;COUNT=4",
        capacity=1,
    )
    dates = [f"{first + timedelta(weeks=week)}T12:00" for week in range(4)]
    answer(client, group, "bo", occurrence=dates[1])
    stack.flush()
    settle(inbox, 1)
    inbox.received.clear()

    answers = answer(client, group, "ana", all_upcoming=True)["rsvps"]
    stack.flush()

    [received] = settle(inbox, 1)
    message = received.message
    assert received.rcpt_tos == ["ana@example.org"]
    assert message["Subject"] == "You're going: Consult group, 3 dates (waitlisted for 1)"
    assert "List-Unsubscribe" not in message, "a direct confirmation"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    going, waiting = text.split("full, so you're on the waitlist")
    for state in answers:
        assert state["manage_url"] in text and state["manage_url"] in html
    assert sum(state["status"] == "confirmed" for state in answers) == 3
    assert going.count("Change this date:") == 3
    assert "number 1 in line" in waiting and waiting.count("Change this date:") == 1

    ics = calendar_part(message).get_content()
    calendar = read_with_icalendar(ics)
    assert calendar["METHOD"] == "REQUEST"
    uids = [str(vevent["UID"]) for vevent in calendar.walk("VEVENT")]
    held = [dates[0], dates[2], dates[3]]
    assert uids == [
        f"{group['id']}-{datetime.fromisoformat(date):%Y%m%dT%H%M}@hearth" for date in held
    ]
    for vevent in calendar.walk("VEVENT"):
        assert str(vevent["ATTENDEE"]) == "mailto:ana@example.org"
    reading = read_with_icaljs(ics, datetime.now(UTC), datetime.now(UTC) + timedelta(days=60))
    assert sorted(event["uid"] for event in reading["events"]) == sorted(uids)

    # Saying no to all of them tells nothing more: a "no" needs no confirmation.
    answer(client, group, "ana", response="no", all_upcoming=True)
    stack.flush()
    time.sleep(0.3)
    assert len(inbox.received) == 1
