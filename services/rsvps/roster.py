"""Who is coming, as organizers see it: per occurrence, who is going (with their guests and
seats), who waits and in which order, who said maybe and who said no.

Attendee lists are for a community's organizers only; everyone else sees counts (the events
service shows them from the seat messages). Cancelled RSVPs are not listed: they hold nothing and
their people said they are not coming.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.rsvps.model import Event
from services.rsvps.seats import CONFIRMED, DECLINED, MAYBE, WAITLISTED, Attendance, Rsvp

ORGANIZER = "organizer"
# The lists of an occurrence, in the order they are shown and exported.
SECTIONS = (CONFIRMED, WAITLISTED, MAYBE, DECLINED)


def may_see_attendees(role: str | None) -> bool:
    """Only a community's organizers see who answered; the answers are people's own business."""
    return role == ORGANIZER


@dataclass(frozen=True)
class Entry:
    """One RSVP on a list; `waitlist_position` is 1 for the head of the line."""

    rsvp: Rsvp
    waitlist_position: int | None = None

    @property
    def seats(self) -> int:
        """The seats the party holds (going) or waits for; a maybe or a no takes none."""
        return self.rsvp.seats if self.rsvp.status in (CONFIRMED, WAITLISTED) else 0


@dataclass(frozen=True)
class OccurrenceRoster:
    """The lists of one occurrence (of a one-off event when `occurrence` is None)."""

    occurrence: datetime | None  # the key of a date of a series (model.Event)
    original_start: datetime | None  # ... and its original local start now, as people name it
    local_start: datetime  # when it takes place: naive wall time in the event's zone
    starts_at: datetime  # aware, in the event's zone
    cancelled: bool
    capacity: int | None
    confirmed: list[Entry]
    waitlisted: list[Entry]  # in waitlist order
    maybe: list[Entry]
    declined: list[Entry]

    @property
    def confirmed_seats(self) -> int:
        return sum(entry.seats for entry in self.confirmed)

    @property
    def free_seats(self) -> int | None:
        if self.capacity is None:
            return None
        return max(self.capacity - self.confirmed_seats, 0)

    def section(self, status: str) -> list[Entry]:
        return {
            CONFIRMED: self.confirmed,
            WAITLISTED: self.waitlisted,
            MAYBE: self.maybe,
            DECLINED: self.declined,
        }[status]

    @property
    def entries(self) -> list[Entry]:
        """Every listed RSVP: going, then the waitlist in order, then maybe, then not going."""
        return [entry for status in SECTIONS for entry in self.section(status)]

    def upcoming(self, now: datetime) -> bool:
        return self.starts_at > now


def occurrence_roster(
    event: Event, occurrence: datetime | None, rsvps: list[Rsvp]
) -> OccurrenceRoster:
    """The lists of one occurrence from its RSVPs. Going, maybe and not going are sorted by name,
    as a sign-in sheet is; the waitlist keeps its order."""
    attendance = Attendance(event.capacity, rsvps)

    def by_name(status: str) -> list[Entry]:
        listed = [rsvp for rsvp in rsvps if rsvp.status == status]
        return [Entry(rsvp) for rsvp in sorted(listed, key=lambda r: (r.name.casefold(), r.email))]

    local = event.local_start_of(occurrence)
    return OccurrenceRoster(
        occurrence=occurrence,
        original_start=event.original_of(occurrence) if occurrence else None,
        local_start=local,
        starts_at=local.replace(tzinfo=event.series.tz, fold=0),
        cancelled=event.occurrence_cancelled(occurrence) if occurrence else event.cancelled,
        capacity=event.capacity,
        confirmed=by_name(CONFIRMED),
        waitlisted=[
            Entry(rsvp, position) for position, rsvp in enumerate(attendance.waitlist, start=1)
        ],
        maybe=by_name(MAYBE),
        declined=by_name(DECLINED),
    )


def rosters(
    event: Event, rsvps: Iterable[Rsvp], occurrences: Iterable[datetime | None] = ()
) -> list[OccurrenceRoster]:
    """The lists of every occurrence that has RSVPs, and of each of `occurrences` even if it has
    none, in date order."""
    by_occurrence: dict[datetime | None, list[Rsvp]] = {key: [] for key in occurrences}
    for rsvp in rsvps:
        by_occurrence.setdefault(rsvp.occurrence, []).append(rsvp)
    ordered = sorted(by_occurrence.items(), key=lambda item: item[0] or datetime.min)
    return [occurrence_roster(event, key, listed) for key, listed in ordered]
