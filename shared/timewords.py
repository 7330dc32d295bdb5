"""Times in the words pages show, in the zone of the time given: every service's pages say a
date the same way."""

from __future__ import annotations

from datetime import date, datetime


def _zone_abbreviation(moment: datetime) -> str:
    name = moment.tzname() or ""
    # Zones without a well-known abbreviation report an offset such as "+03".
    return f"UTC{name}" if name[:1] in "+-" else name


def _day(moment: date, long: bool, today: date) -> str:
    if long:
        return f"{moment:%A} {moment.day} {moment:%B} {moment.year}"
    text = f"{moment:%a} {moment.day} {moment:%b}"
    return text if moment.year == today.year else f"{text} {moment.year}"


DASH = "\u2013"  # the en dash of time ranges


def when(start: datetime, end: datetime | None = None, long: bool = False) -> str:
    """A time range in words, in the zone of `start`, like "Thu 3 Dec, 12:00-13:30 EST" (with
    an en dash)."""
    today = datetime.now(start.tzinfo).date()
    first = _day(start, long, today)
    if end is None:
        return f"{first}, {start:%H:%M} {_zone_abbreviation(start)}"
    end = end.astimezone(start.tzinfo)
    start_zone, end_zone = _zone_abbreviation(start), _zone_abbreviation(end)
    if start.date() == end.date():
        if start_zone == end_zone:
            return f"{first}, {start:%H:%M}{DASH}{end:%H:%M} {start_zone}"
        return f"{first}, {start:%H:%M} {start_zone} {DASH} {end:%H:%M} {end_zone}"
    last = _day(end, long, today)
    if start_zone == end_zone:
        return f"{first}, {start:%H:%M} {DASH} {last}, {end:%H:%M} {start_zone}"
    return f"{first}, {start:%H:%M} {start_zone} {DASH} {last}, {end:%H:%M} {end_zone}"


def day_words(first: date, last: date, long: bool = False) -> str:
    """Whole days in words, without times: "Sat 1 May (all day)", or for several "Sat 1 May -
    Mon 3 May (all day)" (with an en dash)."""
    today = date.today()
    if first == last:
        return f"{_day(first, long, today)} (all day)"
    return f"{_day(first, long, today)} {DASH} {_day(last, long, today)} (all day)"


def date_words(day: date, long: bool = False) -> str:
    """A day in words, like "Sat 1 May" (with the year if not this year's)."""
    return _day(day, long, date.today())
