"""Repeat rules, whole days, occurrences and seat counts in the words the pages show (times:
shared.timewords)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from services.events.model import Event, Occurrence
from shared.timewords import date_words, day_words, when

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_NAMES = dict(zip(WEEKDAY_CODES, calendar.day_name, strict=True))
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def recurrence_words(event: Event) -> str | None:
    """The event's repeat rule in words where that is easy, else the RRULE itself."""
    recurrence = event.recurrence
    if recurrence is None:
        return None
    parts = dict(recurrence.parts)
    freq, interval = parts.pop("FREQ"), int(parts.pop("INTERVAL", "1"))
    count, until = parts.pop("COUNT", None), parts.pop("UNTIL", None)
    byday = parts.pop("BYDAY", None)
    days = byday.split(",") if byday else []
    text = None
    if parts:  # BYMONTH, BYSETPOS, WKST and the like: say it exactly rather than half-right.
        pass
    elif freq == "DAILY" and not days:
        text = "Every day" if interval == 1 else f"Every {interval} days"
    elif freq == "WEEKLY" and all(day in WEEKDAY_NAMES for day in days):
        names = [WEEKDAY_NAMES[day] for day in days] or [f"{event.starts_at:%A}"]
        every = "Every week" if interval == 1 else f"Every {interval} weeks"
        text = f"{every} on {_join(names)}"
    elif freq == "MONTHLY" and len(days) == 1 and days[0][-2:] in WEEKDAY_NAMES:
        n = int(days[0][:-2] or 0)
        if n in ORDINALS:
            every = "Every month" if interval == 1 else f"Every {interval} months"
            text = f"{every} on the {ORDINALS[n]} {WEEKDAY_NAMES[days[0][-2:]]}"
    elif freq == "MONTHLY" and not days:
        every = "Every month" if interval == 1 else f"Every {interval} months"
        text = f"{every} on day {event.starts_at.day}"
    elif freq == "YEARLY" and not days and interval == 1:
        text = f"Every year on {event.starts_at.day} {event.starts_at:%B}"
    if text is None:
        return f"Repeats by the rule {recurrence.text}"
    if count:
        text += f", {_plural(int(count), 'time')}"
    elif until:
        instant = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        last = instant.astimezone(event.tz)
        text += f", until {last:%A} {last.day} {last:%B} {last.year}"
    return text


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def going_words(counts: dict[str, int] | None) -> str:
    """Seat counts in words, like "12 going · 3 on the waitlist · 2 maybe"."""
    if not counts or not any(counts.values()):
        return "No answers yet"
    parts = [f"{counts['confirmed_seats']} going"]
    if counts["waitlisted"]:
        parts.append(f"{counts['waitlisted']} on the waitlist")
    if counts["maybe"]:
        parts.append(f"{counts['maybe']} maybe")
    return " · ".join(parts)


def event_words(event: Event, long: bool = False) -> str:
    """When the event (the first date of a series) takes place, in its zone."""
    if event.all_day:
        return day_words(event.starts_at.date(), event.last_day, long)
    tz = event.tz
    return when(event.starts_at.replace(tzinfo=tz), event.ends_at.replace(tzinfo=tz), long=long)


def occurrence_words(occurrence: Occurrence, end: bool = True) -> str:
    """When one date takes place (where it was moved to, if it was), in the event's zone."""
    if occurrence.all_day:
        first = occurrence.starts_at.date()
        return day_words(first, occurrence.last_day if end else first)
    return when(occurrence.starts_at, occurrence.ends_at if end else None)


def moved_from_words(event: Event, occurrence: Occurrence) -> str | None:
    """Where a moved date was (its original start), so people who noted it see it is not
    then; None if it was not moved."""
    if not occurrence.moved:
        return None
    original = occurrence.original_start
    if event.all_day:
        return date_words(original.date())
    return when(original.replace(tzinfo=event.tz))
