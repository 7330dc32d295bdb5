"""Answering and cancelling through the rsvps API, with no account, on SQLite and PostgreSQL."""

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.events.store import Store as EventsStore
from services.rsvps import store as rsvps_store
from shared.testing import COMMUNITY_ZONE, local, thursday

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

ZONE = COMMUNITY_ZONE  # the community's


# The dates of a weekly series starting with the lunch, as the API names them.
FIRST, SECOND, THIRD, FOURTH = (local(thursday(weeks)) for weeks in range(4))
LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": FIRST,
    "ends_at": local(thursday() + timedelta(hours=1)),
    "capacity": 3,
}


def rsvp(client, event, who, **fields):
    body = {"name": who.title(), "email": f"{who}@example.org", "response": "yes", **fields}
    return client.post(f"/rsvps/api/events/{event['id']}/rsvps", json=body)


def announced(stack):
    """The types of the rsvps service's messages, oldest first, with their RSVP's email."""
    with stack.services["rsvps"].engine.connect() as conn:
        bodies = conn.execute(
            sa.select(rsvps_store.outbox.c.body).order_by(rsvps_store.outbox.c.id)
        ).scalars()
        return [
            (body["type"], body["payload"]["rsvp"]["email"].split("@")[0])
            for body in map(json.loads, bodies)
        ]


def token_of(answer):
    return answer.json["manage_url"].rsplit("/", 1)[1]


def test_the_fourth_person_waits_and_is_promoted_when_someone_cancels(client, stack, schedule):
    lunch = schedule()
    answers = [rsvp(client, lunch, name) for name in ("ana", "ben", "cy", "dee")]
    assert [a.status_code for a in answers] == [201] * 4
    assert [a.json["status"] for a in answers] == ["confirmed"] * 3 + ["waitlisted"]
    assert answers[3].json["waitlist_position"] == 1
    assert answers[0].json["manage_url"].startswith("http://127.0.0.1:8000/rsvps/manage/")

    cancelled = client.post(
        f"/rsvps/api/rsvps/{answers[1].json['id']}/cancel", json={"token": token_of(answers[1])}
    )
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled"
    assert announced(stack) == [
        ("rsvps.rsvp_confirmed", "ana"),
        ("rsvps.rsvp_confirmed", "ben"),
        ("rsvps.rsvp_confirmed", "cy"),
        ("rsvps.rsvp_waitlisted", "dee"),
        ("rsvps.rsvp_cancelled", "ben"),
        ("rsvps.rsvp_promoted", "dee"),
    ]
    # Cancelling again changes nothing and tells nobody twice.
    again = client.post(
        f"/rsvps/api/rsvps/{answers[1].json['id']}/cancel", json={"token": token_of(answers[1])}
    )
    assert again.status_code == 200
    assert len(announced(stack)) == 6


def test_answering_again_changes_the_same_rsvp(client, stack, schedule):
    lunch = schedule()
    first = rsvp(client, lunch, "ana")
    second = rsvp(client, lunch, "ana", response="maybe", email="ANA@example.org")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json["id"] == first.json["id"]
    assert second.json["status"] == "maybe"
    with stack.services["rsvps"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rsvps_store.rsvps)).scalar() == 1


def test_guests_count_against_capacity_and_the_events_limit(client, schedule):
    lunch = schedule(guest_limit=2)
    assert rsvp(client, lunch, "ana", guests=2).json["status"] == "confirmed"
    assert rsvp(client, lunch, "ben", guests=1).json["status"] == "waitlisted"
    too_many = rsvp(client, lunch, "cy", guests=3)
    assert too_many.status_code == 422
    assert "at most 2 guests" in too_many.json["errors"]["guests"]
    more = rsvp(client, lunch, "ana", guests=3)
    assert more.status_code == 422


def test_a_confirmed_party_asking_for_more_guests_than_fit_keeps_its_seat(client, schedule):
    lunch = schedule(guest_limit=2)
    rsvp(client, lunch, "ana")
    rsvp(client, lunch, "ben")
    more = rsvp(client, lunch, "ana", guests=2)
    assert more.status_code == 422
    assert "at most 1 guest" in more.json["errors"]["guests"]
    assert rsvp(client, lunch, "ana", guests=1).json["status"] == "confirmed"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"email": "not-an-email"}, "email", "valid email address"),
        ({"phone": "12345"}, "phone", "valid phone number"),
        ({"response": "perhaps"}, "response", "yes, no or maybe"),
        ({"guests": -1}, "guests", "negative"),
        ({"guests": "two"}, "guests", "whole number"),
        ({"name": ""}, "name", "give your name"),
        ({"occurrence": SECOND}, "occurrence", "does not repeat"),
    ],
)
def test_bad_answers_are_a_422_and_leave_nothing_behind(client, stack, schedule, fields, field,
                                                        words):  # fmt: skip
    lunch = schedule()
    response = rsvp(client, lunch, "ana", **fields)
    assert response.status_code == 422, response.text
    assert words in response.json["errors"][field]
    with stack.services["rsvps"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(rsvps_store.rsvps)).scalar() == 0
    assert announced(stack) == []


def test_a_phone_number_is_kept_in_e164(client, stack, schedule):
    lunch = schedule()
    answer = rsvp(client, lunch, "ana", phone="(202) 555-0143")
    with stack.services["rsvps"].engine.connect() as conn:
        phone = conn.execute(sa.select(rsvps_store.rsvps.c.phone)).scalar()
    assert (answer.status_code, phone) == (201, "+12025550143")


def test_closed_events_take_no_answers(client, organizer, stack, schedule):
    unknown = client.post(
        "/rsvps/api/events/00000000-0000-0000-0000-000000000000/rsvps",
        json={"name": "Ana", "email": "ana@example.org", "response": "yes"},
    )
    assert unknown.status_code == 404
    weeks_ago = thursday(-4)  # a Thursday a week or two ago
    past = schedule(starts_at=local(weeks_ago), ends_at=local(weeks_ago + timedelta(hours=1)))
    assert rsvp(client, past, "ana").status_code == 409
    assert "already started" in rsvp(client, past, "ana").json["title"]
    late = schedule(rsvp_deadline=local(weeks_ago))
    assert "deadline has passed" in rsvp(client, late, "ana").json["title"]
    called_off = schedule()
    client.post(f"/api/events/{called_off['id']}/cancel", headers=organizer)
    stack.flush()
    assert "cancelled" in rsvp(client, called_off, "ana").json["title"]


def test_a_series_is_answered_per_occurrence(client, organizer, stack, schedule):
    group = schedule(kind="consult_group", title="Consult", rrule="FREQ=WEEKLY;BYDAY=TH",
                     capacity=1)  # fmt: skip
    missing = rsvp(client, group, "ana")
    assert "this event repeats" in missing.json["errors"]["occurrence"]
    not_a_date = rsvp(client, group, "ana", occurrence=local(thursday() + timedelta(days=1)))
    assert "not a date of this series" in not_a_date.json["errors"]["occurrence"]
    first = rsvp(client, group, "ana", occurrence=FIRST)
    second = rsvp(client, group, "ana", occurrence=SECOND)
    assert (first.json["status"], second.json["status"]) == ("confirmed", "confirmed")
    assert rsvp(client, group, "ben", occurrence=FIRST).json["status"] == "waitlisted"
    client.post(
        f"/api/events/{group['id']}/cancel", json={"occurrence": THIRD},
        headers=organizer,
    )  # fmt: skip
    stack.flush()
    assert rsvp(client, group, "ana", occurrence=THIRD).status_code == 409


def test_all_upcoming_dates_are_answered_at_once_and_skip_closed_ones(
    client, organizer, stack, schedule
):
    group = schedule(kind="consult_group", title="Consult", rrule="FREQ=WEEKLY;COUNT=4",
                     capacity=1)  # fmt: skip
    client.post(
        f"/api/events/{group['id']}/cancel", json={"occurrence": SECOND},
        headers=organizer,
    )  # fmt: skip
    stack.flush()
    rsvp(client, group, "ben", occurrence=THIRD)

    answers = rsvp(client, group, "ana", all_upcoming=True)
    assert answers.status_code == 201
    assert [
        (a["occurrence"], a["status"], a["waitlist_position"]) for a in answers.json["rsvps"]
    ] == [
        (FIRST, "confirmed", None),
        (THIRD, "waitlisted", 1),
        (FOURTH, "confirmed", None),
    ]
    assert all(a["manage_url"] for a in answers.json["rsvps"])

    again = rsvp(client, group, "ana", response="no", all_upcoming=True)
    assert again.status_code == 200
    assert {a["status"] for a in again.json["rsvps"]} == {"declined"}
    assert rsvp(client, group, "ana", all_upcoming=True, occurrence=FIRST).json["errors"] == {
        "occurrence": "leave occurrence out when answering for all upcoming dates"
    }

    lunch = schedule()
    one_off = rsvp(client, lunch, "ana", all_upcoming=True)
    assert one_off.status_code == 422
    assert "does not repeat" in one_off.json["errors"]["occurrence"]


def test_cancelling_needs_the_manage_links_token(client, schedule):
    lunch = schedule()
    ana, ben = rsvp(client, lunch, "ana"), rsvp(client, lunch, "ben")
    url = f"/rsvps/api/rsvps/{ana.json['id']}/cancel"
    assert client.post(url, json={"token": token_of(ben)}).status_code == 403
    assert client.post(url, json={"token": "forged"}).status_code == 403
    assert client.post(url, json={}).status_code == 422
    assert client.post(url, json={"token": token_of(ana)}).json["status"] == "cancelled"


def test_a_raised_capacity_promotes_and_a_lowered_one_turns_nobody_away(
    client, organizer, stack, schedule
):
    lunch = schedule(capacity=2)
    for name in ("ana", "ben", "cy", "dee"):
        rsvp(client, lunch, name)
    client.patch(f"/api/events/{lunch['id']}", json={"capacity": 3}, headers=organizer)
    stack.flush()
    assert announced(stack)[-1] == ("rsvps.rsvp_promoted", "cy")
    client.patch(f"/api/events/{lunch['id']}", json={"capacity": 1}, headers=organizer)
    stack.flush()
    with stack.services["rsvps"].engine.connect() as conn:
        statuses = dict(
            conn.execute(sa.select(rsvps_store.rsvps.c.email, rsvps_store.rsvps.c.status)).all()
        )
    assert statuses == {
        "ana@example.org": "confirmed", "ben@example.org": "confirmed",
        "cy@example.org": "confirmed", "dee@example.org": "waitlisted",
    }  # fmt: skip
    assert rsvp(client, lunch, "eve").json["status"] == "waitlisted"


def test_the_events_service_shows_the_counts_once_the_messages_flowed(
    client, organizer, community, stack, schedule
):
    lunch = schedule(capacity=2)
    for name in ("ana", "ben", "cy"):
        rsvp(client, lunch, name)
    rsvp(client, lunch, "dee", response="maybe")
    stack.flush()
    shown = client.get(f"/api/events/{lunch['id']}", headers=organizer).json["attendance"]
    assert shown == {"confirmed_seats": 2, "waitlisted": 1, "maybe": 1}
    group = schedule(kind="consult_group", title="Consult", rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=2")
    rsvp(client, group, "ana", occurrence=SECOND)
    stack.flush()
    assert client.get(f"/api/events/{group['id']}", headers=organizer).json["attendance"] is None
    listed = client.get(
        f"/api/communities/{community['slug']}/occurrences"
        f"?start={thursday():%Y-%m-%d}&end={thursday(3):%Y-%m-%d}",
        headers=organizer,
    ).json
    by_start = {(o["event_id"], o["original_start"]): o["attendance"] for o in listed}
    assert by_start[(group["id"], SECOND)]["confirmed_seats"] == 1
    assert by_start[(group["id"], FIRST)]["confirmed_seats"] == 0


def test_older_counts_arriving_late_do_not_replace_newer_ones(client, organizer, stack, schedule):
    lunch = schedule(capacity=5)
    rsvp(client, lunch, "ana")
    rsvp(client, lunch, "ben")
    stack.flush()
    events = stack.services["events"]
    with EventsStore(events.engine, events.outbox).begin() as uow:
        older = {"confirmed_seats": 1, "waitlisted": 0, "maybe": 0, "revision": 1}
        assert not uow.record_attendance(lunch["id"], "", older)
    shown = client.get(f"/api/events/{lunch['id']}", headers=organizer).json["attendance"]
    assert shown["confirmed_seats"] == 2


def test_the_event_page_says_how_many_are_coming(client, organizer, stack, schedule):
    lunch = schedule(capacity=1, visibility="community")
    rsvp(client, lunch, "ana")
    rsvp(client, lunch, "ben")
    rsvp(client, lunch, "cy", response="maybe")
    stack.flush()
    page = client.get(f"/events/{lunch['id']}", headers=organizer)
    assert "1 going · 1 on the waitlist · 1 maybe" in page.text


def test_answering_in_someone_elses_name_does_not_hand_over_their_manage_link(client, schedule):
    lunch = schedule()
    ana = rsvp(client, lunch, "ana")
    impostor = rsvp(client, lunch, "ana", response="yes", name="Not Ana")
    assert impostor.status_code == 200
    assert impostor.json["manage_url"] is None
    assert ana.json["manage_url"] is not None
