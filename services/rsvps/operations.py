"""Use cases of the rsvps service: answering and cancelling, shared by the API and (later) the
pages. Each runs in one unit of work that holds the event's lock, so seat decisions for one
event happen one at a time across every server process, and the messages they cause commit
with them."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.rsvps import messages, roster
from services.rsvps.model import Community, Event
from services.rsvps.seats import (
    CANCELLED,
    NO,
    WAITLISTED,
    Attendance,
    NotEnoughSeats,
    Outcome,
    Rsvp,
    Tally,
)
from services.rsvps.store import UnitOfWork
from shared.links import manage_rsvp_url


class NotFound(LookupError):
    pass


class Closed(RuntimeError):
    """The event takes no answers now: cancelled, started, or past its RSVP deadline."""


class Invalid(ValueError):
    """Input a person can fix: `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {value}" for key, value in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Context:
    correlation_id: str
    base_url: str
    secret_key: str
    now: datetime


@dataclass(frozen=True)
class Answered:
    rsvp: Rsvp
    created: bool
    waitlist_position: int | None
    manage_url: str
    # The date answered for, by its original local start now, as the API names it.
    original_start: datetime | None


def answer(
    uow: UnitOfWork,
    ctx: Context,
    event_id: str,
    values: dict[str, Any],
    series_answer: dict[str, Any] | None = None,
) -> Answered:
    """A new or changed answer of one person (by email) for one event or occurrence; part of
    `series_answer` (see messages.SeriesAnswer) if it is one of an "all upcoming" answer."""
    event = uow.event(event_id, for_update=True)
    if event is None:
        raise NotFound("there is no such event")
    occurrence = _occurrence(event, values.get("occurrence"))
    _check_open(event, occurrence, ctx.now)
    # A "no" brings nobody; a "maybe" says how many might come, within the same limit.
    guests = 0 if values["response"] == NO else values.get("guests") or 0
    limit = event.guest_limit or 0
    if guests > limit:
        allowed = "no guests" if limit == 0 else f"at most {limit} guest{'s' * (limit > 1)}"
        raise Invalid({"guests": f"this event allows {allowed} per attendee"})
    email = values["email"].lower()
    tally, answered_before = uow.tally(event.id, occurrence, event.capacity, email)
    seats: Attendance | Tally = tally
    rsvp: Rsvp | None = None
    if answered_before is not None or not tally.settled:
        # A changed answer can free seats, and an unsettled line can move: both are decided
        # from the whole list. A first answer (the common case) needs only the numbers.
        seats = Attendance(event.capacity, uow.attendance(event.id, occurrence))
        rsvp = next((known for known in seats.rsvps if known.email == email), None)
    created = rsvp is None
    if rsvp is None:
        rsvp = Rsvp(
            id=str(uuid.uuid4()), event_id=event.id, occurrence=occurrence, email=email,
            name=values["name"], phone=values.get("phone"), response="", guests=0, status="",
        )  # fmt: skip
    else:
        rsvp.name = values["name"]
        rsvp.phone = values.get("phone") or rsvp.phone
    try:
        outcome = seats.answer(rsvp, values["response"], guests)
    except NotEnoughSeats as error:
        raise Invalid({"guests": str(error)}) from None
    _record(uow, ctx, seats, outcome, series_answer)
    return Answered(
        rsvp=outcome.rsvp,
        created=created,
        waitlist_position=seats.waitlist_position(outcome.rsvp),
        manage_url=manage_url(ctx, outcome.rsvp.id),
        original_start=event.original_of(occurrence) if occurrence else None,
    )


def cancel(uow: UnitOfWork, ctx: Context, rsvp_id: str) -> Answered:
    """Cancel an RSVP: its seats go to the waitlist. Cancelling twice changes nothing."""
    known = uow.rsvp(rsvp_id)
    if known is None:
        raise NotFound("there is no such RSVP")
    event = uow.event(known.event_id, for_update=True)
    assert event is not None
    attendance = Attendance(event.capacity, uow.attendance(event.id, known.occurrence))
    rsvp = next(r for r in attendance.rsvps if r.id == rsvp_id)
    if rsvp.status != CANCELLED:
        _record(uow, ctx, attendance, attendance.cancel(rsvp))
    return Answered(
        rsvp=rsvp,
        created=False,
        waitlist_position=None,
        manage_url=manage_url(ctx, rsvp.id),
        original_start=event.original_of(rsvp.occurrence) if rsvp.occurrence else None,
    )


def _occurrence(event: Event, given: datetime | None) -> datetime | None:
    """Which date an answer is for: a series needs one of its dates, named by its original local
    start (as people and the API name it); a one-off none. The date's key (model.Event)."""
    if event.rrule is None:
        if given is not None and given != event.local_start:
            raise Invalid({"occurrence": "this event does not repeat: leave occurrence out"})
        return None
    if given is None:
        raise Invalid(
            {"occurrence": "this event repeats: say which date, by its local start "
             f"(like {event.local_start:%Y-%m-%dT%H:%M})"}
        )  # fmt: skip
    if not event.series.is_occurrence(given):
        raise Invalid({"occurrence": f"{given:%Y-%m-%dT%H:%M} is not a date of this series"})
    return event.key_of(given)


def _check_open(event: Event, occurrence: datetime | None, now: datetime) -> None:
    """Refuse answers for the event, or its date named by key `occurrence`, if it takes none."""
    if event.occurrence_cancelled(occurrence) if occurrence else event.cancelled:
        raise Closed("this event is cancelled, so it takes no answers")
    # A date moved on its own closes to answers when it now begins.
    starts = event.start_of(occurrence)
    if starts <= now:
        raise Closed("this event has already started, so it takes no answers")
    if event.rsvp_deadline is not None and now > event.rsvp_deadline:
        raise Closed("the RSVP deadline has passed; ask the organizer if there is still room")


def seat_waitlists(uow: UnitOfWork, ctx: Context, event: Event) -> list[Rsvp]:
    """Seat whoever now fits, in every coming occurrence with a waitlist (after the event's
    capacity changed, say); the promoted, each announced."""
    promoted: list[Rsvp] = []
    for occurrence in uow.occurrences_waiting(event.id):
        try:
            _check_open(event, occurrence, ctx.now)
        except Closed:
            continue  # a past or cancelled occurrence seats nobody
        attendance = Attendance(event.capacity, uow.attendance(event.id, occurrence))
        seated = attendance.seat_waitlist()
        if seated:
            uow.save_rsvps(seated)
            _announce(uow, ctx, attendance, [(rsvp, messages.PROMOTED) for rsvp in seated])
        promoted += seated
    return promoted


def _record(
    uow: UnitOfWork,
    ctx: Context,
    attendance: Attendance | Tally,
    outcome: Outcome,
    series_answer: dict[str, Any] | None = None,
) -> None:
    """Save what changed and announce it: the party's own new state (with the series answer it
    is part of, if any), then each promotion."""
    uow.save_rsvps([outcome.rsvp, *outcome.promoted])
    changes = [(rsvp, messages.PROMOTED) for rsvp in outcome.promoted]
    if outcome.rsvp not in outcome.promoted:
        changes.insert(0, (outcome.rsvp, messages.TYPE_OF_STATUS[outcome.rsvp.status]))
    extra = {outcome.rsvp.id: {"series_answer": series_answer}} if series_answer else {}
    _announce(uow, ctx, attendance, changes, extra)


def _announce(
    uow: UnitOfWork,
    ctx: Context,
    attendance: Attendance | Tally,
    changes: list[tuple[Rsvp, str]],
    extra: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Publish each changed RSVP's whole state, with the occurrence's seat counts after this one
    decision, which are the same for all of them and take one revision; `extra`: more of the
    payload, by RSVP id."""
    first = changes[0][0]
    tally = attendance if isinstance(attendance, Tally) else attendance.tally()
    counts = {
        "occurrence": first.occurrence.isoformat() if first.occurrence else None,
        "revision": uow.next_seat_revision(first.event_id),
        "capacity": tally.capacity,
        "confirmed_seats": tally.confirmed_seats,
        "waitlisted": tally.waitlisted,
        "maybe": tally.maybe,
    }
    for rsvp, type in changes:
        position = attendance.waitlist_position(rsvp) if rsvp.status == WAITLISTED else None
        state = messages.rsvp_state(rsvp, position, manage_url(ctx, rsvp.id))
        payload = {"rsvp": state, "counts": counts, **(extra or {}).get(rsvp.id, {})}
        uow.publish(messages.message(type, payload, ctx.correlation_id))


@functools.lru_cache(maxsize=256)
def _signed_manage_url(secret_key: str, base_url: str, rsvp_id: str) -> str:
    return manage_rsvp_url(secret_key, base_url, rsvp_id)


def manage_url(ctx: Context, rsvp_id: str) -> str:
    """An RSVP's manage link; one answer needs it twice (its message and its reply), and
    signing costs a key derivation and an HMAC each time."""
    return _signed_manage_url(ctx.secret_key, ctx.base_url, rsvp_id)


# How far ahead "all upcoming dates" reaches: a series without end is answered for a year.
ALL_UPCOMING = timedelta(days=366)


def open_dates(event: Event, now: datetime) -> list[datetime]:
    """The dates of a series that take answers now (not started, not cancelled, before the
    deadline), within ALL_UPCOMING, by their keys."""
    dates = []
    for start in event.series.starts(until=now + ALL_UPCOMING):
        if start.astimezone(UTC) > now + ALL_UPCOMING:
            break
        key = event.key_of(start.replace(tzinfo=None))
        if closed_reason(event, key, now) is None:
            dates.append(key)
    return dates


def answer_all(
    uow: UnitOfWork, ctx: Context, event_id: str, values: dict[str, Any]
) -> list[Answered]:
    """The same answer for every date of a series that takes answers now: each date keeps its
    own RSVP, seats and waitlist. All or nothing: if one date refuses (too many guests for a
    confirmed seat, say), no date changes."""
    event = uow.event(event_id, for_update=True)
    if event is None:
        raise NotFound("there is no such event")
    if event.rrule is None:
        raise Invalid({"occurrence": 'this event does not repeat: answer without "all upcoming"'})
    dates = open_dates(event, ctx.now)
    if not dates:
        raise Closed("no date of this series takes answers now")
    together = {"id": str(uuid.uuid4()), "dates": len(dates)}
    answers = []
    for key in dates:
        original = event.original_of(key)
        try:
            answers.append(answer(uow, ctx, event_id, {**values, "occurrence": original}, together))
        except Invalid as error:
            day = event.local_start_of(key)
            raise Invalid(
                {field: f"on {day:%a} {day.day} {day:%b}, {message}"
                 for field, message in error.errors.items()}
            ) from None  # fmt: skip
    return answers


def closed_reason(event: Event, occurrence: datetime | None, now: datetime) -> str | None:
    """Why the event (or one date of a series) takes no answers now, or None if it does."""
    try:
        _check_open(event, occurrence, now)
    except Closed as closed:
        return str(closed)
    return None


@dataclass(frozen=True)
class Current:
    """An RSVP as its manage page shows it: with its event and its place in line."""

    rsvp: Rsvp
    event: Event
    waitlist_position: int | None
    closed: str | None  # why it can no longer change, if it can't


def current(uow: UnitOfWork, ctx: Context, rsvp_id: str) -> Current:
    known = uow.rsvp(rsvp_id)
    if known is None:
        raise NotFound("there is no such RSVP")
    event = uow.event(known.event_id)
    assert event is not None
    position = None
    if known.status == WAITLISTED:
        attendance = Attendance(event.capacity, uow.attendance(event.id, known.occurrence))
        position = attendance.waitlist_position(known)
    return Current(known, event, position, closed_reason(event, known.occurrence, ctx.now))


# What organizers see


class SignInRequired(PermissionError):
    """Nobody known is asking: no session, or an API token this service has not learned."""


class Forbidden(PermissionError):
    """Someone known is asking for what is not theirs to see."""


@dataclass(frozen=True)
class Attendees:
    event: Event
    community: Community | None  # None until the community's first member message arrives
    occurrences: list[roster.OccurrenceRoster]


def attendees(
    uow: UnitOfWork, member_id: str | None, event_id: str, occurrence: datetime | None = None
) -> Attendees:
    """An event's lists for an organizer of its community: those of `occurrence` (the original
    local start of a date of a series; empty lists if it has no RSVPs), or else of every
    occurrence that has RSVPs (a one-off event always has its one)."""
    if member_id is None:
        raise SignInRequired("sign in as an organizer of this event's community")
    event = uow.event(event_id)
    if event is None:
        raise NotFound("there is no such event")
    if not roster.may_see_attendees(uow.role_of(event.community_id, member_id)):
        raise Forbidden("only the organizers of this event's community see who is coming")
    if occurrence is None:
        asked: list[datetime | None] = [] if event.rrule else [None]
        answers = uow.answers_of(event.id)
    else:
        key = _occurrence(event, occurrence)
        asked = [key]
        answers = uow.answers_of(event.id, key)
    return Attendees(
        event=event,
        community=uow.community(event.community_id),
        occurrences=roster.rosters(event, answers, asked),
    )
