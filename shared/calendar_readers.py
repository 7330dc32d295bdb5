"""Independent readers of the iCalendar text Hearth publishes, for the tests to hold it to.

Calendar clients do not share a parser, so a feed is only right when several readers agree on
it (FIELD-NOTES.md, "Calendar feeds"): `icalendar` read strictly (it is lenient unless its
`component.errors` are checked), `recurring-ical-events` for the expansion of repeats with their
EXDATEs and overrides, and Mozilla's ical.js, the Thunderbird parser, run with node on
tests/js/ical_check.mjs. Both expanders answer in one shape, a `Reading`:

    {"events": [{"uid", "summary", "status",
                 "occurrences": [{"start", "end", "status", "recurrence_id"?}]}],
     "errors": [...]}

with events ordered by UID, occurrences by start, times as UTC text ("2026-03-08T23:00:00Z", or
"2026-03-08" for a date), `recurrence_id` only on the occurrences of a repeating event, and the
occurrences those that overlap the window [start, end).

`icalendar` and so `recurring-ical-events` resolve an IANA TZID with zoneinfo and ignore the
calendar's VTIMEZONE for it, as Google and Apple do; ical.js reads the VTIMEZONE, as Thunderbird
and Outlook do. Agreement between them therefore also checks the VTIMEZONEs.

Without node or the npm packages (`npm ci --prefix tests/js`) the ical.js reader skips the test,
and fails it under CI=true.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

from shared.testing import unavailable

Reading = dict[str, Any]

JS_DIR = Path(__file__).resolve().parents[1] / "tests" / "js"
ICAL_CHECK = JS_DIR / "ical_check.mjs"
NODE_TIMEOUT = 60


def read_with_icalendar(text: str | bytes) -> icalendar.Calendar:
    """The calendar as `icalendar` reads it, failing the test on anything it had to skip or guess,
    and on a TZID without its VTIMEZONE."""
    calendars = icalendar.Calendar.from_ical(text, multiple=True)
    assert len(calendars) == 1, f"expected one VCALENDAR, found {len(calendars)}"
    calendar = calendars[0]
    errors = [
        f"{component.name}: {error}" for component in calendar.walk() for error in component.errors
    ]
    assert not errors, "icalendar could not read all of the calendar:\n" + "\n".join(errors)
    missing = calendar.get_missing_tzids()
    assert not missing, f"TZIDs without a VTIMEZONE: {sorted(missing)}"
    return calendar


def expand_with_recurring_ical_events(text: str | bytes, start: datetime, end: datetime) -> Reading:
    """Every event's occurrences overlapping [start, end), as `recurring-ical-events` expands them
    from the strictly read calendar."""
    calendar = read_with_icalendar(text)
    vevents = list(calendar.walk("VEVENT"))
    masters = {str(v["UID"]): v for v in vevents if "RECURRENCE-ID" not in v}
    errors = [
        f"{v.get('UID')}: an override without its repeating event"
        for v in vevents
        if "RECURRENCE-ID" in v and str(v.get("UID")) not in masters
    ]
    found: dict[str, list[dict[str, str | None]]] = {uid: [] for uid in masters}
    for occurrence in recurring_ical_events.of(calendar).between(start, end):
        uid = str(occurrence["UID"])
        if uid not in masters:
            continue
        master = masters[uid]
        item: dict[str, str | None] = {
            "start": _text(occurrence.start),
            "end": _text(occurrence.end),
            "status": _optional(occurrence.get("STATUS")),
        }
        if "RRULE" in master or "RDATE" in master:
            recurrence_id: Any = occurrence["RECURRENCE-ID"]
            item["recurrence_id"] = _text(recurrence_id.dt)
        found[uid].append(item)
    events = [
        {
            "uid": uid,
            "summary": _optional(masters[uid].get("SUMMARY")),
            "status": _optional(masters[uid].get("STATUS")),
            "occurrences": sorted(found[uid], key=lambda o: str(o["start"])),
        }
        for uid in sorted(masters)
    ]
    return {"events": events, "errors": errors}


def read_with_icaljs(
    text: str | bytes, start: datetime, end: datetime, *, strict: bool = True
) -> Reading:
    """Every event's occurrences overlapping [start, end), as Mozilla's ical.js reads them (with
    the calendar's own VTIMEZONEs). Fails the test when ical.js cannot parse the text and, if
    `strict`, when it reports errors (a TZID without VTIMEZONE, floating or invalid times)."""
    node = shutil.which("node")
    if node is None:
        unavailable("node, to run ical.js,", FileNotFoundError("node is not on PATH"))
    if not (JS_DIR / "node_modules" / "ical.js").is_dir():
        unavailable(
            "ical.js (`npm ci --prefix tests/js` installs it)",
            FileNotFoundError(JS_DIR / "node_modules" / "ical.js"),
        )
    assert node is not None
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    result = subprocess.run(
        [node, str(ICAL_CHECK), _text(start), _text(end)],
        input=text,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=NODE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"ical.js could not read the calendar: {result.stderr.strip()}"
    reading: Reading = json.loads(result.stdout)
    if strict:
        assert not reading["errors"], "ical.js reports:\n" + "\n".join(reading["errors"])
    return reading


def read_everywhere(text: str | bytes, start: datetime, end: datetime) -> Reading:
    """The reading all three readers agree on, failing the test where they do not."""
    from_python = expand_with_recurring_ical_events(text, start, end)
    assert not from_python["errors"], "\n".join(from_python["errors"])
    from_icaljs = read_with_icaljs(text, start, end)
    differences = _differences(from_icaljs["events"], from_python["events"])
    assert not differences, (
        "ical.js and recurring-ical-events read the calendar differently:\n"
        + "\n".join(differences)
    )
    return from_python


def _differences(icaljs: list[dict[str, Any]], python: list[dict[str, Any]]) -> list[str]:
    """The first few disagreements of each event, readably."""
    found = []
    by_uid = {event["uid"]: event for event in python}
    for event in icaljs:
        other = by_uid.pop(event["uid"], None)
        if other is None:
            found.append(f"{event['uid']}: only ical.js has it")
            continue
        for key in ("summary", "status"):
            if event[key] != other[key]:
                found.append(f"{event['uid']} {key}: ical.js {event[key]!r}, Python {other[key]!r}")
        theirs, ours = event["occurrences"], other["occurrences"]
        if len(theirs) != len(ours):
            found.append(f"{event['uid']}: ical.js {len(theirs)} occurrences, Python {len(ours)}")
        pairs = [(a, b) for a, b in zip(theirs, ours, strict=False) if a != b]
        found += [f"{event['uid']}: ical.js {a}, Python {b}" for a, b in pairs[:3]]
    found += [f"{uid}: only recurring-ical-events has it" for uid in by_uid]
    return found


def _text(moment: date) -> str:
    if not isinstance(moment, datetime):
        return moment.isoformat()
    assert moment.tzinfo is not None, f"floating time {moment.isoformat()}"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)
