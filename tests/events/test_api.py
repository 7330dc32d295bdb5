"""The events JSON API, through HTTP, on SQLite and on the real PostgreSQL."""

import json

import pytest
import sqlalchemy as sa

from services.events import store as events_store

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": "2026-12-03T12:00",
    "ends_at": "2026-12-03T13:00",
    "location": "Juniper Café",
    "capacity": 6,
}


def published(stack, type_=None):
    """The messages the events service wrote to its outbox, oldest first."""
    engine = stack.services["events"].engine
    query = sa.select(events_store.outbox.c.body).order_by(events_store.outbox.c.id)
    with engine.connect() as conn:
        bodies = [json.loads(body) for body in conn.execute(query).scalars()]
    return [body for body in bodies if type_ is None or body["type"] == type_]


def schedule(client, organizer, community, **changes):
    return client.post(
        f"/api/communities/{community['slug']}/events", json={**LUNCH, **changes}, headers=organizer
    )


def member_headers(
    client, issue_token, organizer, community, email="sam@example.org", role="member"
):
    response = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": email, "name": "Sam Rivera", "role": role},
        headers=organizer,
    )
    assert response.status_code in (200, 201), response.text
    return {"Authorization": f"Bearer {issue_token(email)}"}


# --- communities and members -----------------------------------------------------------------


def test_creating_a_community_makes_the_caller_its_organizer(client, organizer, community):
    assert community["slug"] == "riverside-clinicians"
    assert community["visibility"] == "private"
    assert community["your_role"] == "organizer"
    assert community["feed_url"].startswith("https://")
    assert community["webcal_url"].startswith("webcal://")
    assert "token=" in community["feed_url"]
    got = client.get(f"/api/communities/{community['slug']}", headers=organizer)
    assert got.status_code == 200
    assert got.json["timezone"] == "America/New_York"


def test_community_errors(client, organizer, community):
    taken = client.post(
        "/api/communities",
        json={"name": "Other", "slug": community["slug"], "timezone": "UTC"},
        headers=organizer,
    )
    assert taken.status_code == 409
    assert taken.mimetype == "application/problem+json"
    assert "taken" in taken.json["errors"]["slug"]
    bad = client.post(
        "/api/communities",
        json={"name": "", "timezone": "Nowhere/Land", "slug": "Bad Slug!"},
        headers=organizer,
    )
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"name", "timezone", "slug"}
    anonymous = client.post("/api/communities", json={"name": "X", "timezone": "UTC"})
    assert anonymous.status_code == 401


def test_a_private_community_is_hidden_from_outsiders(client, stack, issue_token, community):
    outsider = {"Authorization": f"Bearer {issue_token('out@example.org')}"}
    assert client.get(f"/api/communities/{community['slug']}", headers=outsider).status_code == 404
    assert client.get(f"/api/communities/{community['slug']}").status_code == 404


def test_organizers_invite_members_and_only_organizers_can(
    client, stack, issue_token, organizer, community
):
    response = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "Sam@Example.org", "name": "Sam Rivera", "phone": "(202) 555-0143"},
        headers=organizer,
    )
    assert response.status_code == 201
    assert response.json["email"] == "sam@example.org"
    assert response.json["phone"] == "+12025550143"
    assert response.json["role"] == "member"
    again = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "sam@example.org", "name": "Sam Rivera"},
        headers=organizer,
    )
    assert again.status_code == 200
    sam = {"Authorization": f"Bearer {issue_token('sam@example.org')}"}
    forbidden = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "x@example.org", "name": "X"},
        headers=sam,
    )
    assert forbidden.status_code == 403
    added = published(stack, "events.member_added")
    assert [m["payload"]["member"]["email"] for m in added] == [
        "dana@example.org",
        "sam@example.org",
    ]


def test_member_input_errors_name_each_field(client, organizer, community):
    response = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "not-an-email", "name": "", "phone": "12345", "role": "boss"},
        headers=organizer,
    )
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"email", "name", "role"}
    phone = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "p@example.org", "name": "P", "phone": "12345"},
        headers=organizer,
    )
    assert phone.status_code == 422
    assert "valid phone number" in phone.json["errors"]["phone"]


# --- events ----------------------------------------------------------------------------------


def test_scheduling_an_event_answers_with_local_times_and_publishes_it(
    client, stack, organizer, community
):
    response = schedule(client, organizer, community)
    assert response.status_code == 201, response.text
    event = response.json
    assert event["starts_at"] == "2026-12-03T12:00:00-05:00"
    assert event["timezone"] == "America/New_York"
    assert event["sequence"] == 0
    assert event["status"] == "scheduled"
    assert event["url"].endswith(f"/events/{event['id']}")
    assert client.get(f"/api/events/{event['id']}", headers=organizer).json == event
    [message] = published(stack, "events.event_scheduled")
    assert message["producer"] == "events"
    assert message["payload"]["event"]["id"] == event["id"]
    assert message["payload"]["event"]["capacity"] == 6
    assert message["payload"]["event"]["community"]["slug"] == community["slug"]


@pytest.mark.parametrize(
    "fields",
    [
        {
            "kind": "consult_group",
            "title": "Consult group",
            "rrule": "FREQ=WEEKLY;BYDAY=TH",
            "visibility": "private",
            "capacity": 8,
            "online_url": "https://video.example.org/x",
        },
        {
            "kind": "celebration",
            "title": "Licensure!",
            "honoree_email": "priya@example.org",
            "surprise": True,
        },
        {
            "kind": "training",
            "title": "CE workshop",
            "ce_hours": 3.5,
            "presenter": "Dr. Chen",
            "capacity": 25,
            "rsvp_deadline": "2026-12-01T17:00",
        },
        {
            "kind": "social",
            "title": "Winter social",
            "visibility": "public",
            "timezone": "Europe/London",
        },
    ],
)
def test_every_kind_of_event_keeps_its_own_fields(client, organizer, community, fields):
    response = schedule(client, organizer, community, **fields)
    assert response.status_code == 201, response.text
    for key, value in fields.items():
        if key == "rsvp_deadline":
            assert response.json[key] == "2026-12-01T17:00:00-05:00"
        else:
            assert response.json[key] == value


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ends_at": "2026-12-03T11:00"}, "ends_at", "end after it starts"),
        ({"timezone": "Mars/Olympus"}, "timezone", "not a known time zone"),
        (
            {"starts_at": "2027-03-14T02:30", "ends_at": "2027-03-14T04:00"},
            "starts_at",
            "does not exist in America/New_York",
        ),
        (
            {"starts_at": "2027-11-07T01:30", "ends_at": "2027-11-07T03:00"},
            "starts_at",
            "happens twice",
        ),
        ({"rrule": "FREQ=FORTNIGHTLY"}, "rrule", "FREQ=FORTNIGHTLY is not allowed"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=MO"}, "rrule", "not one of the dates"),
        ({"capacity": -1}, "capacity", "from 1 to 10,000"),
        ({"capacity": 10**30}, "capacity", "from 1 to 10,000"),
        ({"capacity": "lots"}, "capacity", "whole number"),
        ({"guest_limit": -1}, "guest_limit", "from 0 (no guests) to 20"),
        ({"guest_limit": 21}, "guest_limit", "from 0 (no guests) to 20"),
        ({"guest_limit": "two"}, "guest_limit", "whole number"),
        ({"guest_limit": "2"}, "guest_limit", "whole number"),
        ({"guest_limit": 1.5}, "guest_limit", "whole number"),
        ({"guest_limit": True}, "guest_limit", "whole number"),
        (
            {"guest_limit": 6},
            "guest_limit",
            "with a capacity of 6, each attendee can bring at most",
        ),
        ({"title": "x" * 10_000}, "title", "200 characters"),
        ({"kind": "party"}, "kind", "choose one of"),
        ({"starts_at": "next thursday"}, "starts_at", "like 2026-12-03T12:00"),
        ({"starts_at": "2026-12-03T12:00:00+01:00"}, "starts_at", "without a UTC offset"),
        ({"visibility": "secret"}, "visibility", "choose one of"),
        ({"online_url": "javascript:alert(1)"}, "online_url", "https://"),
        ({"colour": "red"}, "colour", "not part of the request"),
        ({"ce_hours": 2}, "ce_hours", "only applies to a training"),
        ({"online_url": "https://example.org/" + "x" * 2000}, "online_url", "2,000 characters"),
        ({"honoree_email": "a" * 64 + "@" + "b" * 250 + ".org"}, "honoree_email", "honoree"),
        ({"rrule": "FREQ=MONTHLY;BYMONTH=" + ",".join(["12"] * 200)}, "rrule", "characters"),
        (
            {"starts_at": "9999-12-31T22:00", "ends_at": "9999-12-31T23:00"},
            "starts_at",
            "within ten years",
        ),
        (
            {"rsvp_deadline": "0001-01-01T01:00", "timezone": "Asia/Tokyo"},
            "rsvp_deadline",
            "within ten years",
        ),
    ],
)
def test_bad_event_input_is_a_422_naming_the_field(
    client, stack, organizer, community, changes, field, words
):
    response = schedule(client, organizer, community, **changes)
    assert response.status_code == 422, response.text
    assert response.mimetype == "application/problem+json"
    assert words in response.json["errors"][field]
    assert published(stack, "events.event_scheduled") == []


def test_several_bad_fields_are_reported_together(client, organizer, community):
    response = schedule(client, organizer, community, kind="party", capacity=-3, title="x" * 10_000)
    assert response.status_code == 422
    assert {"kind", "capacity", "title"} <= set(response.json["errors"])


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("kind=peer_lunch", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_a_400(client, organizer, community, body, content_type):
    response = client.post(
        f"/api/communities/{community['slug']}/events",
        data=body,
        headers={**organizer, "Content-Type": content_type},
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["title"]


def test_members_who_are_not_organizers_get_403(client, stack, issue_token, organizer, community):
    sam = member_headers(client, issue_token, organizer, community)
    assert schedule(client, sam, community).status_code == 403
    event = schedule(client, organizer, community).json
    assert client.get(f"/api/events/{event['id']}", headers=sam).status_code == 200
    patch = client.patch(f"/api/events/{event['id']}", json={"title": "Mine"}, headers=sam)
    assert patch.status_code == 403
    cancel = client.post(f"/api/events/{event['id']}/cancel", json={}, headers=sam)
    assert cancel.status_code == 403
    assert schedule(client, {}, community).status_code == 401


def test_unknown_events_are_404(client, organizer):
    response = client.get("/api/events/00000000-0000-0000-0000-000000000000", headers=organizer)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_editing_raises_the_sequence_and_publishes_the_whole_new_state(
    client, stack, organizer, community
):
    event = schedule(client, organizer, community).json
    response = client.patch(
        f"/api/events/{event['id']}",
        json={"starts_at": "2026-12-03T12:30", "ends_at": "2026-12-03T13:30", "capacity": 8},
        headers=organizer,
    )
    assert response.status_code == 200, response.text
    assert response.json["sequence"] == 1
    assert response.json["starts_at"] == "2026-12-03T12:30:00-05:00"
    assert response.json["title"] == LUNCH["title"]
    [update] = published(stack, "events.event_updated")
    assert sorted(update["payload"]["changed"]) == ["capacity", "ends_at", "starts_at"]
    assert update["payload"]["event"]["sequence"] == 1
    assert update["payload"]["event"]["location"] == LUNCH["location"]
    # A change to nothing is no change: no new sequence, no message.
    same = client.patch(f"/api/events/{event['id']}", json={"capacity": 8}, headers=organizer)
    assert same.json["sequence"] == 1
    assert len(published(stack, "events.event_updated")) == 1


def test_the_guest_limit_is_chosen_or_defaults_by_kind_and_is_published(
    client, stack, organizer, community
):
    lunch = schedule(client, organizer, community).json
    assert lunch["guest_limit"] == 1, "a plus one, by default"
    consult = schedule(client, organizer, community, kind="consult_group", title="Consult").json
    assert consult["guest_limit"] == 0, "consult groups are confidential"
    social = schedule(client, organizer, community, kind="social", guest_limit=3).json
    assert social["guest_limit"] == 3
    assert client.get(f"/api/events/{social['id']}", headers=organizer).json["guest_limit"] == 3
    scheduled = {
        message["payload"]["event"]["id"]: message["payload"]["event"]["guest_limit"]
        for message in published(stack, "events.event_scheduled")
    }
    assert scheduled == {lunch["id"]: 1, consult["id"]: 0, social["id"]: 3}


def test_editing_the_guest_limit_and_going_back_to_the_default(client, stack, organizer, community):
    event = schedule(client, organizer, community).json
    url = f"/api/events/{event['id']}"
    two = client.patch(url, json={"guest_limit": 2}, headers=organizer)
    assert two.status_code == 200, two.text
    assert (two.json["guest_limit"], two.json["sequence"]) == (2, 1)
    [update] = published(stack, "events.event_updated")
    assert update["payload"]["changed"] == ["guest_limit"]
    assert update["payload"]["event"]["guest_limit"] == 2
    # A chosen limit stays when the kind changes.
    consult = client.patch(url, json={"kind": "consult_group"}, headers=organizer)
    assert consult.json["guest_limit"] == 2
    # Back to the default, which is the consult group's: no guests.
    default = client.patch(url, json={"guest_limit": None}, headers=organizer)
    assert (default.json["guest_limit"], default.json["sequence"]) == (0, 3)
    # A default follows the kind, and the message says that the limit changed with it.
    lunch = client.patch(url, json={"kind": "peer_lunch"}, headers=organizer)
    assert lunch.json["guest_limit"] == 1
    last = published(stack, "events.event_updated")[-1]["payload"]
    assert sorted(last["changed"]) == ["guest_limit", "kind"]
    assert last["event"]["guest_limit"] == 1
    bad = client.patch(url, json={"guest_limit": 21}, headers=organizer)
    assert bad.status_code == 422
    assert bad.mimetype == "application/problem+json"
    assert set(bad.json["errors"]) == {"guest_limit"}
    assert client.get(url, headers=organizer).json == lunch.json


def test_an_invalid_edit_changes_nothing(client, stack, organizer, community):
    event = schedule(client, organizer, community).json
    response = client.patch(
        f"/api/events/{event['id']}", json={"ends_at": "2026-12-03T10:00"}, headers=organizer
    )
    assert response.status_code == 422
    assert "ends_at" in response.json["errors"]
    assert client.get(f"/api/events/{event['id']}", headers=organizer).json == event
    assert published(stack, "events.event_updated") == []


def test_cancelling_a_series_or_one_occurrence(client, stack, organizer, community):
    series = schedule(
        client,
        organizer,
        community,
        kind="consult_group",
        title="Consult",
        rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=4",
    ).json
    one = client.post(
        f"/api/events/{series['id']}/cancel",
        json={"occurrence": "2026-12-10T12:00"},
        headers=organizer,
    )
    assert one.status_code == 200
    assert one.json["status"] == "scheduled"
    assert one.json["cancelled_occurrences"] == ["2026-12-10T12:00:00-05:00"]
    occurrences = client.get(
        f"/api/communities/{community['slug']}/occurrences?start=2026-12-01&end=2026-12-31",
        headers=organizer,
    ).json
    assert [(o["starts_at"], o["status"]) for o in occurrences] == [
        ("2026-12-03T12:00:00-05:00", "scheduled"),
        ("2026-12-10T12:00:00-05:00", "cancelled"),
        ("2026-12-17T12:00:00-05:00", "scheduled"),
        ("2026-12-24T12:00:00-05:00", "scheduled"),
    ]
    # Cancelling the same occurrence again tells nobody twice.
    client.post(
        f"/api/events/{series['id']}/cancel",
        json={"occurrence": "2026-12-10T12:00"},
        headers=organizer,
    )
    assert len(published(stack, "events.occurrence_cancelled")) == 1
    not_one = client.post(
        f"/api/events/{series['id']}/cancel",
        json={"occurrence": "2026-12-11T12:00"},
        headers=organizer,
    )
    assert not_one.status_code == 422
    assert "not an occurrence" in not_one.json["errors"]["occurrence"]

    whole = client.post(f"/api/events/{series['id']}/cancel", json={}, headers=organizer)
    assert whole.json["status"] == "cancelled"
    [cancelled] = published(stack, "events.event_cancelled")
    assert cancelled["payload"]["event"]["sequence"] == 2
    edit = client.patch(f"/api/events/{series['id']}", json={"title": "x"}, headers=organizer)
    assert edit.status_code == 409


def test_occurrence_cancel_of_a_one_off_event_is_refused(client, organizer, community):
    event = schedule(client, organizer, community).json
    response = client.post(
        f"/api/events/{event['id']}/cancel",
        json={"occurrence": "2026-12-03T12:00"},
        headers=organizer,
    )
    assert response.status_code == 422
    assert "does not repeat" in response.json["errors"]["occurrence"]


def test_occurrences_expand_series_across_the_dst_change(client, organizer, community):
    schedule(
        client,
        organizer,
        community,
        kind="consult_group",
        title="Consult",
        starts_at="2027-03-04T12:00",
        ends_at="2027-03-04T13:30",
        rrule="FREQ=WEEKLY;BYDAY=TH",
    )
    response = client.get(
        f"/api/communities/{community['slug']}/occurrences?start=2027-03-01&end=2027-03-20",
        headers=organizer,
    )
    assert [o["starts_at"] for o in response.json] == [
        "2027-03-04T12:00:00-05:00",
        "2027-03-11T12:00:00-05:00",
        "2027-03-18T12:00:00-04:00",
    ]
    assert response.json[2]["ends_at"] == "2027-03-18T13:30:00-04:00"


def test_occurrence_ranges_are_checked(client, organizer, community):
    base = f"/api/communities/{community['slug']}/occurrences"
    assert client.get(f"{base}?start=soon&end=2027-01-01", headers=organizer).status_code == 422
    backwards = client.get(f"{base}?start=2027-01-02&end=2027-01-01", headers=organizer)
    assert "end" in backwards.json["errors"]
    too_long = client.get(f"{base}?start=2027-01-01&end=2035-01-01", headers=organizer)
    assert too_long.status_code == 422


def test_outsiders_see_only_public_events_of_a_public_community(client, stack, organizer):
    community = client.post(
        "/api/communities",
        json={"name": "Open Network", "timezone": "America/Chicago", "visibility": "public"},
        headers=organizer,
    ).json
    public = schedule(client, organizer, community, visibility="public", title="Open social").json
    private = schedule(client, organizer, community, visibility="private", title="Closed").json
    assert client.get(f"/api/events/{public['id']}").status_code == 200
    assert client.get(f"/api/events/{private['id']}").status_code == 404
    occurrences = client.get(
        f"/api/communities/{community['slug']}/occurrences?start=2026-12-01&end=2026-12-31"
    ).json
    assert [o["event_id"] for o in occurrences] == [public["id"]]
    assert occurrences[0]["starts_at"] == "2026-12-03T12:00:00-06:00"


def test_a_surprise_is_kept_from_its_honoree(client, stack, issue_token, organizer, community):
    priya = member_headers(client, issue_token, organizer, community, email="priya@example.org")
    sam = member_headers(client, issue_token, organizer, community, email="sam@example.org")
    party = schedule(
        client,
        organizer,
        community,
        kind="celebration",
        title="Priya's licensure",
        honoree_email="Priya@Example.org",
        surprise=True,
        capacity=None,
        location=None,
    ).json
    assert client.get(f"/api/events/{party['id']}", headers=sam).status_code == 200
    assert client.get(f"/api/events/{party['id']}", headers=priya).status_code == 404
    url = f"/api/communities/{community['slug']}/occurrences?start=2026-12-01&end=2026-12-31"
    assert [o["event_id"] for o in client.get(url, headers=sam).json] == [party["id"]]
    assert client.get(url, headers=priya).json == []


def test_dates_at_the_edge_of_the_calendar_are_input_errors(client, organizer, community):
    series = schedule(
        client,
        organizer,
        community,
        kind="consult_group",
        title="Consult",
        rrule="FREQ=WEEKLY;BYDAY=TH",
    ).json
    far = client.post(
        f"/api/events/{series['id']}/cancel",
        json={"occurrence": "9999-12-31T23:00"},
        headers=organizer,
    )
    assert far.status_code == 422
    base = f"/api/communities/{community['slug']}/occurrences"
    for query in ("start=2026-01-01&end=9999-12-31", "start=0001-01-01&end=0001-01-02"):
        assert client.get(f"{base}?{query}", headers=organizer).status_code == 422


def test_private_details_of_an_event_are_for_those_who_need_them(
    client, stack, issue_token, organizer
):
    community = client.post(
        "/api/communities",
        json={"name": "Open", "timezone": "UTC", "visibility": "public"},
        headers=organizer,
    ).json
    sam = member_headers(client, issue_token, organizer, community)
    party = schedule(
        client,
        organizer,
        community,
        kind="celebration",
        title="Retirement",
        visibility="public",
        honoree_email="lee@example.org",
        online_url="https://video.example.org/party",
        capacity=None,
        location=None,
    ).json
    anonymous = client.get(f"/api/events/{party['id']}").json
    member = client.get(f"/api/events/{party['id']}", headers=sam).json
    own = client.get(f"/api/events/{party['id']}", headers=organizer).json
    assert (anonymous["online_url"], anonymous["honoree_email"]) == (None, None)
    assert (member["online_url"], member["honoree_email"]) == (party["online_url"], None)
    assert own["honoree_email"] == "lee@example.org"


def test_a_cancel_needs_no_body_from_a_token_holder(client, organizer, community):
    event = schedule(client, organizer, community).json
    response = client.post(f"/api/events/{event['id']}/cancel", headers=organizer)
    assert response.status_code == 200
    assert response.json["status"] == "cancelled"


def test_moving_a_series_moves_its_cancelled_dates(client, stack, organizer, community):
    series = schedule(
        client,
        organizer,
        community,
        kind="consult_group",
        title="Consult",
        rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=4",
    ).json
    client.post(
        f"/api/events/{series['id']}/cancel",
        json={"occurrence": "2026-12-10T12:00"},
        headers=organizer,
    )
    moved = client.patch(
        f"/api/events/{series['id']}",
        json={"starts_at": "2026-12-03T13:00", "ends_at": "2026-12-03T14:00"},
        headers=organizer,
    )
    assert moved.json["cancelled_occurrences"] == ["2026-12-10T13:00:00-05:00"]
    occurrences = client.get(
        f"/api/communities/{community['slug']}/occurrences?start=2026-12-01&end=2026-12-31",
        headers=organizer,
    ).json
    assert [(o["starts_at"][:16], o["status"]) for o in occurrences] == [
        ("2026-12-03T13:00", "scheduled"),
        ("2026-12-10T13:00", "cancelled"),
        ("2026-12-17T13:00", "scheduled"),
        ("2026-12-24T13:00", "scheduled"),
    ]
    [update] = published(stack, "events.event_updated")
    assert update["payload"]["event"]["cancelled_occurrences"] == ["2026-12-10T13:00:00"]
    # Every other week now: the 10th is no longer a date of the series, so nothing stays cancelled.
    fortnightly = client.patch(
        f"/api/events/{series['id']}",
        json={"rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH;COUNT=4"},
        headers=organizer,
    )
    assert fortnightly.json["cancelled_occurrences"] == []
