"""Wall-clock time in a place, and the dates of a series: RFC 5545 rules as plain functions.

People schedule in local time in an IANA zone (`2026-12-03T12:00` in America/New_York); the
machine works in UTC instants. Every conversion between the two lives here, with the RFC 5545
rules for times that do not exist (the spring-forward gap) or happen twice (the autumn overlap),
and the expansion of a repeat rule into dates. Every service that needs the dates of a series
(events, RSVPs, feeds, reminders) uses these, so they agree to the minute.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrule, rrulestr

MAX_COUNT = 730
# Bounds that keep every expansion of a series cheap: it is walked from its first date.
SERIES_SPAN_MAX = timedelta(days=10 * 366)
RRULE_MAX = 500
UNTIL_TOO_LATE = "UNTIL may be at most 10 years after the start; or leave the end open"


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


@dataclass(frozen=True)
class Series:
    """The dates of something scheduled in wall-clock time: its first start and end (naive, in
    `timezone`) and, for a series, its validated RRULE."""

    starts_at: datetime
    ends_at: datetime
    timezone: str
    rrule: str | None = None

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
        last = deque(self.starts(), maxlen=1)
        return (last[0] + self.duration).astimezone(UTC) if last else self.first_start

    def is_occurrence(self, original_start: datetime) -> bool:
        """Whether the naive wall time `original_start` is one of the series' dates."""
        if not timedelta(0) <= original_start - self.starts_at <= SERIES_SPAN_MAX:
            return False
        until = original_start.replace(tzinfo=self.tz).astimezone(UTC)
        return any(local.replace(tzinfo=None) == original_start for local in self.starts(until))

    def starts(self, until: datetime | None = None) -> Iterator[datetime]:
        """Occurrence starts as aware datetimes in the zone, in order, up to about `until`.

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
