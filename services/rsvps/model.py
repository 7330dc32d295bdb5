"""The rsvps domain: what this service knows of events, as plain rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.recurrence import Series

SCHEDULED, CANCELLED = "scheduled", "cancelled"


@dataclass(frozen=True)
class Event:
    """An event as the events service last announced it; `sequence` orders the announcements.

    Times are kept both ways: the local wall time and IANA zone the organizer chose, and the UTC
    instants of the first occurrence. A date of a series is named by its key: its original local
    start as the series was first scheduled, which moving the whole series does not change
    (answers keep naming the same dates). People and the API name it by its original local start
    in the series as it is now: `original_of` and `key_of` turn one into the other.
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
    # The keys of the dates of a series that were cancelled one by one.
    cancelled_occurrences: frozenset[datetime] = field(default_factory=frozenset)
    # Whole days: `local_start` is the first day's midnight, `local_end` the one after the last.
    all_day: bool = False
    # Dates of a series moved one by one: key -> (new local start, end). Answers keep the key;
    # only when the date takes place changes.
    moved_occurrences: dict[datetime, tuple[datetime, datetime]] = field(
        default_factory=dict, hash=False
    )
    # How far, in local wall time, the whole series has moved since it was first scheduled.
    shift: timedelta = timedelta(0)

    @property
    def series(self) -> Series:
        """The event's dates, expanded exactly as the events service expands them."""
        return Series(self.local_start, self.local_end, self.timezone, self.rrule)

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED

    def key_of(self, original_start: datetime) -> datetime:
        """The key of the date that starts at `original_start` in the series as it is now."""
        return original_start - self.shift

    def original_of(self, key: datetime) -> datetime:
        """The original local start, in the series as it is now, of the date named `key`."""
        return key + self.shift

    def local_start_of(self, key: datetime | None) -> datetime:
        """When the date named `key` (None: a one-off event) starts, as a local wall time:
        where it was moved to, if it was."""
        if key is None:
            return self.local_start
        moved = self.moved_occurrences.get(key)
        return moved[0] if moved else self.original_of(key)

    def local_end_of(self, key: datetime | None) -> datetime:
        """When the date named `key` (None: a one-off event) ends, as a local wall time."""
        if key is None:
            return self.local_end
        moved = self.moved_occurrences.get(key)
        return moved[1] if moved else self.original_of(key) + self.series.duration

    def start_of(self, key: datetime | None) -> datetime:
        """The UTC instant the date (None: a one-off event) starts; an all-day event starts at
        local midnight of its first day."""
        local = self.local_start_of(key)
        return local.replace(tzinfo=self.series.tz).astimezone(UTC)

    def occurrence_cancelled(self, key: datetime) -> bool:
        """Whether the date named `key` will not take place."""
        return self.cancelled or key in self.cancelled_occurrences


@dataclass(frozen=True)
class Community:
    """A community as the events service last announced it: enough to name and link it."""

    id: str
    slug: str
    name: str
