"""The rsvps domain: what this service knows of events, as plain rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

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
    # Whole days: `local_start` is the first day's midnight, `local_end` the one after the last.
    all_day: bool = False
    # Occurrences of a series moved one by one: original local start -> (new local start, end).
    # Answers stay keyed by the original start; only when the date takes place changes.
    moved_occurrences: dict[datetime, tuple[datetime, datetime]] = field(
        default_factory=dict, hash=False
    )

    @property
    def series(self) -> Series:
        """The event's dates, expanded exactly as the events service expands them."""
        return Series(self.local_start, self.local_end, self.timezone, self.rrule)

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED

    def local_start_of(self, original_start: datetime | None) -> datetime:
        """When the occurrence named by `original_start` (None: a one-off event) starts, as a
        local wall time: where it was moved to, if it was."""
        if original_start is None:
            return self.local_start
        moved = self.moved_occurrences.get(original_start)
        return moved[0] if moved else original_start

    def start_of(self, original_start: datetime | None) -> datetime:
        """The UTC instant the occurrence (None: a one-off event) starts; an all-day event
        starts at local midnight of its first day."""
        local = self.local_start_of(original_start)
        return local.replace(tzinfo=self.series.tz).astimezone(UTC)

    def occurrence_cancelled(self, original_start: datetime) -> bool:
        """Whether the occurrence that starts at local `original_start` will not take place."""
        return self.cancelled or original_start in self.cancelled_occurrences


@dataclass(frozen=True)
class Community:
    """A community as the events service last announced it: enough to name and link it."""

    id: str
    slug: str
    name: str
