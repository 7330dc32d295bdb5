"""The events domain: communities, members and events, as plain rules.

Local times and the dates of a series follow shared.recurrence, which every service uses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.recurrence import (
    SERIES_SPAN_MAX,
    Recurrence,
    Series,
    parse_recurrence,
    to_instant,
    zone,
)

KINDS = ("peer_lunch", "consult_group", "celebration", "training", "social")
EVENT_VISIBILITIES = ("community", "private", "public")
COMMUNITY_VISIBILITIES = ("private", "public")
ROLES = ("organizer", "member")
SCHEDULED, CANCELLED = "scheduled", "cancelled"

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
CAPACITY_MAX = 10_000
GUEST_LIMIT_MAX = 20
# Guests each attendee may bring when the organizer does not say. A consult group is confidential
# and a training's CE hours are earned in one's own name, so neither takes guests unless the
# organizer allows them; the other kinds take the usual meetup "plus one".
DEFAULT_GUEST_LIMIT = 1
DEFAULT_GUEST_LIMITS = {"consult_group": 0, "training": 0}
MAX_DURATION = timedelta(days=14)
OCCURRENCE_WINDOW_MAX = timedelta(days=3 * 366)

# Fields that only make sense for one kind of event.
KIND_FIELDS = {
    "honoree_email": "celebration",
    "surprise": "celebration",
    "ce_hours": "training",
    "presenter": "training",
}


class Invalid(ValueError):
    """Input a person can fix: `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {value}" for key, value in errors.items()))
        self.errors = errors


# --- Communities and members -----------------------------------------------------------------


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60].strip("-") or "community"


SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise ValueError(
            "use 1 to 60 lower-case letters, digits and hyphens, starting and ending with a letter "
            "or digit"
        )
    return slug


@dataclass
class Community:
    id: str
    slug: str
    name: str
    timezone: str
    description: str = ""
    visibility: str = "private"
    feed_token: str = ""
    created_at: datetime | None = None


@dataclass
class Member:
    id: str
    email: str
    name: str
    phone: str | None = None


def can_manage(role: str | None) -> bool:
    """Only a community's organizers change its events, members and settings."""
    return role == "organizer"


def can_view(role: str | None, community: Community) -> bool:
    return role is not None or community.visibility == "public"


# --- Events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    event_id: str
    original_start: datetime  # naive wall time: identifies the occurrence within its series
    starts_at: datetime  # aware, in the event's zone
    ends_at: datetime
    status: str


@dataclass
class Event:
    id: str
    community_id: str
    kind: str
    title: str
    starts_at: datetime  # naive local wall time in `timezone`
    ends_at: datetime
    timezone: str
    description: str = ""
    rrule: str | None = None
    location: str | None = None
    online_url: str | None = None
    capacity: int | None = None
    guest_limit: int | None = None  # None: the default, see `guests_allowed`
    rsvp_deadline: datetime | None = None  # naive local wall time in `timezone`
    visibility: str = "community"
    honoree_email: str | None = None
    surprise: bool = False
    ce_hours: float | None = None
    presenter: str | None = None
    status: str = SCHEDULED
    sequence: int = 0
    cancelled_occurrences: set[datetime] = field(default_factory=set)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def series(self) -> Series:
        return Series(self.starts_at, self.ends_at, self.timezone, self.rrule)

    @property
    def tz(self) -> ZoneInfo:
        return self.series.tz

    @property
    def duration(self) -> timedelta:
        return self.series.duration

    @property
    def recurrence(self) -> Recurrence | None:
        return self.series.recurrence

    @property
    def guests_allowed(self) -> int:
        """Guests each attendee may bring: the organizer's limit, or else the default for the
        kind, and never more than the capacity leaves seats for (a party must fit)."""
        if self.guest_limit is not None:
            return self.guest_limit
        default = DEFAULT_GUEST_LIMITS.get(self.kind, DEFAULT_GUEST_LIMIT)
        return default if self.capacity is None else max(min(default, self.capacity - 1), 0)

    @property
    def first_start(self) -> datetime:
        return self.series.first_start

    @property
    def last_end(self) -> datetime | None:
        """When the last occurrence ends, or None for a series without end."""
        return self.series.last_end

    def is_surprise_for(self, email: str | None) -> bool:
        """A surprise celebration is never shown to its own honoree."""
        return bool(
            self.surprise
            and email
            and self.honoree_email
            and self.honoree_email.lower() == email.lower()
        )

    def visible_to(self, role: str | None, community: Community, email: str | None) -> bool:
        """Members see their community's events; others only public events of a public
        community; nobody sees a surprise meant for them."""
        if self.is_surprise_for(email):
            return False
        return role is not None or (
            self.visibility == "public" and community.visibility == "public"
        )

    def is_occurrence(self, original_start: datetime) -> bool:
        """Whether the naive wall time `original_start` is one of this event's occurrences."""
        return self.series.is_occurrence(original_start)

    def occurrences(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Occurrences overlapping the UTC window [start, end), cancelled ones included."""
        duration = self.duration
        found = []
        for local in self.series.starts(until=end):
            begins = local.astimezone(UTC)
            finishes = (local + duration).astimezone(UTC)
            if finishes <= start:
                continue
            if begins >= end:
                break
            original = local.replace(tzinfo=None)
            cancelled = self.status == CANCELLED or original in self.cancelled_occurrences
            found.append(
                Occurrence(
                    event_id=self.id,
                    original_start=original,
                    starts_at=local,
                    ends_at=(local + duration).astimezone(self.tz),
                    status=CANCELLED if cancelled else SCHEDULED,
                )
            )
        return found


def build_event(
    current: Event, changes: dict[str, Any], community_timezone: str, *, today: date
) -> Event:
    """Apply `changes` to `current` and check every rule; raise Invalid naming each bad field.

    A new start must lie within ten years of `today`: every expansion of a series walks from its
    first date, so that bound is what keeps them cheap.
    """
    errors: dict[str, str] = {}
    values = {**current.__dict__}
    values.update(changes)
    if "timezone" in changes and changes["timezone"] is None:
        values["timezone"] = community_timezone
    event = replace(current, **{k: v for k, v in values.items() if k in current.__dict__})

    if event.kind not in KINDS:
        errors["kind"] = f"choose one of: {', '.join(KINDS)}"
    title = (event.title or "").strip()
    if not title:
        errors["title"] = "give the event a title"
    elif len(title) > TITLE_MAX:
        errors["title"] = f"keep the title to {TITLE_MAX} characters (it has {len(title)})"
    event.title = title
    event.description = (event.description or "").strip()
    if len(event.description) > DESCRIPTION_MAX:
        errors["description"] = f"keep the description to {DESCRIPTION_MAX} characters"
    if event.visibility not in EVENT_VISIBILITIES:
        errors["visibility"] = f"choose one of: {', '.join(EVENT_VISIBILITIES)}"
    elif event.kind == "consult_group" and event.visibility == "public":
        errors["visibility"] = "consult groups are confidential: choose community or private"
    if event.capacity is not None and not 1 <= event.capacity <= CAPACITY_MAX:
        errors["capacity"] = (
            f"capacity must be from 1 to {CAPACITY_MAX:,}, or left empty for no limit"
        )
    limit = event.guest_limit
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            errors["guest_limit"] = "the guest limit must be a whole number, like 1"
        elif not 0 <= limit <= GUEST_LIMIT_MAX:
            errors["guest_limit"] = (
                f"the guest limit must be from 0 (no guests) to {GUEST_LIMIT_MAX} per attendee, "
                "or left empty for the default"
            )
        elif event.capacity is not None and "capacity" not in errors and limit >= event.capacity:
            # An attendee with that many guests could never get a seat.
            room = event.capacity - 1
            most = "no guests" if room == 0 else f"at most {room} guest{'s' if room > 1 else ''}"
            errors["guest_limit"] = (
                f"with a capacity of {event.capacity}, each attendee can bring {most}: "
                "lower the guest limit or raise the capacity"
            )
    if event.kind in KINDS:
        for name, kind in KIND_FIELDS.items():
            given = getattr(event, name)
            if given not in (None, False, "") and event.kind != kind:
                errors[name] = f"{name} only applies to a {kind.replace('_', ' ')}"
    if event.surprise and not event.honoree_email:
        errors["honoree_email"] = "a surprise needs the honoree's email, so they are kept out"
    if event.ce_hours is not None and not 0 < event.ce_hours <= 100:
        errors["ce_hours"] = "CE hours must be more than 0 and at most 100"

    try:
        tz = zone(event.timezone)
    except ValueError as error:
        errors["timezone"] = str(error)
        raise Invalid(errors) from None
    starts = ends = None
    new_start = changes.get("starts_at")
    if new_start is not None and abs(new_start.date() - today) > SERIES_SPAN_MAX:
        errors["starts_at"] = "choose a date within ten years of today"
    for name in ("starts_at", "ends_at", "rsvp_deadline"):
        value = getattr(event, name)
        if value is None or name in errors:
            continue
        try:
            instant = to_instant(value, tz)
        except ValueError as error:
            errors[name] = str(error)
            continue
        if name == "starts_at":
            starts = instant
        elif name == "ends_at":
            ends = instant
    if starts and ends:
        if ends <= starts:
            errors["ends_at"] = "the event must end after it starts"
        elif ends - starts > MAX_DURATION:
            errors["ends_at"] = "an event may last at most 14 days; use a series for more"
    if event.rsvp_deadline is not None and "rsvp_deadline" not in errors and starts:
        if event.rrule:
            errors["rsvp_deadline"] = "an RSVP deadline applies to a one-off event, not a series"
        elif to_instant(event.rsvp_deadline, tz) > starts:
            errors["rsvp_deadline"] = "the RSVP deadline must be no later than the start"
    if event.rrule and "starts_at" not in errors:
        try:
            event.rrule = parse_recurrence(event.rrule, event.starts_at, tz).text
        except ValueError as error:
            errors["rrule"] = str(error)
    elif not event.rrule:
        event.rrule = None
    if errors:
        raise Invalid(errors)
    return event


def day_window(start: date, end: date, tz: ZoneInfo, today: date) -> tuple[datetime, datetime]:
    """The UTC window from the start of `start` to the end of `end`, both local dates in `tz`."""
    if end < start:
        raise Invalid({"end": "the end date must not be before the start date"})
    if abs(start - today) > SERIES_SPAN_MAX:
        raise Invalid({"start": "ask for dates within ten years of today"})
    if end - start > OCCURRENCE_WINDOW_MAX:
        raise Invalid({"end": "ask for at most three years at a time"})
    begin = datetime.combine(start, time()).replace(tzinfo=tz).astimezone(UTC)
    finish = datetime.combine(end + timedelta(days=1), time()).replace(tzinfo=tz).astimezone(UTC)
    return begin, finish
