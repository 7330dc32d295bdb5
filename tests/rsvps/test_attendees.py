"""Organizers see who is coming — as JSON, a page and a CSV file — and nobody else does. The
rsvps service tells organizers apart only from what the events service's messages taught it:
memberships, roles and the digests of API tokens."""

import csv
import io
import json
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from services.events import demo, operations
from services.events.store import Store as EventsStore
from services.events.store import api_tokens as events_api_tokens
from services.events.store import outbox as events_outbox
from services.rsvps import store as rsvps_store
from shared.links import sign_in_url
from shared.testing import COMMUNITY_ZONE, local, thursday
from shared.tokens import digest

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

ZONE = COMMUNITY_ZONE  # the community's


# The dates of the weekly series (and the lunch, on the first), as the API names them.
FIRST, SECOND, THIRD = (local(thursday(weeks)) for weeks in range(3))
LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch at Juniper Café",
    "starts_at": FIRST,
    "ends_at": local(thursday() + timedelta(hours=1)),
    "capacity": 3,
    "guest_limit": 2,
}
CORRELATION_ID = "5b0a8a53-4ad4-4f6e-9b67-1c8c0d5a3c11"
WEEKLY = {
    "kind": "consult_group",
    "title": "Consult group",
    "rrule": "FREQ=WEEKLY;BYDAY=TH;COUNT=4",
    "capacity": 2,
    "guest_limit": 0,
}


@pytest.fixture
def member(client, stack, organizer, community, issue_token):
    """Authorization headers of Sam, a plain member of the community."""
    add_member(client, organizer, community, "sam@example.org", "member")
    headers = {"Authorization": f"Bearer {issue_token('sam@example.org')}"}
    stack.flush()
    return headers


def add_member(client, organizer, community, email, role):
    response = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": email, "name": email.split("@")[0].title(), "role": role},
        headers=organizer,
    )
    assert response.status_code in (200, 201), response.text


def rsvp(client, event, who, **fields):
    body = {"name": who.title(), "email": f"{who}@example.org", "response": "yes", **fields}
    response = client.post(f"/rsvps/api/events/{event['id']}/rsvps", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json


def attendees(client, event, headers=None, **query):
    return client.get(
        f"/rsvps/api/events/{event['id']}/rsvps", query_string=query, headers=headers or {}
    )


def names(entries):
    return [entry["name"] for entry in entries]


def sign_in(client, stack, email):
    """Sign in as a person does: ask for the link, open it from the email, press the button."""
    assert client.submit("/sign-in", {"email": email}).status_code == 200
    with stack.services["events"].engine.connect() as conn:
        bodies = conn.execute(
            sa.select(events_outbox.c.body).where(
                events_outbox.c.type == "events.sign_in_requested"
            )
        ).scalars()
        link_ids = [
            body["payload"]["link_id"]
            for body in map(json.loads, bodies)
            if body["payload"]["member"]["email"] == email
        ]
    path = urlsplit(sign_in_url(stack.config.secret_key, "", link_ids[-1])).path
    assert client.submit(path, {}).status_code == 302


# --- Who may see the lists -------------------------------------------------------------------


def test_only_organizers_get_the_lists(client, stack, organizer, member, schedule):
    lunch = schedule()
    rsvp(client, lunch, "ana")

    nobody = attendees(client, lunch)
    assert nobody.status_code == 401
    assert nobody.mimetype == "application/problem+json"
    assert attendees(client, lunch, {"Authorization": "Bearer made-up"}).status_code == 401
    assert attendees(client, lunch, member).status_code == 403
    assert "ana@example.org" not in attendees(client, lunch, member).text
    assert attendees(client, {"id": "no-such-event"}, organizer).status_code == 404

    answer = attendees(client, lunch, organizer)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert names(answer.json["occurrences"][0]["confirmed"]) == ["Ana"]


def test_a_new_token_and_a_new_role_count_once_their_messages_arrive(
    client, stack, organizer, community, issue_token, schedule
):
    lunch = schedule()
    token = {"Authorization": f"Bearer {issue_token('sam@example.org', 'Sam Rivera')}"}
    add_member(client, organizer, community, "sam@example.org", "organizer")
    # The rsvps service asks no one: until the messages arrive it knows neither token nor role.
    assert attendees(client, lunch, token).status_code == 401
    stack.flush()
    assert attendees(client, lunch, token).status_code == 200

    add_member(client, organizer, community, "sam@example.org", "member")
    stack.flush()
    assert attendees(client, lunch, token).status_code == 403


def test_tokens_travel_only_as_their_digest(stack, issue_token):
    token = issue_token("sam@example.org")
    with stack.services["events"].engine.connect() as conn:
        bodies = conn.execute(
            sa.select(events_outbox.c.body).where(events_outbox.c.type == "events.api_token_issued")
        ).scalars()
        payloads = [json.loads(body)["payload"] for body in bodies]
    assert [payload["token_hash"] for payload in payloads] == [digest(token)]
    assert token not in json.dumps(payloads)


def test_granting_the_dev_token_again_at_every_start_changes_nothing(
    client, stack, organizer, community, schedule
):
    lunch = schedule()
    add_member(client, organizer, community, demo.ORGANIZER, "organizer")
    events = stack.services["events"]
    for _ in range(2):
        with EventsStore(events.engine, events.outbox).begin() as uow:
            demo.grant_dev_token(uow, "dev", CORRELATION_ID)
        stack.flush()
    with events.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events_api_tokens)).scalar() == 2
    with stack.services["rsvps"].engine.connect() as conn:
        kept = conn.execute(sa.select(rsvps_store.api_tokens.c.token_hash)).scalars().all()
    assert digest("dev") in kept and len(kept) == 2
    assert attendees(client, lunch, {"Authorization": "Bearer dev"}).status_code == 200

    # The same token for someone else is refused.
    with (
        pytest.raises(operations.Conflict),
        EventsStore(events.engine, events.outbox).begin() as uow,
    ):
        sam = operations.ensure_member(uow, "sam@example.org")
        operations.grant_api_token(uow, sam, "dev", CORRELATION_ID)


def test_a_signed_in_organizer_uses_the_session_cookie(client, stack, organizer, schedule):
    lunch = schedule()
    rsvp(client, lunch, "ana")
    sign_in(client, stack, "dana@example.org")
    answer = attendees(client, lunch)
    assert answer.status_code == 200
    assert names(answer.json["occurrences"][0]["confirmed"]) == ["Ana"]


# --- What the lists say ----------------------------------------------------------------------


def test_the_lists_in_status_and_waitlist_order_with_seats_and_totals(client, organizer, schedule):
    lunch = schedule()
    rsvp(client, lunch, "ben")
    rsvp(client, lunch, "ana", guests=1, phone="202-555-0143")
    rsvp(client, lunch, "dee", guests=1)
    rsvp(client, lunch, "cy")
    rsvp(client, lunch, "eve", response="maybe", guests=2)
    rsvp(client, lunch, "fay", response="no")
    gus = rsvp(client, lunch, "gus")
    token = gus["manage_url"].rsplit("/", 1)[1]
    cancelled = client.post(f"/rsvps/api/rsvps/{gus['id']}/cancel", json={"token": token})
    assert cancelled.status_code == 200

    answer = attendees(client, lunch, organizer)
    assert answer.status_code == 200
    body = answer.json
    assert body["event_id"] == lunch["id"]
    (listed,) = body["occurrences"]
    assert listed["occurrence"] is None
    assert listed["starts_at"] == thursday().isoformat()  # like "2026-12-03T12:00:00-05:00"
    # Going sorted by name; the waitlist in the order it will be seated; cancelled not listed.
    assert names(listed["confirmed"]) == ["Ana", "Ben"]
    assert names(listed["waitlisted"]) == ["Dee", "Cy"]
    assert [e["waitlist_position"] for e in listed["waitlisted"]] == [1, 2]
    assert names(listed["maybe"]) == ["Eve"]
    assert names(listed["declined"]) == ["Fay"]
    ana = listed["confirmed"][0]
    assert ana["email"] == "ana@example.org"
    assert ana["phone"] == "+12025550143"
    assert (ana["guests"], ana["seats"], ana["status"]) == (1, 2, "confirmed")
    assert ana["updated_at"].endswith("+00:00")
    assert (listed["maybe"][0]["guests"], listed["maybe"][0]["seats"]) == (2, 0)
    assert listed["totals"] == {
        "capacity": 3,
        "confirmed_seats": 3,
        "free_seats": 0,
        "waitlisted_seats": 3,
        "confirmed": 2,
        "waitlisted": 2,
        "maybe": 1,
        "declined": 1,
    }


def test_a_series_is_listed_per_occurrence_or_for_the_one_asked(client, organizer, schedule):
    group = schedule(**WEEKLY)
    for who in ("ana", "ben", "cy"):
        rsvp(client, group, who, occurrence=FIRST)
    rsvp(client, group, "dee", occurrence=SECOND)

    every = attendees(client, group, organizer).json["occurrences"]
    assert [listed["occurrence"] for listed in every] == [FIRST, SECOND]
    assert names(every[0]["waitlisted"]) == ["Cy"]
    assert names(every[1]["confirmed"]) == ["Dee"]

    (one,) = attendees(client, group, organizer, occurrence=SECOND).json["occurrences"]
    assert names(one["confirmed"]) == ["Dee"]
    (empty,) = attendees(client, group, organizer, occurrence=THIRD).json["occurrences"]
    assert empty["confirmed"] == [] and empty["totals"]["confirmed_seats"] == 0
    friday = local(thursday(1) + timedelta(days=1))
    not_a_date = attendees(client, group, organizer, occurrence=friday)
    assert not_a_date.status_code == 422
    assert "not a date of this series" in not_a_date.json["errors"]["occurrence"]
    assert attendees(client, group, organizer, occurrence="soon").status_code == 422


# --- CSV ---------------------------------------------------------------------------------------


def test_the_csv_has_a_row_per_rsvp_and_no_formulas(client, organizer, schedule):
    lunch = schedule()
    rsvp(client, lunch, "ana", guests=1, phone="202-555-0143")
    rsvp(client, lunch, "ben", name='=HYPERLINK("http://evil.example","Click")')
    rsvp(client, lunch, "cy", name="@SUM(A1)")
    rsvp(client, lunch, "dee", guests=1)
    rsvp(client, lunch, "eve", response="no", name="-2+3")

    response = client.get(f"/rsvps/events/{lunch['id']}/attendees.csv", headers=organizer)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="peer-lunch-at-juniper-cafe-attendees.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == [
        "occurrence", "status", "waitlist_position", "name", "email", "phone", "response",
        "guests", "seats", "answered_at", "updated_at",
    ]  # fmt: skip
    by_email = {row[4]: row for row in rows[1:]}
    assert len(rows) == 6
    assert [row[1] for row in rows[1:]] == ["confirmed"] * 2 + ["waitlisted"] * 2 + ["declined"]
    assert by_email["ana@example.org"][:9] == [
        FIRST, "confirmed", "", "Ana", "ana@example.org", "'+12025550143", "yes",
        "1", "2",
    ]  # fmt: skip
    assert by_email["cy@example.org"][1:3] == ["waitlisted", "1"]
    assert by_email["dee@example.org"][1:3] == ["waitlisted", "2"]
    assert by_email["ben@example.org"][3] == '\'=HYPERLINK("http://evil.example","Click")'
    assert by_email["cy@example.org"][3] == "'@SUM(A1)"
    assert by_email["eve@example.org"][3] == "'-2+3"
    # When Ana last answered, in the event's zone (like "2026-11-23T09:30:00-05:00").
    updated_at = datetime.fromisoformat(by_email["ana@example.org"][10])
    assert updated_at.utcoffset() == updated_at.astimezone(ZONE).utcoffset()


def test_the_csv_of_one_date_and_who_may_download_it(client, stack, organizer, member, schedule):
    group = schedule(**WEEKLY)
    rsvp(client, group, "ana", occurrence=FIRST)
    rsvp(client, group, "ben", occurrence=SECOND)
    path = f"/rsvps/events/{group['id']}/attendees.csv"

    one = client.get(path, query_string={"occurrence": SECOND}, headers=organizer)
    assert (
        f"consult-group-{thursday(1):%Y-%m-%d}-attendees.csv" in one.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(one.data.decode("utf-8-sig"))))
    assert [row[3] for row in rows[1:]] == ["Ben"]
    every = client.get(path, headers=organizer)
    assert len(list(csv.reader(io.StringIO(every.data.decode("utf-8-sig"))))) == 3

    assert client.get(path, headers=member).status_code == 403
    assert client.get(path, headers={"Authorization": "Bearer made-up"}).status_code == 401
    signed_out = client.get(path)
    assert signed_out.status_code == 302
    assert (
        signed_out.headers["Location"]
        == f"/sign-in?next=%2Frsvps%2Fevents%2F{group['id']}%2Fattendees.csv"
    )


# --- The page ----------------------------------------------------------------------------------


def test_the_organizers_page_shows_each_list(client, stack, organizer, schedule):
    lunch = schedule()
    rsvp(client, lunch, "ana", guests=2)
    rsvp(client, lunch, "ben", guests=1)
    rsvp(client, lunch, "cy", name="Cy <script>alert(1)</script>")
    rsvp(client, lunch, "eve", response="maybe")
    rsvp(client, lunch, "fay", response="no")
    sign_in(client, stack, "dana@example.org")

    page = client.get(f"/rsvps/events/{lunch['id']}/attendees")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Who's coming</h1>" in text
    assert 'href="/static/hearth.css"' in text  # in the shared layout
    for heading in ("Going", "Waitlist", "Maybe", "Not going"):
        assert f">{heading} <span" in text
    going = text[text.index('id="confirmed-heading"') : text.index('id="waitlisted-heading"')]
    assert "Ana" in going and "ana@example.org" in going and "Ben" not in going
    waiting = text[text.index('id="waitlisted-heading"') : text.index('id="maybe-heading"')]
    assert waiting.index("Ben") < waiting.index("Cy &lt;script&gt;")
    assert "<script>" not in text
    assert "Eve" in text[text.index('id="maybe-heading"') : text.index('id="declined-heading"')]
    assert "Fay" in text[text.index('id="declined-heading"') :]
    assert "<caption" in text and '<th scope="col">Name</th>' in text
    assert "<dd>3 of 3</dd>" in text
    assert f'href="/rsvps/events/{lunch["id"]}/attendees.csv"' in text
    assert "Download CSV" in text
    assert f'href="/events/{lunch["id"]}"' in text


def test_a_series_page_chooses_among_its_dates(client, stack, organizer, schedule):
    group = schedule(**WEEKLY)
    rsvp(client, group, "ana", occurrence=SECOND)
    rsvp(client, group, "ben", occurrence=THIRD)
    sign_in(client, stack, "dana@example.org")
    path = f"/rsvps/events/{group['id']}/attendees"

    first = client.get(path).text  # the next date with answers
    day = thursday(1)  # like "Thursday 10 December 2026, 12:00 PM"
    assert f"{day:%A} {day.day} {day:%B %Y}, 12:00 PM" in first
    assert "Ana" in first and "Ben" not in first
    assert f'<option value="{THIRD}">' in first
    assert f'href="{path}.csv?occurrence={quote(SECOND, safe="")}"' in first

    chosen = client.get(path, query_string={"occurrence": THIRD}).text
    assert "Ben" in chosen and "Ana" not in chosen
    assert f'<option value="{THIRD}" selected>' in chosen
    friday = local(thursday(2) + timedelta(days=1))
    assert client.get(path, query_string={"occurrence": friday}).status_code == 404


def test_nobody_else_sees_who_is_coming(client, stack, organizer, community, schedule):
    lunch = schedule(visibility="community")
    rsvp(client, lunch, "ana")
    path = f"/rsvps/events/{lunch['id']}/attendees"

    signed_out = client.get(path)
    assert signed_out.status_code == 302
    assert (
        signed_out.headers["Location"]
        == f"/sign-in?next=%2Frsvps%2Fevents%2F{lunch['id']}%2Fattendees"
    )

    add_member(client, organizer, community, "sam@example.org", "member")
    stack.flush()
    sign_in(client, stack, "sam@example.org")
    refused = client.get(path)
    assert refused.status_code == 403
    assert "organizers" in refused.text and "Ana" not in refused.text
    # The event page shows members counts, not names.
    event_page = client.get(f"/events/{lunch['id']}")
    assert event_page.status_code == 200
    assert "1 going" in event_page.text and "ana@example.org" not in event_page.text
