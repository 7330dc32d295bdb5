"""All-day events through the JSON API: dates in, dates out, whole days in the messages."""

import json

import pytest
import sqlalchemy as sa

from services.events import store as events_store

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

CELEBRATION = {
    "kind": "celebration",
    "title": "Maya's licensure",
    "all_day": True,
    "starts_at": "2027-05-01",
    "ends_at": "2027-05-01",
}


def published(stack, type_):
    engine = stack.services["events"].engine
    query = sa.select(events_store.outbox.c.body).order_by(events_store.outbox.c.id)
    with engine.connect() as conn:
        bodies = [json.loads(body) for body in conn.execute(query).scalars()]
    return [body for body in bodies if body["type"] == type_]


def schedule(client, organizer, community, **changes):
    return client.post(
        f"/api/communities/{community['slug']}/events",
        json={**CELEBRATION, **changes},
        headers=organizer,
    )


def occurrences(client, organizer, community, start, end):
    response = client.get(
        f"/api/communities/{community['slug']}/occurrences?start={start}&end={end}",
        headers=organizer,
    )
    assert response.status_code == 200, response.text
    return response.json


def test_an_all_day_event_takes_and_gives_its_days(client, stack, organizer, community):
    response = schedule(client, organizer, community)

    assert response.status_code == 201, response.text
    event = response.json
    assert (event["all_day"], event["starts_at"], event["ends_at"]) == (
        True,
        "2027-05-01",
        "2027-05-01",
    ), "the last day, inclusive, as it was sent"
    assert client.get(f"/api/events/{event['id']}", headers=organizer).json["ends_at"] == (
        "2027-05-01"
    )
    state = published(stack, "events.event_scheduled")[-1]["payload"]["event"]
    assert state["all_day"] is True
    assert (state["local_start"], state["local_end"]) == (
        "2027-05-01T00:00:00",
        "2027-05-02T00:00:00",
    ), "messages carry local midnights, the end exclusive (as DTEND;VALUE=DATE)"
    assert (state["starts_at"], state["ends_at"]) == (
        "2027-05-01T00:00:00-04:00",
        "2027-05-02T00:00:00-04:00",
    )

    [listed] = occurrences(client, organizer, community, "2027-05-01", "2027-05-01")
    assert (listed["starts_at"], listed["ends_at"], listed["all_day"]) == (
        "2027-05-01",
        "2027-05-01",
        True,
    )
    assert occurrences(client, organizer, community, "2027-05-02", "2027-05-02") == []


def test_timed_events_say_they_are_not_all_day(client, organizer, community):
    response = schedule(
        client, organizer, community, all_day=False, starts_at="2027-05-01T18:00",
        ends_at="2027-05-01T21:00",
    )  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json["all_day"] is False
    [listed] = occurrences(client, organizer, community, "2027-05-01", "2027-05-01")
    assert (listed["all_day"], listed["starts_at"]) == (False, "2027-05-01T18:00:00-04:00")


def test_several_days_and_a_yearly_series(client, organizer, community):
    retreat = schedule(
        client, organizer, community, kind="social", title="Retreat", ends_at="2027-05-03"
    ).json
    assert (retreat["starts_at"], retreat["ends_at"]) == ("2027-05-01", "2027-05-03")
    yearly = schedule(client, organizer, community, rrule="FREQ=YEARLY;COUNT=3").json

    listed = occurrences(client, organizer, community, "2027-05-02", "2029-12-31")
    assert [(item["event_id"], item["starts_at"], item["ends_at"]) for item in listed] == [
        (retreat["id"], "2027-05-01", "2027-05-03"),
        (yearly["id"], "2028-05-01", "2028-05-01"),
        (yearly["id"], "2029-05-01", "2029-05-01"),
    ]
    assert listed[1]["original_start"] == "2028-05-01T00:00"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"starts_at": "2027-05-01T10:00"}, "starts_at", "dates without times"),
        ({"ends_at": "2027-04-30"}, "ends_at", "last day must not be before the first"),
        ({"ends_at": "2027-05-15"}, "ends_at", "at most 14 days"),
        ({"all_day": False}, "starts_at", "give a time too"),
        ({"all_day": "sometimes"}, "all_day", "true or false"),
        ({"starts_at": "2027-02-30"}, "starts_at", "like 2027-05-01"),
    ],
)
def test_days_and_times_are_not_mixed_up(client, organizer, community, changes, field, words):
    response = schedule(client, organizer, community, **changes)
    assert response.status_code == 422, response.text
    assert words in response.json["errors"][field]


def test_a_midnight_the_clocks_skip_cannot_begin_a_whole_day(client, organizer, community):
    # Santiago de Chile springs forward at midnight: 2027-09-05 00:00 never happens there.
    response = schedule(
        client, organizer, community, timezone="America/Santiago", starts_at="2027-09-05",
        ends_at="2027-09-05",
    )  # fmt: skip
    assert response.status_code == 422
    assert "clocks change at midnight" in response.json["errors"]["starts_at"]


def test_an_event_is_made_all_day_and_back(client, stack, organizer, community):
    event = schedule(
        client, organizer, community, all_day=False, starts_at="2027-05-01T18:00",
        ends_at="2027-05-02T01:00",
    ).json  # fmt: skip

    whole = client.patch(f"/api/events/{event['id']}", json={"all_day": True}, headers=organizer)
    assert whole.status_code == 200, whole.text
    assert (whole.json["starts_at"], whole.json["ends_at"]) == ("2027-05-01", "2027-05-02")
    changed = published(stack, "events.event_updated")[-1]["payload"]["changed"]
    assert changed == ["all_day", "starts_at", "ends_at"], "both times became midnights"

    bare = client.patch(f"/api/events/{event['id']}", json={"all_day": False}, headers=organizer)
    assert bare.status_code == 422
    assert set(bare.json["errors"]) == {"starts_at", "ends_at"}
    timed = client.patch(
        f"/api/events/{event['id']}",
        json={"all_day": False, "starts_at": "2027-05-01T17:00", "ends_at": "2027-05-01T22:00"},
        headers=organizer,
    )
    assert timed.status_code == 200, timed.text
    assert (timed.json["all_day"], timed.json["ends_at"]) == (False, "2027-05-01T22:00:00-04:00")

    dates = client.patch(
        f"/api/events/{event['id']}",
        json={"all_day": True, "starts_at": "2027-06-01", "ends_at": "2027-06-02"},
        headers=organizer,
    )
    assert (dates.json["starts_at"], dates.json["ends_at"]) == ("2027-06-01", "2027-06-02")
    assert dates.json["sequence"] == 3


def test_one_day_of_an_all_day_series_is_moved_by_dates(client, stack, organizer, community):
    yearly = schedule(client, organizer, community, rrule="FREQ=YEARLY;COUNT=3").json
    path = f"/api/events/{yearly['id']}/occurrences/2028-05-01"

    timed = client.patch(path, json={"starts_at": "2028-05-02T10:00"}, headers=organizer)
    assert timed.status_code == 422
    assert "date without a time" in timed.json["errors"]["starts_at"]
    moved = client.patch(
        path, json={"starts_at": "2028-05-06", "ends_at": "2028-05-07"}, headers=organizer
    )

    assert moved.status_code == 200, moved.text
    assert (moved.json["starts_at"], moved.json["ends_at"], moved.json["all_day"]) == (
        "2028-05-06",
        "2028-05-07",
        True,
    )
    assert moved.json["original_start"] == "2028-05-01T00:00"
    [override] = published(stack, "events.occurrence_updated")[-1]["payload"]["event"]["overrides"]
    assert (override["local_start"], override["local_end"]) == (
        "2028-05-06T00:00:00",
        "2028-05-08T00:00:00",
    )
    [listed] = occurrences(client, organizer, community, "2028-05-01", "2028-05-31")
    assert (listed["starts_at"], listed["ends_at"]) == ("2028-05-06", "2028-05-07")
