"""The rsvps domain: what this service knows of events, as plain rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.recurrence import Series

SCHEDULED, CANCELLED = "scheduled", "cancelled"


@dataclass(frozen=True)
class Event:
    """An event as the events service last announced it; `sequence` orders the announcements.

    Times are kept both ways: the local wall time and IANA zone the organizer chose (which also
    name the occurrences of a series), and the UTC instants of the first occurrence.
    """

    id: str
    community_id: str
    kind: str
    title: str
    capacity: int | None  # None: no limit
    status: str
    visibility: str
    timezone: str
    local_start: datetime  # naive wall time in `timezone`
    local_end: datetime
    starts_at: datetime  # aware UTC instant
    ends_at: datetime
    rrule: str | None
    rsvp_deadline: datetime | None  # aware UTC instant
    # Guests each attendee may bring; None when the announcement predates the field: no guests.
    guest_limit: int | None
    sequence: int
    updated_at: datetime
    # Original local starts of the occurrences of a series that were cancelled one by one.
    cancelled_occurrences: frozenset[datetime] = field(default_factory=frozenset)

    @property
    def series(self) -> Series:
        """The event's dates, expanded exactly as the events service expands them."""
        return Series(self.local_start, self.local_end, self.timezone, self.rrule)

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED

    def occurrence_cancelled(self, original_start: datetime) -> bool:
        """Whether the occurrence that starts at local `original_start` will not take place."""
        return self.cancelled or original_start in self.cancelled_occurrences


@dataclass(frozen=True)
class Community:
    """A community as the events service last announced it: enough to name and link it."""

    id: str
    slug: str
    name: str
