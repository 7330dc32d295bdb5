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
GUEST_LIMIT_MAX = 20
# Guests each attendee may bring when the organizer does not say. A consult group is confidential
# and a training's CE hours are earned in one's own name, so neither takes guests unless the
# organizer allows them; the other kinds take the usual meetup "plus one".
DEFAULT_GUEST_LIMIT = 1
DEFAULT_GUEST_LIMITS = {"consult_group": 0, "training": 0}
MAX_COUNT = 730
MAX_DURATION = timedelta(days=14)
OCCURRENCE_WINDOW_MAX = timedelta(days=3 * 366)
# Bounds that keep every expansion of a series cheap: it is walked from its first date.
SERIES_SPAN_MAX = timedelta(days=10 * 366)
RRULE_MAX = 500
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
    if not 1 < local.year < 9999:
        raise ValueError("choose a date within ten years of today")
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
    "WKST",
}
# Parts that filter within a month or year: with a daily or weekly rule they can leave no dates
# at all (BYMONTH=2;BYMONTHDAY=30), and dateutil would then search to the year 9999.
MONTHLY_PARTS = ("BYMONTHDAY", "BYMONTH", "BYSETPOS")
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
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

    def rule(self, dtstart: datetime, tz: ZoneInfo, *, horizon: datetime | None = None) -> rrule:
        """A dateutil rule over naive wall-clock times in `tz` (so 12:00 stays 12:00 across DST).

        With a `horizon` (a naive local time) the rule stops there and ignores COUNT. dateutil
        searches until it finds a date or its UNTIL, so without one a rule with rare or no
        dates (BYMONTH=2;BYMONTHDAY=30) would be searched to the year 9999.
        """
        parts = dict(self.parts)
        until = None
        if "UNTIL" in parts:
            instant = datetime.strptime(parts.pop("UNTIL"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            until = instant.astimezone(tz).replace(tzinfo=None)
        if horizon is not None:
            parts.pop("COUNT", None)
            until = min(until, horizon) if until else horizon
        rule = rrulestr(";".join(f"{key}={value}" for key, value in parts.items()), dtstart=dtstart)
        assert isinstance(rule, rrule)
        return rule.replace(until=until) if until is not None else rule


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
    _check_shape(parts)
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_utc(parts["UNTIL"], tz)
        until = datetime.strptime(parts["UNTIL"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if until - dtstart.replace(tzinfo=tz) > SERIES_SPAN_MAX:
            raise ValueError(UNTIL_TOO_LATE)
    order = ["FREQ", "INTERVAL", *sorted(set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL"})]
    order += [key for key in ("COUNT", "UNTIL") if key in parts]
    recurrence = Recurrence(tuple((key, parts[key]) for key in order if key in parts))
    if len(recurrence.text) > RRULE_MAX:
        raise ValueError(f"keep the repeat rule to {RRULE_MAX} characters")
    try:
        # Only the first date, and only as far as a series may reach.
        first = next(iter(recurrence.rule(dtstart, tz, horizon=dtstart + SERIES_SPAN_MAX)), None)
    except ValueError as error:
        raise ValueError(f"the repeat rule is not valid: {error}") from None
    if first is None and "UNTIL" in parts:
        raise ValueError("UNTIL is before the start: the series would have no dates")
    if first is None:
        raise ValueError("the repeat rule gives no date within ten years of the start")
    if first != dtstart:
        raise ValueError(
            f"the start ({dtstart:%A %-d %B %Y}) is not one of the dates this rule gives "
            f"(the first would be {first:%A %-d %B %Y}); move the start to match the rule"
        )
    return recurrence


def _check_shape(parts: dict[str, str]) -> None:
    """Refuse rules that some calendar apps cannot show, and rules that could have no dates.

    Every rule accepted here has a date at least every few years, so expanding it is cheap; the
    shapes a meetup needs (weekly, every N weeks, the nth or last weekday of the month, a day of
    the month) all fit.
    """
    freq = parts["FREQ"]
    days = parts["BYDAY"].split(",") if "BYDAY" in parts else []
    matches = [WEEKDAY.match(day) for day in days]
    if not all(matches):
        raise ValueError(f"BYDAY={parts['BYDAY']} is not a list of days such as TH or 2TU")
    ordinals = [int(match.group(1)) for match in matches if match and match.group(1)]
    if freq in ("DAILY", "WEEKLY"):
        if ordinals:
            raise ValueError("numbered days such as 2TU only go with FREQ=MONTHLY or YEARLY")
        extra = [key for key in MONTHLY_PARTS if key in parts]
        if extra:
            raise ValueError(f"{extra[0]} only goes with FREQ=MONTHLY or YEARLY")
        return
    if len(ordinals) > 1:
        raise ValueError(
            "several nth weekdays in one rule (such as 1SU,-1SU) cannot be shown by Outlook; "
            "make one series for each"
        )
    if ordinals and not (1 <= abs(ordinals[0]) <= 5):
        raise ValueError("a numbered day goes from 1 (first) to 5, or -1 (last) to -5")
    if ordinals and freq == "YEARLY" and "BYMONTH" not in parts:
        raise ValueError("a numbered day in a yearly rule needs BYMONTH, e.g. BYMONTH=5;BYDAY=2SU")
    months = _numbers(parts.get("BYMONTH"), "BYMONTH", 1, 12)
    monthdays = _numbers(parts.get("BYMONTHDAY"), "BYMONTHDAY", -31, 31)
    if len(monthdays) > 1:
        raise ValueError(
            "several days of the month in one rule cannot be shown by Outlook; "
            "make one series for each"
        )
    if monthdays and 0 in monthdays:
        raise ValueError("BYMONTHDAY goes from 1 to 31, or -1 (the last day) to -31")
    if monthdays and months:
        longest = max(DAYS_IN_MONTH[month - 1] for month in months)
        if abs(monthdays[0]) > longest:
            raise ValueError(f"BYMONTHDAY={monthdays[0]} never happens in the months of BYMONTH")
    if "BYSETPOS" in parts:
        positions = _numbers(parts["BYSETPOS"], "BYSETPOS", -366, 366)
        # Each weekday comes at least four times a month, so these positions exist every month.
        available = 1 if monthdays or ordinals else 4 * max(len(days), 1)
        if not days or any(p == 0 or abs(p) > available for p in positions):
            raise ValueError(
                f"BYSETPOS picks among the days of BYDAY: use 1 to {available} "
                f"or -1 to -{available}"
            )


def _numbers(value: str | None, key: str, low: int, high: int) -> list[int]:
    if value is None:
        return []
    try:
        numbers = [int(part) for part in value.split(",")]
    except ValueError:
        raise ValueError(f"{key}={value} is not a list of whole numbers") from None
    if not all(low <= number <= high for number in numbers):
        raise ValueError(f"{key} values go from {low} to {high}")
    return numbers


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
    def guests_allowed(self) -> int:
        """Guests each attendee may bring: the organizer's limit, or else the default for the
        kind, and never more than the capacity leaves seats for (a party must fit)."""
        if self.guest_limit is not None:
            return self.guest_limit
        default = DEFAULT_GUEST_LIMITS.get(self.kind, DEFAULT_GUEST_LIMIT)
        return default if self.capacity is None else max(min(default, self.capacity - 1), 0)

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
        if not timedelta(0) <= original_start - self.starts_at <= SERIES_SPAN_MAX:
            return False
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
        horizon = self.starts_at + SERIES_SPAN_MAX
        if until is not None:
            horizon = min(horizon, (until + timedelta(days=1)).astimezone(tz).replace(tzinfo=None))
        produced = 0
        for local in recurrence.rule(self.starts_at, tz, horizon=horizon):
            instant = occurrence_instant(local, tz)
            if instant is None:
                continue
            yield instant.astimezone(tz)
            produced += 1
            if limit and produced >= limit:
                return


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
