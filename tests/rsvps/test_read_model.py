"""The rsvps service learns events only from the events service's messages, and keeps the newest."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from hearth.stack import Stack
from services.events.store import outbox as events_outbox
from services.rsvps.model import Event
from services.rsvps.store import Store, inbox
from shared.testing import thursday

pytestmark = pytest.mark.parametrize(
    "database",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
    indirect=True,
)

LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": "2026-12-03T12:00",
    "ends_at": "2026-12-03T13:00",
    "capacity": 6,
}


def schedule(client: Any, organizer: dict[str, str], community: dict[str, Any], **fields: Any):
    response = client.post(
        f"/api/communities/{community['slug']}/events", json={**LUNCH, **fields}, headers=organizer
    )
    assert response.status_code == 201, response.text
    return response.json


def known_event(stack: Stack, event_id: str) -> Event | None:
    rsvps = stack.services["rsvps"]
    with Store(rsvps.engine, rsvps.outbox).begin() as uow:
        return uow.event(event_id)


def sent_by_events(stack: Stack, type: str | None = None) -> list[Any]:
    """The events service's outbox rows, oldest first (optionally of one message type)."""
    query = sa.select(events_outbox).order_by(events_outbox.c.id)
    if type is not None:
        query = query.where(events_outbox.c.type == type)
    with stack.services["events"].engine.connect() as conn:
        return conn.execute(query).all()


def publish(stack: Stack, body: str, *, message_id: str, type: str) -> None:
    """Put a message on the bus the way the events service's relay does."""
    publisher = stack.bus.publisher()
    try:
        publisher.publish(body, type=type, message_id=message_id, correlation_id=str(uuid.uuid4()))
    finally:
        publisher.close()


def test_a_scheduled_event_is_learned_from_its_message(client, organizer, community, stack):
    event = schedule(client, organizer, community, rsvp_deadline="2026-12-02T18:00")
    assert known_event(stack, event["id"]) is None, "known before any message was delivered"

    stack.flush()

    known = known_event(stack, event["id"])
    assert known is not None
    assert known.community_id == community["id"]
    assert (known.kind, known.title, known.capacity) == ("peer_lunch", "Peer lunch", 6)
    assert known.guest_limit == 1, "a peer lunch's default, as the events service applies it"
    assert (known.status, known.visibility, known.sequence) == ("scheduled", "community", 0)
    assert known.timezone == "America/New_York"
    assert known.local_start == datetime(2026, 12, 3, 12, 0)
    assert known.local_end == datetime(2026, 12, 3, 13, 0)
    assert known.starts_at == datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
    assert known.ends_at == datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    assert known.rsvp_deadline == datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    assert known.rrule is None
    assert known.cancelled_occurrences == frozenset()
    assert not known.cancelled


def test_changes_reach_the_read_model(client, organizer, community, stack):
    event = schedule(client, organizer, community)
    stack.flush()

    # Into summer time: the same wall-clock hour is a different UTC hour.
    response = client.patch(
        f"/api/events/{event['id']}",
        json={"capacity": 10, "starts_at": "2027-07-01T12:30", "ends_at": "2027-07-01T14:00"},
        headers=organizer,
    )
    assert response.status_code == 200, response.text
    stack.flush()

    known = known_event(stack, event["id"])
    assert known is not None
    assert (known.capacity, known.sequence) == (10, 1)
    assert known.local_start == datetime(2027, 7, 1, 12, 30)
    assert known.starts_at == datetime(2027, 7, 1, 16, 30, tzinfo=UTC)
    assert known.ends_at == datetime(2027, 7, 1, 18, 0, tzinfo=UTC)

    response = client.patch(
        f"/api/events/{event['id']}", json={"capacity": None}, headers=organizer
    )
    assert response.status_code == 200, response.text
    stack.flush()
    known = known_event(stack, event["id"])
    assert known is not None
    assert (known.capacity, known.sequence) == (None, 2), "no limit any more"


def test_cancelled_occurrences_of_a_series(client, organizer, community, stack):
    series = schedule(client, organizer, community, rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=6")
    for occurrence in ("2026-12-10T12:00", "2026-12-24T12:00"):
        response = client.post(
            f"/api/events/{series['id']}/cancel", json={"occurrence": occurrence}, headers=organizer
        )
        assert response.status_code == 200, response.text
    stack.flush()

    known = known_event(stack, series["id"])
    assert known is not None
    assert known.rrule == "FREQ=WEEKLY;BYDAY=TH;COUNT=6"
    assert known.cancelled_occurrences == {datetime(2026, 12, 10, 12), datetime(2026, 12, 24, 12)}
    assert (known.status, known.sequence) == ("scheduled", 2)
    assert known.occurrence_cancelled(datetime(2026, 12, 10, 12))
    assert not known.occurrence_cancelled(datetime(2026, 12, 17, 12))


def test_a_cancelled_event_is_known_as_cancelled(client, organizer, community, stack):
    series = schedule(client, organizer, community, rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=6")
    client.post(
        f"/api/events/{series['id']}/cancel", json={"occurrence": "2026-12-10T12:00"},
        headers=organizer,
    )  # fmt: skip
    response = client.post(f"/api/events/{series['id']}/cancel", json={}, headers=organizer)
    assert response.status_code == 200, response.text
    stack.flush()

    known = known_event(stack, series["id"])
    assert known is not None
    assert (known.status, known.sequence) == ("cancelled", 2)
    assert known.cancelled
    assert known.cancelled_occurrences == {datetime(2026, 12, 10, 12)}
    assert known.occurrence_cancelled(datetime(2026, 12, 17, 12)), "the whole series is off"


def queues_bound_to(stack: Stack, type: str) -> int:
    """How many consumers' queues a message of `type` reaches (each handles it once)."""
    return sum(type in subscription.bindings for subscription in stack.subscriptions)


def test_a_redelivered_message_changes_nothing(client, organizer, community, stack, caplog):
    event = schedule(client, organizer, community)
    client.patch(f"/api/events/{event['id']}", json={"capacity": 10}, headers=organizer)
    stack.flush()
    before = known_event(stack, event["id"])
    assert before is not None
    assert (before.capacity, before.sequence) == (10, 1)
    scheduled = sent_by_events(stack, "events.event_scheduled")[-1]

    caplog.set_level(logging.INFO, logger="shared.runtime")
    publish(stack, scheduled.body, message_id=scheduled.message_id, type=scheduled.type)
    assert stack.flush() == queues_bound_to(stack, scheduled.type)

    assert known_event(stack, event["id"]) == before
    assert f"rsvps.events already handled events.event_scheduled {scheduled.message_id}" in (
        caplog.text
    ), "the inbox, not luck, must have absorbed the duplicate"
    with stack.services["rsvps"].engine.connect() as conn:
        claims = conn.execute(
            sa.select(sa.func.count()).where(inbox.c.message_id == scheduled.message_id)
        ).scalar()
    assert claims == 1


def test_an_older_state_arriving_late_does_not_roll_back(client, organizer, community, stack):
    series = schedule(client, organizer, community, rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=6")
    client.patch(f"/api/events/{series['id']}", json={"capacity": 10}, headers=organizer)
    client.post(
        f"/api/events/{series['id']}/cancel", json={"occurrence": "2026-12-10T12:00"},
        headers=organizer,
    )  # fmt: skip
    client.post(f"/api/events/{series['id']}/cancel", json={}, headers=organizer)
    sent = [row for row in sent_by_events(stack) if row.type.startswith("events.event")]
    sent += sent_by_events(stack, "events.occurrence_cancelled")
    assert len(sent) == 4

    # Newest first: each older state must be refused, whatever the inbox says.
    for row in sorted(sent, key=lambda row: row.id, reverse=True):
        publish(stack, row.body, message_id=row.message_id, type=row.type)
    stack.flush()

    known = known_event(stack, series["id"])
    assert known is not None
    assert (known.status, known.sequence, known.capacity) == ("cancelled", 3, 10)
    assert known.cancelled_occurrences == {datetime(2026, 12, 10, 12)}


def test_an_old_state_under_a_new_message_id_does_not_roll_back(
    client, organizer, community, stack
):
    event = schedule(client, organizer, community)
    client.patch(f"/api/events/{event['id']}", json={"capacity": 10}, headers=organizer)
    stack.flush()
    scheduled = sent_by_events(stack, "events.event_scheduled")[-1]
    envelope = json.loads(scheduled.body)
    envelope["id"] = str(uuid.uuid4())

    publish(stack, json.dumps(envelope), message_id=envelope["id"], type=scheduled.type)
    assert stack.flush() == queues_bound_to(stack, scheduled.type)

    known = known_event(stack, event["id"])
    assert known is not None
    assert (known.capacity, known.sequence) == (10, 1)


def test_unknown_fields_are_ignored_and_optional_ones_may_be_missing(stack):
    event_id = str(uuid.uuid4())
    envelope = {
        "id": str(uuid.uuid4()),
        "type": "events.event_scheduled",
        "version": 1,
        "occurred_at": "2026-11-20T09:30:00Z",
        "producer": "events",
        "correlation_id": str(uuid.uuid4()),
        "payload": {
            "event": {
                "id": event_id,
                "community": {"id": "c-1", "mascot": "heron"},
                "kind": "social",
                "title": "Picnic",
                "local_start": "2027-06-05T11:00:00",
                "local_end": "2027-06-05T15:00:00",
                "timezone": "Europe/Berlin",
                "starts_at": "2027-06-05T11:00:00+02:00",
                "ends_at": "2027-06-05T15:00:00+02:00",
                "visibility": "public",
                "status": "scheduled",
                "sequence": 0,
                "weather": {"forecast": "sunny"},
            },
            "note": "a field added by a later version",
        },
        "trace": "unknown envelope fields are ignored too",
    }
    publish(stack, json.dumps(envelope), message_id=envelope["id"], type=envelope["type"])
    stack.flush()

    known = known_event(stack, event_id)
    assert known is not None
    assert (known.title, known.capacity, known.rrule, known.rsvp_deadline) == (
        "Picnic", None, None, None,
    )  # fmt: skip
    assert known.starts_at == datetime(2027, 6, 5, 9, 0, tzinfo=UTC)
    assert known.updated_at == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert known.cancelled_occurrences == frozenset()


# --- one date of a series moved, and whole days ------------------------------------------------


def move(client: Any, organizer: dict[str, str], event: dict[str, Any], original: str, **body: Any):
    response = client.patch(
        f"/api/events/{event['id']}/occurrences/{original}", json=body, headers=organizer
    )
    assert response.status_code == 200, response.text
    return response.json


def test_a_moved_occurrence_is_learned_by_its_original_start(client, organizer, community, stack):
    series = schedule(
        client, organizer, community, starts_at="2027-01-07T12:00", ends_at="2027-01-07T13:00",
        rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=10",
    )  # fmt: skip
    move(client, organizer, series, "2027-01-14T12:00", starts_at="2027-01-15T18:00")
    move(client, organizer, series, "2027-01-21T12:00", title="Case review")
    assert sent_by_events(stack, "events.occurrence_updated"), "announced as its own type"
    stack.flush()

    known = known_event(stack, series["id"])
    assert known is not None
    assert known.sequence == 2
    assert known.moved_occurrences == {
        datetime(2027, 1, 14, 12): (datetime(2027, 1, 15, 18), datetime(2027, 1, 15, 19))
    }, "a date with only its own title has not moved"
    assert known.start_of(datetime(2027, 1, 14, 12)) == datetime(2027, 1, 15, 23, tzinfo=UTC)
    assert known.start_of(datetime(2027, 1, 21, 12)) == datetime(2027, 1, 21, 17, tzinfo=UTC)

    # Moved back where the series has it, the date is no longer moved.
    move(client, organizer, series, "2027-01-14T12:00", starts_at="2027-01-14T12:00")
    stack.flush()
    known = known_event(stack, series["id"])
    assert known is not None
    assert known.moved_occurrences == {}


def test_a_moved_occurrence_takes_answers_until_its_new_start(client, organizer, community, stack):
    """Answers stay keyed by the original start, but a date closes when it now begins."""
    new_york = ZoneInfo("America/New_York")
    today = datetime.now(new_york).date()
    # The first Thursday after today, whose date is still to come whatever the hour, and one a
    # week or two ago, whose date began long ago: the series starts then.
    next_thursday = today + timedelta(days=(3 - today.weekday()) % 7 or 7)
    last_thursday = next_thursday - timedelta(weeks=2)
    series = schedule(
        client, organizer, community, starts_at=f"{last_thursday}T12:00",
        ends_at=f"{last_thursday}T13:00", rrule="FREQ=WEEKLY;BYDAY=TH",
    )  # fmt: skip
    # The past date moves to after the coming one; the coming one moves to yesterday.
    move(client, organizer, series, f"{last_thursday}T12:00", starts_at=f"{next_thursday}T18:00")
    move(
        client, organizer, series, f"{next_thursday}T12:00",
        starts_at=f"{today - timedelta(days=1)}T12:00",
    )  # fmt: skip
    stack.flush()

    def answer(occurrence: str):
        return client.post(
            f"/rsvps/api/events/{series['id']}/rsvps",
            json={"name": "Ana", "email": "ana@example.org", "response": "yes",
                  "occurrence": occurrence},
        )  # fmt: skip

    reopened = answer(f"{last_thursday}T12:00")
    assert reopened.status_code == 201, reopened.text
    closed = answer(f"{next_thursday}T12:00")
    assert closed.status_code == 409
    assert "already started" in closed.json["title"]


def test_a_whole_series_moved_keeps_each_answer_on_its_date(client, organizer, community, stack):
    """Answers name a date by its key, which moving the whole series keeps; people and the API
    name it by where the series puts it now."""
    tz = ZoneInfo(community["timezone"])
    first, second, third, fourth = (thursday(weeks, tz).date() for weeks in range(4))
    series = schedule(
        client, organizer, community, starts_at=f"{first}T12:00", ends_at=f"{first}T13:00",
        rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=6", capacity=1,
    )  # fmt: skip
    rsvps = f"/rsvps/api/events/{series['id']}/rsvps"

    def answer(name: str, occurrence: str, response: str = "yes"):
        body = {"name": name, "email": f"{name.lower()}@example.org", "response": response,
                "occurrence": occurrence}  # fmt: skip
        return client.post(rsvps, json=body)

    stack.flush()
    assert answer("Ana", f"{second}T12:00").json["status"] == "confirmed"
    assert answer("Ben", f"{second}T12:00").json["status"] == "waitlisted"
    cancelled = client.post(
        f"/api/events/{series['id']}/cancel", json={"occurrence": f"{third}T12:00"},
        headers=organizer,
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text
    move(client, organizer, series, f"{fourth}T12:00", starts_at=f"{fourth}T18:00")

    # Every Thursday moves from 12:00 to 13:00.
    moved = client.patch(
        f"/api/events/{series['id']}",
        json={"starts_at": f"{first}T13:00", "ends_at": f"{first}T14:00"},
        headers=organizer,
    )
    assert moved.status_code == 200, moved.text
    stack.flush()

    known = known_event(stack, series["id"])
    assert known is not None
    assert known.shift == timedelta(hours=1)
    key = datetime.combine(second, time(12))
    assert known.start_of(key) == datetime.combine(second, time(13), tz)
    assert known.occurrence_cancelled(datetime.combine(third, time(12))), "still cancelled"
    assert known.local_start_of(datetime.combine(fourth, time(12))) == datetime.combine(
        fourth, time(18)
    ), "a date moved on its own stays where it was moved to"

    # Ana's answer is the same RSVP, named by the date's start now; the old time is no date.
    again = answer("Ana", f"{second}T13:00", "no")
    assert again.status_code == 200, again.text
    assert again.json["occurrence"] == f"{second}T13:00"
    assert answer("Cy", f"{second}T12:00").status_code == 422
    stack.flush()
    listed = client.get(rsvps, query_string={"occurrence": f"{second}T13:00"}, headers=organizer)
    assert listed.status_code == 200, listed.text
    [date] = listed.json["occurrences"]
    assert date["occurrence"] == f"{second}T13:00"
    assert datetime.fromisoformat(date["starts_at"]) == datetime.combine(second, time(13), tz)
    assert [entry["name"] for entry in date["confirmed"]] == ["Ben"], "promoted on the same date"


def test_an_all_day_event_starts_at_midnight_of_its_first_day(client, organizer, community, stack):
    event = schedule(
        client, organizer, community, kind="celebration", all_day=True, starts_at="2027-05-01",
        ends_at="2027-05-02",
    )  # fmt: skip
    stack.flush()

    known = known_event(stack, event["id"])
    assert known is not None
    assert known.all_day is True
    assert (known.local_start, known.local_end) == (
        datetime(2027, 5, 1),
        datetime(2027, 5, 3),
    ), "the end is the midnight after the last day"
    assert known.start_of(None) == datetime(2027, 5, 1, 4, tzinfo=UTC)
