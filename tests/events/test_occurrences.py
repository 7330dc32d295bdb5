"""Changing one date of a series through the JSON API: moving it, giving it its own title or
place, and what becomes of it when the whole series changes."""

import json
from datetime import date

import pytest
import sqlalchemy as sa

from services.events import store as events_store

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

# Thursdays from 7 January 2027, ten times, in the community's zone (America/New_York).
SERIES = {
    "kind": "consult_group",
    "title": "Thursday consult group",
    "starts_at": "2027-01-07T12:00",
    "ends_at": "2027-01-07T13:00",
    "rrule": "FREQ=WEEKLY;BYDAY=TH;COUNT=10",
    "location": "Room 4",
    "capacity": 8,
}
SECOND = "2027-01-14T12:00"


def published(stack, type_):
    engine = stack.services["events"].engine
    query = sa.select(events_store.outbox.c.body).order_by(events_store.outbox.c.id)
    with engine.connect() as conn:
        bodies = [json.loads(body) for body in conn.execute(query).scalars()]
    return [body for body in bodies if body["type"] == type_]


@pytest.fixture
def series(client, organizer, community):
    response = client.post(
        f"/api/communities/{community['slug']}/events", json=SERIES, headers=organizer
    )
    assert response.status_code == 201, response.text
    return response.json


def change(client, headers, event, original, **body):
    return client.patch(
        f"/api/events/{event['id']}/occurrences/{original}", json=body, headers=headers
    )


def occurrences(client, headers, community, start, end):
    response = client.get(
        f"/api/communities/{community['slug']}/occurrences?start={start}&end={end}",
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json


def test_moving_one_date_keeps_its_name_and_tells_everyone(
    client, stack, organizer, community, series
):
    response = change(client, organizer, series, SECOND, starts_at="2027-01-15T18:00")

    assert response.status_code == 200, response.text
    moved = response.json
    assert moved["original_start"] == SECOND
    assert moved["starts_at"] == "2027-01-15T18:00:00-05:00"
    assert moved["ends_at"] == "2027-01-15T19:00:00-05:00", "a new start keeps the length"
    assert (moved["moved"], moved["status"], moved["sequence"]) == (True, "scheduled", 1)
    assert (moved["title"], moved["location"]) == ("Thursday consult group", "Room 4")

    event = client.get(f"/api/events/{series['id']}", headers=organizer).json
    assert event["sequence"] == 1, "attendees should notice a moved date"
    assert event["starts_at"] == "2027-01-07T12:00:00-05:00", "the series itself stays"
    assert event["overrides"] == [
        {
            "original_start": SECOND,
            "starts_at": "2027-01-15T18:00:00-05:00",
            "ends_at": "2027-01-15T19:00:00-05:00",
            "title": None,
            "description": None,
            "location": None,
            "online_url": None,
            "sequence": 1,
        }
    ]
    [message] = published(stack, "events.occurrence_updated")
    payload = message["payload"]
    assert payload["occurrence"] == "2027-01-14T12:00:00"
    assert payload["changed"] == ["starts_at", "ends_at"]
    assert payload["event"]["sequence"] == 1
    assert payload["event"]["overrides"] == [
        {
            "original_start": "2027-01-14T12:00:00",
            "local_start": "2027-01-15T18:00:00",
            "local_end": "2027-01-15T19:00:00",
            "starts_at": "2027-01-15T18:00:00-05:00",
            "ends_at": "2027-01-15T19:00:00-05:00",
            "title": None,
            "description": None,
            "location": None,
            "online_url": None,
            "sequence": 1,
        }
    ]


def test_a_moved_date_is_listed_at_its_new_time(client, organizer, community, series):
    change(client, organizer, series, SECOND, starts_at="2027-01-15T18:00")

    on_thursday = occurrences(client, organizer, community, "2027-01-14", "2027-01-14")
    assert on_thursday == [], "nothing takes place on the 14th any more"
    [on_friday] = occurrences(client, organizer, community, "2027-01-15", "2027-01-15")
    assert on_friday["original_start"] == SECOND
    assert on_friday["starts_at"] == "2027-01-15T18:00:00-05:00"
    assert on_friday["moved"] is True
    listed = occurrences(client, organizer, community, "2027-01-01", "2027-01-31")
    assert [item["starts_at"][:16] for item in listed] == [
        "2027-01-07T12:00",
        "2027-01-15T18:00",
        "2027-01-21T12:00",
        "2027-01-28T12:00",
    ]
    assert [item["moved"] for item in listed] == [False, True, False, False]


def test_a_date_moved_out_of_the_series_range_is_still_found(client, organizer, community, series):
    last = "2027-03-11T12:00"  # the tenth Thursday
    assert change(client, organizer, series, last, starts_at="2027-03-20T10:00").status_code == 200
    first = "2027-01-07T12:00"
    assert change(client, organizer, series, first, starts_at="2027-01-02T10:00").status_code == 200

    [early] = occurrences(client, organizer, community, "2027-01-02", "2027-01-02")
    [late] = occurrences(client, organizer, community, "2027-03-20", "2027-03-20")
    assert (early["original_start"], late["original_start"]) == (first, last)


def test_a_date_gets_its_own_title_place_and_link(client, stack, organizer, community, series):
    response = change(
        client,
        organizer,
        series,
        SECOND,
        title="Consult group: guest speaker",
        location="  Library, 2nd floor ",
        online_url="https://video.example.org/guest",
    )
    assert response.status_code == 200, response.text
    body = response.json
    assert body["moved"] is False
    assert body["starts_at"] == "2027-01-14T12:00:00-05:00"
    assert body["title"] == "Consult group: guest speaker"
    assert body["location"] == "Library, 2nd floor"
    assert body["online_url"] == "https://video.example.org/guest"
    payload = published(stack, "events.occurrence_updated")[-1]["payload"]
    assert payload["changed"] == ["title", "location", "online_url"]

    # Sent back as null, or as what the series says, a text follows the series again; with
    # nothing left to say the date is as the series has it.
    back = change(client, organizer, series, SECOND, title=None, location="Room 4", online_url=None)
    assert back.status_code == 200
    assert (back.json["title"], back.json["location"]) == ("Thursday consult group", "Room 4")
    event = client.get(f"/api/events/{series['id']}", headers=organizer).json
    assert event["overrides"] == []
    assert event["sequence"] == 2


def test_each_change_raises_the_sequence_and_overrides_never_lag(
    client, organizer, community, series
):
    change(client, organizer, series, SECOND, starts_at="2027-01-15T18:00")
    change(client, organizer, series, "2027-01-21T12:00", title="Case review")
    unchanged = change(client, organizer, series, SECOND, starts_at="2027-01-15T18:00")
    assert unchanged.status_code == 200
    assert unchanged.json["sequence"] == 2, "the same change again changes nothing"

    event = client.get(f"/api/events/{series['id']}", headers=organizer).json
    assert event["sequence"] == 2
    assert [o["sequence"] for o in event["overrides"]] == [2, 2]

    client.post(
        f"/api/events/{series['id']}/cancel",
        json={"occurrence": "2027-01-28T12:00"},
        headers=organizer,
    )
    client.patch(f"/api/events/{series['id']}", json={"capacity": 10}, headers=organizer)
    event = client.get(f"/api/events/{series['id']}", headers=organizer).json
    assert event["sequence"] == 4
    assert [o["sequence"] for o in event["overrides"]] == [4, 4]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"starts_at": "2027-03-14T02:30"}, "starts_at", "does not exist"),
        ({"starts_at": "2027-11-07T01:30"}, "starts_at", "happens twice"),
        ({"starts_at": "2027-01-15T18:00", "ends_at": "2027-01-15T17:00"}, "ends_at", "after"),
        ({"ends_at": "2027-02-14T12:00"}, "ends_at", "at most 14 days"),
        ({"starts_at": "2027-01-15"}, "starts_at", "give a time too"),
        # Eleven years on (a date is refused more than ten years from today).
        ({"starts_at": f"{date.today().year + 11}-01-15T12:00"}, "starts_at", "within ten years"),
        ({"title": "x" * 201}, "title", "200 characters"),
        ({"title": "  "}, "title", "give this date a title"),
        ({"location": "x" * 501}, "location", "500 characters"),
        ({"online_url": "video"}, "online_url", "https://"),
        ({"starts_at": "Friday"}, "starts_at", "like 2026-12-03T12:00"),
    ],
)
def test_a_bad_change_says_what_to_fix_and_changes_nothing(
    client, stack, organizer, community, series, body, field, words
):
    response = change(client, organizer, series, SECOND, **body)

    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"
    assert words in response.json["errors"][field]
    event = client.get(f"/api/events/{series['id']}", headers=organizer).json
    assert (event["sequence"], event["overrides"]) == (0, [])
    assert published(stack, "events.occurrence_updated") == []


def test_who_may_change_a_date_and_which_dates_there_are(
    client, issue_token, organizer, community, series
):
    assert change(client, {}, series, SECOND, title="X").status_code == 401
    client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "sam@example.org", "name": "Sam Rivera"},
        headers=organizer,
    )
    sam = {"Authorization": f"Bearer {issue_token('sam@example.org')}"}
    assert change(client, sam, series, SECOND, title="X").status_code == 403
    outsider = {"Authorization": f"Bearer {issue_token('out@example.org')}"}
    assert change(client, outsider, series, SECOND, title="X").status_code == 404

    not_a_date = change(client, organizer, series, "2027-01-15T12:00", title="X")
    assert not_a_date.status_code == 404
    assert "not a date of this series" in not_a_date.json["detail"]
    assert change(client, organizer, series, "2027-03-18T12:00", title="X").status_code == 404
    assert change(client, organizer, series, "next-week", title="X").status_code == 404
    assert change(client, organizer, {"id": "no-such-event"}, SECOND).status_code == 404
    one_off = client.post(
        f"/api/communities/{community['slug']}/events",
        json={**SERIES, "rrule": None},
        headers=organizer,
    ).json
    refused = change(client, organizer, one_off, "2027-01-07T12:00", title="X")
    assert refused.status_code == 404
    assert "does not repeat" in refused.json["detail"]


def test_a_cancelled_date_or_series_cannot_be_changed(client, organizer, community, series):
    change(client, organizer, series, SECOND, starts_at="2027-01-15T18:00")
    cancelled = client.post(
        f"/api/events/{series['id']}/cancel", json={"occurrence": SECOND}, headers=organizer
    )
    assert cancelled.status_code == 200, "a moved date is cancelled by its original start"
    [listed] = occurrences(client, organizer, community, "2027-01-15", "2027-01-15")
    assert (listed["original_start"], listed["status"]) == (SECOND, "cancelled")

    refused = change(client, organizer, series, SECOND, title="Back on")
    assert refused.status_code == 409
    assert "cancelled" in refused.json["title"]

    client.post(f"/api/events/{series['id']}/cancel", json={}, headers=organizer)
    assert change(client, organizer, series, "2027-01-21T12:00", title="X").status_code == 409


def test_a_series_change_keeps_moved_dates_where_they_were_moved(
    client, organizer, community, series
):
    change(client, organizer, series, SECOND, starts_at="2027-01-15T18:00")
    change(client, organizer, series, "2027-01-21T12:00", location="Library")

    response = client.patch(
        f"/api/events/{series['id']}",
        json={"starts_at": "2027-01-07T13:00", "ends_at": "2027-01-07T14:30"},
        headers=organizer,
    )

    assert response.status_code == 200, response.text
    overrides = {o["original_start"]: o for o in response.json["overrides"]}
    assert set(overrides) == {"2027-01-14T13:00", "2027-01-21T13:00"}, "named by the new time"
    moved = overrides["2027-01-14T13:00"]
    assert (moved["starts_at"], moved["ends_at"]) == (
        "2027-01-15T18:00:00-05:00",
        "2027-01-15T19:00:00-05:00",
    )
    retold = overrides["2027-01-21T13:00"]
    assert (retold["starts_at"], retold["ends_at"], retold["location"]) == (
        "2027-01-21T13:00:00-05:00",
        "2027-01-21T14:30:00-05:00",
        "Library",
    ), "a date that was not moved follows the series' new times"
    assert {o["sequence"] for o in overrides.values()} == {response.json["sequence"]}
    listed = occurrences(client, organizer, community, "2027-01-14", "2027-01-21")
    assert [(item["starts_at"][:16], item["location"]) for item in listed] == [
        ("2027-01-15T18:00", "Room 4"),
        ("2027-01-21T13:00", "Library"),
    ]


def test_a_series_change_drops_the_changes_of_dates_it_no_longer_has(
    client, organizer, community, series
):
    change(client, organizer, series, SECOND, starts_at="2027-01-15T18:00")
    change(client, organizer, series, "2027-02-04T12:00", title="Case review")

    shorter = client.patch(
        f"/api/events/{series['id']}",
        json={"rrule": "FREQ=WEEKLY;BYDAY=TH;COUNT=3"},
        headers=organizer,
    )
    assert [o["original_start"] for o in shorter.json["overrides"]] == [SECOND]
    one_off = client.patch(f"/api/events/{series['id']}", json={"rrule": None}, headers=organizer)
    assert one_off.json["overrides"] == []
    assert occurrences(client, organizer, community, "2027-01-15", "2027-01-15") == []


def test_a_title_equal_to_the_series_new_title_follows_it(client, organizer, community, series):
    change(client, organizer, series, SECOND, title="Case review")
    response = client.patch(
        f"/api/events/{series['id']}", json={"title": "Case review"}, headers=organizer
    )
    assert response.json["overrides"] == [], "nothing left to say differently"
