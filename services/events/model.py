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
LOCATION_MAX = 500
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


ONE_DAY = timedelta(days=1)
# What one occurrence of a series may say differently from its series, besides its times.
OVERRIDE_TEXTS = ("title", "description", "location", "online_url")


@dataclass(frozen=True)
class Override:
    """One occurrence of a series changed on its own: moved, or given its own title,
    description, location or link. A text that is None says what the series says.

    `sequence` is never below its event's: it is set to the event's sequence whenever the
    override or the event changes, so a calendar never takes the override for an older version.
    """

    original_start: datetime  # naive wall time in the event's zone: which occurrence (its id)
    starts_at: datetime  # naive wall time in the event's zone: when it now starts
    ends_at: datetime  # ... and ends (for an all-day event, the next day's midnight)
    title: str | None = None
    description: str | None = None
    location: str | None = None
    online_url: str | None = None
    sequence: int = 0
    updated_at: datetime | None = None

    def texts(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in OVERRIDE_TEXTS}


@dataclass(frozen=True)
class Occurrence:
    """One date of an event as it takes place: moved and retitled if its override says so."""

    event_id: str
    original_start: datetime  # naive wall time: identifies the occurrence within its series
    starts_at: datetime  # aware, in the event's zone
    ends_at: datetime  # aware; for an all-day event the midnight after its last day
    status: str
    all_day: bool = False
    override: Override | None = None

    @property
    def moved(self) -> bool:
        return self.override is not None and self.override.starts_at != self.original_start

    @property
    def last_day(self) -> date:
        """The last day it takes place on (for an all-day occurrence, the day before its end)."""
        return (self.ends_at - ONE_DAY).date() if self.all_day else self.ends_at.date()


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
    # Whole days: `starts_at` is the first day's local midnight and `ends_at` the midnight after
    # the last day (exclusive, as RFC 5545's DTEND;VALUE=DATE).
    all_day: bool = False
    cancelled_occurrences: set[datetime] = field(default_factory=set)
    # Occurrences of a series changed one by one, by their original local start.
    overrides: dict[datetime, Override] = field(default_factory=dict)
    # How far, in local wall time, the whole series has moved since it was first scheduled.
    shift: timedelta = timedelta(0)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def series(self) -> Series:
        return Series(self.starts_at, self.ends_at, self.timezone, self.rrule)

    @property
    def last_day(self) -> date:
        """The first occurrence's last day (for an all-day event, the day before `ends_at`)."""
        return (self.ends_at - ONE_DAY).date() if self.all_day else self.ends_at.date()

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
        """When the earliest occurrence starts (one may have been moved before the first)."""
        tz = self.tz
        return min(
            [self.series.first_start] + [_instant(o.starts_at, tz) for o in self.overrides.values()]
        )

    @property
    def last_end(self) -> datetime | None:
        """When the last occurrence ends (one may have been moved after it), or None for a
        series without end."""
        last = self.series.last_end
        if last is None:
            return None
        tz = self.tz
        return max([last] + [_instant(o.ends_at, tz) for o in self.overrides.values()])

    def is_moved(self, override: Override) -> bool:
        """Whether the override changes its occurrence's times, not only its texts."""
        return (override.starts_at, override.ends_at) != (
            override.original_start,
            override.original_start + self.duration,
        )

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

    def key_of(self, original_start: datetime) -> datetime:
        """The name a date of the series keeps for good: its original local start as the series
        was first scheduled. Answers, going counts and each date's calendar UID use it, so
        moving the whole series (every Thursday from 12:00 to 13:00) changes none of them."""
        return original_start - self.shift

    def original_of(self, key: datetime) -> datetime:
        """The original local start, in the series as it is now, of the date named `key`."""
        return key + self.shift

    def is_occurrence(self, original_start: datetime) -> bool:
        """Whether the naive wall time `original_start` is one of this event's occurrences."""
        return self.series.is_occurrence(original_start)

    def occurrences(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Occurrences overlapping the UTC window [start, end), cancelled ones included, in
        order of their start. A moved occurrence is in the window of its new time."""
        duration = self.duration
        tz = self.tz
        found = []
        for local in self.series.starts(until=end):
            original = local.replace(tzinfo=None)
            if original in self.overrides:
                continue  # placed below, at its own time
            begins = local.astimezone(UTC)
            finishes = (local + duration).astimezone(UTC)
            if finishes <= start:
                continue
            if begins >= end:
                break
            found.append(self._occurrence(original, local, (local + duration).astimezone(tz)))
        for override in self.overrides.values():
            begins = _instant(override.starts_at, tz)
            finishes = _instant(override.ends_at, tz)
            if finishes > start and begins < end:
                found.append(
                    self._occurrence(
                        override.original_start, begins.astimezone(tz), finishes.astimezone(tz)
                    )
                )
        found.sort(key=lambda occurrence: (occurrence.starts_at, occurrence.original_start))
        return found

    def occurrence(self, original_start: datetime) -> Occurrence:
        """The occurrence that the series puts at local `original_start`, as it takes place."""
        override = self.overrides.get(original_start)
        starts = override.starts_at if override else original_start
        ends = override.ends_at if override else original_start + self.duration
        tz = self.tz
        return self._occurrence(
            original_start, _instant(starts, tz).astimezone(tz), _instant(ends, tz).astimezone(tz)
        )

    def _occurrence(self, original: datetime, starts: datetime, ends: datetime) -> Occurrence:
        cancelled = self.status == CANCELLED or original in self.cancelled_occurrences
        return Occurrence(
            event_id=self.id,
            original_start=original,
            starts_at=starts,
            ends_at=ends,
            status=CANCELLED if cancelled else SCHEDULED,
            all_day=self.all_day,
            override=self.overrides.get(original),
        )

    def occurrence_text(self, occurrence: Occurrence, name: str) -> str | None:
        """The occurrence's `name` (title, description, location or link): its own if its
        override gives one, else the series'."""
        own = getattr(occurrence.override, name) if occurrence.override else None
        return own if own is not None else getattr(self, name)  # type: ignore[no-any-return]


def _instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a stored wall time. Times people chose were checked for gaps and overlaps
    when they were chosen; one derived later (an unmoved occurrence's end) reads like the times
    of a series (shared.recurrence), the first of two and the earlier offset in a gap."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


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
    if not isinstance(event.all_day, bool):
        errors["all_day"] = "all_day is true (whole days, given as dates) or false"
        event.all_day = False
    errors.update(_whole_days(event, current, changes))
    starts = ends = None
    new_start = changes.get("starts_at")
    if (
        "starts_at" not in errors
        and new_start is not None
        and abs(_day_of(new_start) - today) > SERIES_SPAN_MAX
    ):
        errors["starts_at"] = "choose a date within ten years of today"
    for name in ("starts_at", "ends_at", "rsvp_deadline"):
        value = getattr(event, name)
        if value is None or name in errors:
            continue
        try:
            instant = to_instant(value, tz)
        except ValueError as error:
            errors[name] = str(error)
            if event.all_day and name != "rsvp_deadline":
                errors[name] = (
                    f"the clocks change at midnight on {value:%-d %B %Y} in {tz.key}, so an "
                    "all-day event cannot start or end that day; give it times instead"
                )
            continue
        if name == "starts_at":
            starts = instant
        elif name == "ends_at":
            ends = instant
    if starts and ends:
        if ends <= starts:
            errors["ends_at"] = (
                "the last day must not be before the first"
                if event.all_day
                else "the event must end after it starts"
            )
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


def build_override(
    event: Event, original_start: datetime, changes: dict[str, Any], *, today: date
) -> Override | None:
    """Apply `changes` to one occurrence of `event` (by its original local start) and check them
    as an event's are; raise Invalid naming each bad field. None when the occurrence ends up as
    its series has it: nothing left to override.

    Times are wall times in the event's zone (dates for an all-day event, the end being the
    last day); a new start without an end keeps the occurrence's length. A text given as None
    goes back to the series', and one equal to the series' is not kept, so it follows the series.
    """
    current = event.overrides.get(original_start) or Override(
        original_start, original_start, original_start + event.duration
    )
    errors: dict[str, str] = {}
    times = {"starts_at": current.starts_at, "ends_at": current.ends_at}
    for name in ("starts_at", "ends_at"):
        value = changes.get(name)
        if value is None:
            continue
        is_date = not isinstance(value, datetime)
        if event.all_day and not is_date:
            errors[name] = "this event is all day: give a date without a time, like 2027-05-01"
        elif not event.all_day and is_date:
            errors[name] = "give a time too, like 2027-01-14T12:00"
        elif is_date:
            midnight = datetime.combine(value, time())
            times[name] = midnight + ONE_DAY if name == "ends_at" else midnight
        else:
            times[name] = value
    if changes.get("starts_at") is not None and changes.get("ends_at") is None:
        times["ends_at"] = times["starts_at"] + (current.ends_at - current.starts_at)
    if "starts_at" not in errors and abs(times["starts_at"].date() - today) > SERIES_SPAN_MAX:
        errors["starts_at"] = "choose a date within ten years of today"
    tz = event.tz
    instants = {}
    for name, value in times.items():
        if name in errors:
            continue
        try:
            instants[name] = to_instant(value, tz)
        except ValueError as error:
            errors[name] = str(error)
            if event.all_day:
                errors[name] = (
                    f"the clocks change at midnight on {value:%-d %B %Y} in {tz.key}, so an "
                    "all-day date cannot start or end that day; choose another"
                )
    if len(instants) == 2:
        if instants["ends_at"] <= instants["starts_at"]:
            errors["ends_at"] = (
                "the last day must not be before the first"
                if event.all_day
                else "this date must end after it starts"
            )
        elif instants["ends_at"] - instants["starts_at"] > MAX_DURATION:
            errors["ends_at"] = "one date may last at most 14 days"
    texts: dict[str, Any] = current.texts()
    limits = {"title": TITLE_MAX, "description": DESCRIPTION_MAX, "location": LOCATION_MAX}
    for name in OVERRIDE_TEXTS:
        if name not in changes:
            continue
        value = changes[name]
        if isinstance(value, str) and name != "online_url":
            value = value.strip()
        if name == "title" and value == "":
            errors[name] = "give this date a title, or null to keep the series' title"
        elif value is not None and name in limits and len(value) > limits[name]:
            errors[name] = f"keep the {name} to {limits[name]:,} characters"
        texts[name] = None if value == getattr(event, name) else value
    if errors:
        raise Invalid(errors)
    override = replace(current, starts_at=times["starts_at"], ends_at=times["ends_at"], **texts)
    if not event.is_moved(override) and all(value is None for value in texts.values()):
        return None
    return override


def overrides_after_change(before: Event, after: Event) -> dict[datetime, Override]:
    """What becomes of a series' changed occurrences when the whole series changes.

    An override follows its date as cancellations do: moving every Thursday from 12:00 to 13:00
    keeps the 14 January changes, now known by 13:00. Those whose date is no longer one of the
    series' go, and so do all of them when the event stops repeating. A moved occurrence stays
    where it was moved to, unless the zone or all-day changes, which makes its times mean
    something else; then it follows the series like the others. Texts equal to the series' new
    ones are dropped, and an override left with nothing to say goes.
    """
    if after.rrule is None:
        return {}
    shift = after.starts_at - before.starts_at
    times_follow = (before.timezone, before.all_day) != (after.timezone, after.all_day)
    kept = {}
    for override in before.overrides.values():
        original = override.original_start + shift
        if not after.is_occurrence(original):
            continue
        texts: dict[str, Any] = {
            name: None if value == getattr(after, name) else value
            for name, value in override.texts().items()
        }
        if before.is_moved(override) and not times_follow:
            starts, ends = override.starts_at, override.ends_at
        else:
            starts, ends = original, original + after.duration
        moved = replace(override, original_start=original, starts_at=starts, ends_at=ends, **texts)
        if after.is_moved(moved) or any(value is not None for value in texts.values()):
            kept[original] = moved
    return kept


def revised_event(before: Event, built: Event) -> Event:
    """The event `built` from `before` by build_event, with what it carries over from `before`:
    the names its dates keep (`shift`), its cancelled dates and its changed ones, each following
    its date as the whole series moves. What changing a series saves, and what the event form's
    preview of its dates shows before it is saved."""
    moved_by = built.starts_at - before.starts_at
    # Dates keep their keys while the series moves; a series that starts or stops repeating
    # has none to keep.
    shift = before.shift + moved_by if before.rrule and built.rrule else timedelta(0)
    moved = {start + moved_by for start in before.cancelled_occurrences}
    revised = replace(
        built,
        shift=shift,
        cancelled_occurrences={start for start in moved if built.is_occurrence(start)},
    )
    revised.overrides = overrides_after_change(before, revised)
    return revised


def _day_of(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _whole_days(event: Event, current: Event, changes: dict[str, Any]) -> dict[str, str]:
    """Turn an all-day event's dates into the local midnights it is stored as (the end: the
    midnight after the last day), and refuse dates where times belong and times where dates do.

    Turning an event all-day without new dates keeps its days; turning it back needs times.
    """
    errors: dict[str, str] = {}
    for name in ("starts_at", "ends_at"):
        value = getattr(event, name)
        if value is None:
            continue
        given = name in changes
        is_date = not isinstance(value, datetime)
        if event.all_day:
            if given and not is_date:
                errors[name] = "an all-day event takes dates without times, like 2027-05-01" + (
                    " (the last day it takes place)" if name == "ends_at" else ""
                )
            elif is_date:
                midnight = datetime.combine(value, time())
                setattr(event, name, midnight + ONE_DAY if name == "ends_at" else midnight)
            elif not current.all_day:
                # Turned all-day with the times it had: it takes their days, whole.
                last = value - timedelta(microseconds=1) if name == "ends_at" else value
                midnight = datetime.combine(last.date(), time())
                setattr(event, name, midnight + ONE_DAY if name == "ends_at" else midnight)
        elif is_date:
            errors[name] = "give a time too, like 2026-12-03T12:00; or set all_day for whole days"
        elif current.all_day and not given:
            errors[name] = "the event is no longer all day: give the time, like 2026-12-03T12:00"
    return errors


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
