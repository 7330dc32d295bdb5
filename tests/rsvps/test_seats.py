"""The seat rules of one occurrence, without any server: capacity, waitlist order, promotion."""

import contextlib
import copy
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.rsvps.seats import (
    CANCELLED,
    CONFIRMED,
    DECLINED,
    MAYBE,
    NO,
    WAITLISTED,
    YES,
    Attendance,
    NotEnoughSeats,
    Rsvp,
    Tally,
)

_ids = itertools.count(1)


def person(name: str) -> Rsvp:
    return Rsvp(
        id=f"r{next(_ids)}", event_id="e1", occurrence=None, email=f"{name}@example.org",
        name=name, phone=None, response="", guests=0, status="",
    )  # fmt: skip


def statuses(attendance: Attendance) -> dict[str, str]:
    return {rsvp.name: rsvp.status for rsvp in attendance.rsvps}


def test_yes_takes_a_seat_for_the_attendee_and_each_guest():
    lunch = Attendance(capacity=4, rsvps=[])
    ana = person("ana")
    outcome = lunch.answer(ana, YES, guests=2)
    assert (outcome.rsvp.status, outcome.previous_status, outcome.promoted) == (CONFIRMED, None, [])
    assert lunch.confirmed_seats == 3
    assert lunch.free_seats == 1


def test_over_capacity_joins_the_waitlist_in_arrival_order():
    lunch = Attendance(capacity=2, rsvps=[])
    ana, ben, cy, dee = (person(n) for n in ("ana", "ben", "cy", "dee"))
    for rsvp in (ana, ben, cy, dee):
        lunch.answer(rsvp, YES, guests=0)
    assert statuses(lunch) == {"ana": CONFIRMED, "ben": CONFIRMED, "cy": WAITLISTED,
                               "dee": WAITLISTED}  # fmt: skip
    assert [lunch.waitlist_position(r) for r in (ana, cy, dee)] == [None, 1, 2]


def test_a_cancellation_promotes_the_next_in_line():
    lunch = Attendance(capacity=2, rsvps=[])
    ana, ben, cy, dee = (person(n) for n in ("ana", "ben", "cy", "dee"))
    for rsvp in (ana, ben, cy, dee):
        lunch.answer(rsvp, YES, guests=0)
    outcome = lunch.cancel(ben)
    assert outcome.previous_status == CONFIRMED
    assert outcome.promoted == [cy]
    assert statuses(lunch) == {"ana": CONFIRMED, "ben": CANCELLED, "cy": CONFIRMED,
                               "dee": WAITLISTED}  # fmt: skip
    assert lunch.waitlist_position(dee) == 1


def test_a_party_too_big_keeps_its_place_while_a_smaller_one_behind_it_is_seated():
    lunch = Attendance(capacity=3, rsvps=[])
    ana, big, cy = person("ana"), person("big"), person("cy")
    lunch.answer(ana, YES, guests=2)  # 3 seats: full
    lunch.answer(big, YES, guests=2)  # waits, needs 3
    lunch.answer(cy, YES, guests=0)  # waits, needs 1
    outcome = lunch.answer(ana, YES, guests=0)  # frees 2 seats: not enough for big
    assert outcome.promoted == [cy]
    assert lunch.waitlist_position(big) == 1
    assert lunch.free_seats == 1
    lunch.cancel(cy)  # 2 free: still not 3
    assert big.status == WAITLISTED
    lunch.cancel(ana)  # 3 free
    assert big.status == CONFIRMED


def test_a_newcomer_that_fits_is_seated_beside_a_larger_waiting_party():
    lunch = Attendance(capacity=3, rsvps=[])
    ana, big, cy = person("ana"), person("big"), person("cy")
    lunch.answer(ana, YES, guests=1)
    lunch.answer(big, YES, guests=3)  # needs 4 of the 1 free: waits
    assert lunch.answer(cy, YES, guests=0).rsvp.status == CONFIRMED


def test_maybe_and_no_take_no_seat_and_free_one():
    lunch = Attendance(capacity=1, rsvps=[])
    ana, ben = person("ana"), person("ben")
    lunch.answer(ana, YES, guests=0)
    lunch.answer(ben, YES, guests=0)
    outcome = lunch.answer(ana, MAYBE, guests=0)
    assert (ana.status, ana.queue_number) == (MAYBE, None)
    assert outcome.promoted == [ben]
    lunch.answer(ben, NO, guests=0)
    assert ben.status == DECLINED
    assert lunch.confirmed_seats == 0


def test_saying_yes_again_after_no_goes_to_the_back_of_the_line():
    lunch = Attendance(capacity=1, rsvps=[])
    ana, ben, cy = person("ana"), person("ben"), person("cy")
    for rsvp in (ana, ben, cy):
        lunch.answer(rsvp, YES, guests=0)
    lunch.answer(ben, NO, guests=0)
    lunch.answer(ben, YES, guests=0)
    assert [r.name for r in lunch.waitlist] == ["cy", "ben"]


def test_changing_guests_while_waiting_keeps_the_place_in_line():
    lunch = Attendance(capacity=1, rsvps=[])
    ana, ben, cy = person("ana"), person("ben"), person("cy")
    for rsvp in (ana, ben, cy):
        lunch.answer(rsvp, YES, guests=0)
    lunch.answer(ben, YES, guests=1)
    assert [r.name for r in lunch.waitlist] == ["ben", "cy"]


def test_fewer_guests_of_a_waiting_party_can_seat_it_as_a_promotion():
    lunch = Attendance(capacity=2, rsvps=[])
    ana, ben = person("ana"), person("ben")
    lunch.answer(ana, YES, guests=0)
    lunch.answer(ben, YES, guests=1)  # needs 2 of 1
    outcome = lunch.answer(ben, YES, guests=0)
    assert outcome.previous_status == WAITLISTED
    assert outcome.promoted == [ben]
    assert ben.status == CONFIRMED


def test_more_guests_than_free_seats_keeps_the_seat_as_it_was():
    lunch = Attendance(capacity=3, rsvps=[])
    ana, ben = person("ana"), person("ben")
    lunch.answer(ana, YES, guests=0)
    lunch.answer(ben, YES, guests=0)
    with pytest.raises(NotEnoughSeats, match="at most 1 guest") as caught:
        lunch.answer(ana, YES, guests=3)
    assert caught.value.most_guests == 1
    assert (ana.status, ana.guests, lunch.confirmed_seats) == (CONFIRMED, 0, 2)
    lunch.answer(ana, YES, guests=1)
    assert lunch.confirmed_seats == 3


def test_raising_capacity_promotes_and_lowering_it_confirms_no_one_new():
    lunch = Attendance(capacity=1, rsvps=[])
    ana, ben, cy = person("ana"), person("ben"), person("cy")
    for rsvp in (ana, ben, cy):
        lunch.answer(rsvp, YES, guests=0)
    assert lunch.resize(2) == [ben]
    assert lunch.resize(1) == []
    assert statuses(lunch) == {"ana": CONFIRMED, "ben": CONFIRMED, "cy": WAITLISTED}
    lunch.cancel(ana)  # back to 1 of 1: still full
    assert cy.status == WAITLISTED
    lunch.cancel(ben)
    assert cy.status == CONFIRMED


def test_no_capacity_means_everyone_who_says_yes_comes():
    open_social = Attendance(capacity=None, rsvps=[])
    for name in ("ana", "ben", "cy"):
        assert open_social.answer(person(name), YES, guests=5).rsvp.status == CONFIRMED
    assert open_social.free_seats is None


# --- The rules hold whatever happens, in any order -----------------------------------------

action = st.one_of(
    st.tuples(
        st.just("answer"),
        st.integers(0, 7),
        st.sampled_from([YES, YES, NO, MAYBE]),
        st.integers(0, 3),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 7)),
    st.tuples(st.just("resize"), st.integers(1, 8)),
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 8), actions=st.lists(action, max_size=40))
def test_seats_are_exact_and_no_one_who_fits_is_left_waiting(capacity, actions):
    lunch = Attendance(capacity=capacity, rsvps=[])
    people = [person(f"p{n}") for n in range(8)]
    for step in actions:
        confirmed_before = {r.id for r in lunch.rsvps if r.holds_seat}
        seats_before = lunch.confirmed_seats
        if step[0] == "answer":
            _, who, response, guests = step
            with contextlib.suppress(NotEnoughSeats):
                lunch.answer(people[who], response, guests)
        elif step[0] == "cancel":
            if people[step[1]] in lunch.rsvps:
                lunch.cancel(people[step[1]])
        else:
            lunch.resize(step[1])
        # Never more seats than capacity, except what an earlier, larger capacity confirmed:
        # then nobody new is seated and the confirmed seats do not grow.
        if lunch.confirmed_seats > lunch.capacity:
            assert {r.id for r in lunch.rsvps if r.holds_seat} <= confirmed_before
            assert lunch.confirmed_seats <= seats_before
        # No seat stays empty while a waiting party fits in it.
        free = lunch.free_seats
        assert all(waiting.seats > free for waiting in lunch.waitlist)
        # Only yes holds or waits for a seat; the line has one place per waiting party.
        for rsvp in lunch.rsvps:
            if rsvp.status in (CONFIRMED, WAITLISTED):
                assert rsvp.response == YES
        positions = [lunch.waitlist_position(r) for r in lunch.waitlist]
        assert positions == list(range(1, len(positions) + 1))
        # Every decision leaves the occurrence settled, so its numbers can decide a newcomer.
        assert lunch.tally().settled


# --- A newcomer decided from the numbers, as from the whole list --------------------------


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.one_of(st.none(), st.integers(1, 8)),
    actions=st.lists(action, max_size=40),
    response=st.sampled_from([YES, YES, NO, MAYBE]),
    guests=st.integers(0, 3),
)
def test_a_tally_decides_a_first_answer_exactly_as_the_whole_list(
    capacity, actions, response, guests
):
    lunch = Attendance(capacity=capacity, rsvps=[])
    people = [person(f"p{n}") for n in range(8)]
    for step in actions:
        if step[0] == "answer":
            with contextlib.suppress(NotEnoughSeats):
                lunch.answer(people[step[1]], step[2], step[3])
        elif step[0] == "cancel":
            if people[step[1]] in lunch.rsvps:
                lunch.cancel(people[step[1]])
        else:
            lunch.resize(step[1])
    tally = lunch.tally()
    newcomer = person("new")
    by_list = copy.deepcopy(lunch)
    expected = by_list.answer(copy.deepcopy(newcomer), response, guests)
    outcome = tally.answer(newcomer, response, guests)
    assert (outcome.previous_status, outcome.promoted) == (None, [])
    assert expected.promoted == []
    assert outcome.rsvp == expected.rsvp
    assert tally == by_list.tally()
    assert tally.waitlist_position(newcomer) == by_list.waitlist_position(expected.rsvp)


def test_an_unsettled_tally_decides_nothing():
    # A waiting party that fits the free seats (a capacity raised while the line stood still):
    # only the whole list can say who moves.
    unsettled = Tally(capacity=3, confirmed_seats=1, waitlisted=1, smallest_waiting_party=2)
    assert not unsettled.settled
    with pytest.raises(ValueError, match="whole list"):
        unsettled.answer(person("ana"), YES, guests=0)
    assert Tally(capacity=None, waitlisted=1, smallest_waiting_party=1).settled is False


def test_a_tally_decides_first_answers_only():
    lunch = Attendance(capacity=2, rsvps=[])
    ana = person("ana")
    lunch.answer(ana, YES, guests=0)
    with pytest.raises(ValueError, match="first answers only"):
        lunch.tally().answer(ana, NO, guests=0)
