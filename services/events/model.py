"""The events domain: communities, members, events, local times and recurrence, as plain rules.

People schedule in wall-clock time in a place (`2026-12-03T12:00` in America/New_York); the
machine works in UTC instants. Every conversion between the two lives here, with the RFC 5545
rules for times that do not exist (the spring-forward gap) or happen twice (the autumn overlap).
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrule, rrulestr

KINDS = ("peer_lunch", "consult_group", "celebration", "training", "social")
EVENT_VISIBILITIES = ("community", "private", "public")
COMMUNITY_VISIBILITIES = ("private", "public")
ROLES = ("organizer", "member")
SCHEDULED, CANCELLED = "scheduled", "cancelled"

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
CAPACITY_MAX = 10_000
MAX_COUNT = 730
MAX_DURATION = timedelta(days=14)
OCCURRENCE_WINDOW_MAX = timedelta(days=3 * 366)
# Bounds that keep every expansion of a series cheap: it is walked from its first date.
SERIES_SPAN_MAX = timedelta(days=10 * 366)
UNTIL_TOO_LATE = "UNTIL may be at most 10 years after the start; or leave the end open"

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


# --- Time zones and local times -------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or a ValueError a person can act on."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"{name!r} is not a time zone; use an IANA name such as America/New_York")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = _similar_zone(name)
        suggestion = f" Did you mean {hint}?" if hint else ""
        raise ValueError(
            f"{name!r} is not a known time zone; use an IANA name such as America/New_York."
            f"{suggestion}"
        ) from None


def _similar_zone(name: str) -> str | None:
    wanted = name.lower().replace(" ", "_")
    for candidate in sorted(available_timezones()):
        if candidate.lower() == wanted or candidate.lower().endswith("/" + wanted):
            return candidate
    return None


def to_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time a person chose, refusing gaps and overlaps.

    A time in the spring-forward gap never happens and one in the autumn overlap happens twice;
    either would put people in the wrong place, so a person must choose another time.
    """
    if local.tzinfo is not None:
        raise ValueError("give the local time without a UTC offset, e.g. 2026-12-03T12:00")
    earlier = local.replace(tzinfo=tz, fold=0)
    later = local.replace(tzinfo=tz, fold=1)
    if earlier.utcoffset() != later.utcoffset():
        round_trip = earlier.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        when = local.strftime("%Y-%m-%d %H:%M")
        if round_trip != local:
            raise ValueError(
                f"{when} does not exist in {tz.key}: the clocks jump forward that night. "
                "Choose a time outside that hour."
            )
        raise ValueError(
            f"{when} happens twice in {tz.key}: the clocks go back that night. "
            "Choose a time outside that hour."
        )
    return earlier.astimezone(UTC)


def occurrence_instant(local: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant of a generated occurrence, per RFC 5545: a wall time that does not exist is
    skipped (None), one that happens twice means its first occurrence."""
    aware = local.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        return None
    return aware.astimezone(UTC)


def in_zone(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz)


# --- Recurrence ----------------------------------------------------------------------------

RRULE_KEYS = {
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "BYWEEKNO",
    "BYYEARDAY",
    "WKST",
}
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


@dataclass(frozen=True)
class Recurrence:
    """A validated RRULE, normalized: upper case, fixed key order, UNTIL in UTC."""

    parts: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        return ";".join(f"{key}={value}" for key, value in self.parts)

    def get(self, key: str) -> str | None:
        return dict(self.parts).get(key)

    def rule(self, dtstart: datetime, tz: ZoneInfo, *, with_count: bool = True) -> rrule:
        """A dateutil rule over naive wall-clock times in `tz` (so 12:00 stays 12:00 across DST)."""
        parts = dict(self.parts)
        if not with_count:
            parts.pop("COUNT", None)
        until = parts.pop("UNTIL", None)
        text = ";".join(f"{key}={value}" for key, value in parts.items())
        rule = rrulestr(text, dtstart=dtstart)
        assert isinstance(rule, rrule)
        if until is not None:
            instant = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            rule = rule.replace(until=instant.astimezone(tz).replace(tzinfo=None))
        return rule


def parse_recurrence(text: str, dtstart: datetime, tz: ZoneInfo) -> Recurrence:
    """Validate an RFC 5545 RRULE value for a series starting at local `dtstart`.

    Beyond RFC 5545 this refuses what would make invitations or feeds misbehave in common
    calendar apps: sub-daily repetition, several monthly dates or several nth weekdays a month
    (Outlook cannot show them), and a start that is not itself one of the rule's dates.
    """
    raw = text.strip()
    if raw.upper().startswith("RRULE:"):
        raw = raw[6:]
    if not raw:
        raise ValueError("the repeat rule is empty; leave it out for a one-off event")
    parts: dict[str, str] = {}
    for piece in raw.split(";"):
        key, sep, value = piece.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not key or not value:
            raise ValueError(f"{piece!r} is not KEY=VALUE; write e.g. FREQ=WEEKLY;BYDAY=TH")
        if key not in RRULE_KEYS:
            raise ValueError(f"{key} is not supported in a repeat rule")
        if key in parts:
            raise ValueError(f"{key} appears twice in the repeat rule")
        parts[key] = value
    freq = parts.get("FREQ")
    if freq is None:
        raise ValueError("the repeat rule needs FREQ, e.g. FREQ=WEEKLY")
    if freq not in FREQUENCIES:
        raise ValueError(f"FREQ={freq} is not allowed; use one of {', '.join(FREQUENCIES)}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("use COUNT or UNTIL to end the series, not both")
    for key in ("INTERVAL", "COUNT"):
        if key in parts and (not parts[key].isdigit() or int(parts[key]) < 1):
            raise ValueError(f"{key} must be a whole number of at least 1")
    if int(parts.get("COUNT", "1")) > MAX_COUNT:
        raise ValueError(f"COUNT may be at most {MAX_COUNT}; start a new series after that")
    if int(parts.get("INTERVAL", "1")) > 52:
        raise ValueError("INTERVAL may be at most 52")
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        if not all(WEEKDAY.match(day) for day in days):
            raise ValueError(f"BYDAY={parts['BYDAY']} is not a list of days such as TH or 2TU")
        ordinals = [day for day in days if WEEKDAY.match(day).group(1)]  # type: ignore[union-attr]
        if len(ordinals) > 1:
            raise ValueError(
                "several nth weekdays in one rule (such as 1SU,-1SU) cannot be shown by Outlook; "
                "make one series for each"
            )
    if "BYMONTHDAY" in parts and "," in parts["BYMONTHDAY"]:
        raise ValueError(
            "several days of the month in one rule cannot be shown by Outlook; "
            "make one series for each"
        )
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_utc(parts["UNTIL"], tz)
        until = datetime.strptime(parts["UNTIL"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if until - dtstart.replace(tzinfo=tz) > SERIES_SPAN_MAX:
            raise ValueError(UNTIL_TOO_LATE)
    order = ["FREQ", "INTERVAL", *sorted(set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL"})]
    order += [key for key in ("COUNT", "UNTIL") if key in parts]
    recurrence = Recurrence(tuple((key, parts[key]) for key in order if key in parts))
    try:
        # Only the first date: counting an endless rule would walk to the year 9999.
        first = next(iter(recurrence.rule(dtstart, tz)), None)
    except ValueError as error:
        raise ValueError(f"the repeat rule is not valid: {error}") from None
    if first is None:
        raise ValueError("the repeat rule ends before the first date: no event would happen")
    if first != dtstart:
        raise ValueError(
            f"the start ({dtstart:%A %-d %B %Y}) is not one of the dates this rule gives "
            f"(the first would be {first:%A %-d %B %Y}); move the start to match the rule"
        )
    return recurrence


def _until_utc(value: str, tz: ZoneInfo) -> str:
    """UNTIL as a UTC date-time (RFC 5545 requires UTC when DTSTART has a zone).

    A date means the end of that local day; a local date-time is taken in the series' zone.
    """
    try:
        if re.fullmatch(r"\d{8}", value):
            local = datetime.combine(datetime.strptime(value, "%Y%m%d").date(), time(23, 59, 59))
            instant = local.replace(tzinfo=tz).astimezone(UTC)
        elif re.fullmatch(r"\d{8}T\d{6}Z", value):
            instant = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        elif re.fullmatch(r"\d{8}T\d{6}", value):
            local = datetime.strptime(value, "%Y%m%dT%H%M%S")
            instant = local.replace(tzinfo=tz).astimezone(UTC)
        else:
            raise ValueError
    except OverflowError:
        raise ValueError(UNTIL_TOO_LATE) from None
    except ValueError:
        raise ValueError(
            f"UNTIL={value} is not a date (20270131) or date-time (20270131T170000Z)"
        ) from None
    return instant.strftime("%Y%m%dT%H%M%SZ")


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
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def recurrence(self) -> Recurrence | None:
        if not self.rrule:
            return None
        return Recurrence(tuple(tuple(p.split("=", 1)) for p in self.rrule.split(";")))  # type: ignore[misc]

    @property
    def first_start(self) -> datetime:
        return to_instant(self.starts_at, self.tz)

    @property
    def last_end(self) -> datetime | None:
        """When the last occurrence ends, or None for a series without end."""
        recurrence = self.recurrence
        if recurrence is None:
            return to_instant(self.ends_at, self.tz)
        if recurrence.get("COUNT") is None and recurrence.get("UNTIL") is None:
            return None
        last = deque(self._generate(), maxlen=1)
        return (last[0] + self.duration).astimezone(UTC) if last else self.first_start

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
        until = original_start.replace(tzinfo=self.tz).astimezone(UTC)
        return any(
            local.replace(tzinfo=None) == original_start for local in self._generate(until=until)
        )

    def occurrences(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Occurrences overlapping the UTC window [start, end), cancelled ones included."""
        duration = self.duration
        found = []
        for local in self._generate(until=end):
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

    def _generate(self, until: datetime | None = None) -> Iterator[datetime]:
        """Occurrence starts as aware datetimes in the event's zone, in order.

        Nonexistent wall times are skipped and do not count towards COUNT (RFC 5545 3.3.10), so
        COUNT is applied here rather than by dateutil.
        """
        tz = self.tz
        recurrence = self.recurrence
        if recurrence is None:
            yield self.starts_at.replace(tzinfo=tz, fold=0)
            return
        limit = int(recurrence.get("COUNT") or 0)
        rule = recurrence.rule(self.starts_at, tz, with_count=False)
        until_local = (
            (until + timedelta(days=1)).astimezone(tz).replace(tzinfo=None) if until else None
        )
        produced = 0
        for local in rule:
            if until_local is not None and local > until_local:
                return
            instant = occurrence_instant(local, tz)
            if instant is None:
                continue
            yield instant.astimezone(tz)
            produced += 1
            if limit and produced >= limit:
                return


def build_event(current: Event, changes: dict[str, Any], community_timezone: str) -> Event:
    """Apply `changes` to `current` and check every rule; raise Invalid naming each bad field."""
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
    for name in ("starts_at", "ends_at", "rsvp_deadline"):
        value = getattr(event, name)
        if value is None:
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
    begin = datetime.combine(start, time()).replace(tzinfo=tz).astimezone(UTC)
    finish = datetime.combine(end + timedelta(days=1), time()).replace(tzinfo=tz).astimezone(UTC)
    if finish - begin > OCCURRENCE_WINDOW_MAX:
        raise Invalid({"end": "ask for at most three years at a time"})
    return begin, finish
