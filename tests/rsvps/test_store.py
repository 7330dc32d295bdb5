"""RSVPs persist as the seat rules leave them, one per email and occurrence, on both databases."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.rsvps import operations, store
from services.rsvps.seats import CONFIRMED, MAYBE, WAITLISTED, YES, Attendance, Rsvp, Tally
from services.rsvps.store import Store
from shared.testing import thursday

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

# The tests' dates are relative to today: the rsvps service takes answers only for what has not
# begun. Two dates of the consult group by their local start: noon on the first Thursday two weeks
# or more from today in the community's zone, and a week later.
FIRST = thursday().replace(tzinfo=None)
SECOND = FIRST + timedelta(weeks=1)


@pytest.fixture
def event_id(client, organizer, community, stack):
    """A consult group series of two seats, known to the rsvps service through its messages."""
    response = client.post(
        f"/api/communities/{community['slug']}/events",
        json={"kind": "consult_group", "title": "Consult", "starts_at": f"{FIRST:%Y-%m-%dT%H:%M}",
              "ends_at": f"{FIRST + timedelta(hours=1):%Y-%m-%dT%H:%M}",
              "rrule": "FREQ=WEEKLY;BYDAY=TH", "capacity": 2},
        headers=organizer,
    )  # fmt: skip
    stack.flush()
    return response.json["id"]


def rsvps_store(stack):
    return Store(stack.services["rsvps"].engine, stack.services["rsvps"].outbox)


def newcomer(event_id, email, occurrence):
    return Rsvp(
        id=str(uuid.uuid4()), event_id=event_id, occurrence=occurrence, email=email,
        name=email.split("@")[0], phone=None, response="", guests=0, status="",
    )  # fmt: skip


def answer_yes(stack, event_id, email, occurrence, response=YES, guests=0):
    with rsvps_store(stack).begin() as uow:
        event = uow.event(event_id, for_update=True)
        attendance = Attendance(event.capacity, uow.attendance(event_id, occurrence))
        rsvp = newcomer(event_id, email, occurrence)
        outcome = attendance.answer(rsvp, response, guests=guests)
        uow.save_rsvps([outcome.rsvp, *outcome.promoted])
        return outcome.rsvp.id


def test_answers_are_kept_per_occurrence_with_their_place_in_line(stack, event_id):
    first, second = FIRST, SECOND
    for email in ("ana@example.org", "ben@example.org", "cy@example.org"):
        answer_yes(stack, event_id, email, first)
    answer_yes(stack, event_id, "cy@example.org", second)
    with rsvps_store(stack).begin() as uow:
        kept = uow.attendance(event_id, first)
        assert [(r.email, r.status, r.queue_number) for r in kept] == [
            ("ana@example.org", CONFIRMED, 1),
            ("ben@example.org", CONFIRMED, 2),
            ("cy@example.org", WAITLISTED, 3),
        ]
        assert [r.status for r in uow.attendance(event_id, second)] == [CONFIRMED]
        assert uow.attendance(event_id, None) == []
        again = uow.rsvp(kept[2].id)
        assert again == kept[2]
        assert again.occurrence == first


def test_one_answer_per_email_and_occurrence(stack, event_id):
    start = FIRST
    answer_yes(stack, event_id, "ana@example.org", start)
    with pytest.raises(sa.exc.IntegrityError):
        answer_yes(stack, event_id, "ana@example.org", start)


def test_a_promotion_is_saved_with_the_cancellation_that_caused_it(stack, event_id):
    start = FIRST
    ana = answer_yes(stack, event_id, "ana@example.org", start)
    for email in ("ben@example.org", "cy@example.org"):
        answer_yes(stack, event_id, email, start)
    with rsvps_store(stack).begin() as uow:
        event = uow.event(event_id, for_update=True)
        attendance = Attendance(event.capacity, uow.attendance(event_id, start))
        outcome = attendance.cancel(next(r for r in attendance.rsvps if r.id == ana))
        uow.save_rsvps([outcome.rsvp, *outcome.promoted])
    with rsvps_store(stack).begin() as uow:
        assert {r.email: r.status for r in uow.attendance(event_id, start)} == {
            "ana@example.org": "cancelled",
            "ben@example.org": CONFIRMED,
            "cy@example.org": CONFIRMED,
        }


def test_the_database_counts_an_occurrence_as_its_whole_list_does(stack, event_id):
    start = FIRST
    ids = {}
    for email, response, guests in [("ana", YES, 0), ("ben", MAYBE, 0), ("cy", YES, 0),
                                    ("dee", YES, 1), ("eve", YES, 0)]:  # fmt: skip
        ids[email] = answer_yes(stack, event_id, f"{email}@example.org", start, response, guests)
    with rsvps_store(stack).begin() as uow:
        tally, answered = uow.tally(event_id, start, 2, "dee@example.org")
        assert tally == Attendance(2, uow.attendance(event_id, start)).tally()
        assert tally == Tally(capacity=2, confirmed_seats=2, waitlisted=2, maybe=1,
                              last_queue_number=4, smallest_waiting_party=1)  # fmt: skip
        assert answered == ids["dee"]
        assert uow.tally(event_id, SECOND, 2, "dee@example.org") == (Tally(capacity=2), None)


def test_a_line_that_could_move_is_decided_from_the_whole_list(stack, event_id):
    start = FIRST
    for email in ("ana@example.org", "ben@example.org", "cy@example.org"):
        answer_yes(stack, event_id, email, start)
    # A third seat nobody was seated in yet (as if the capacity grew while the line stood
    # still): cy waits but fits, so a newcomer must not take the seat from the numbers alone.
    with stack.services["rsvps"].engine.begin() as conn:
        conn.execute(store.events.update().values(capacity=3))
    ctx = operations.Context(str(uuid.uuid4()), "http://127.0.0.1:8000", "key", datetime.now(UTC))
    values = {"name": "Dee", "email": "dee@example.org", "response": YES, "occurrence": start}
    with rsvps_store(stack).begin() as uow:
        dee = operations.answer(uow, ctx, event_id, values)
    assert (dee.rsvp.status, dee.waitlist_position) == (WAITLISTED, 1)
    with rsvps_store(stack).begin() as uow:
        assert {r.email: r.status for r in uow.attendance(event_id, start)} == {
            "ana@example.org": CONFIRMED, "ben@example.org": CONFIRMED,
            "cy@example.org": CONFIRMED, "dee@example.org": WAITLISTED,
        }  # fmt: skip
