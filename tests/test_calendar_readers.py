"""The readers the feed tests lean on: they agree on a good calendar and refuse a bad one."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

import shared.testing
from shared import calendar_readers
from shared.calendar_readers import (
    expand_with_recurring_ical_events,
    read_everywhere,
    read_with_icalendar,
    read_with_icaljs,
)
from shared.vtimezone import vtimezone

NEW_YORK = ZoneInfo("America/New_York")
WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def _series(zone: bool = True) -> bytes:
    """Weekly at 18:00 in New York across the March change, one date skipped, one moved and
    cancelled."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Hearth//tests//EN")
    calendar.add("VERSION", "2.0")
    if zone:
        calendar.add_component(vtimezone("America/New_York"))
    start = datetime(2026, 2, 19, 18, 0, tzinfo=NEW_YORK)
    master = icalendar.Event()
    master.add("UID", "series@hearth.test")
    master.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=UTC))
    master.add("SUMMARY", "Peer consult")
    master.add("DTSTART", start)
    master.add("DTEND", start + timedelta(hours=1, minutes=30))
    master.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 5})
    master.add("EXDATE", start + timedelta(weeks=1))
    calendar.add_component(master)
    moved = icalendar.Event()
    moved.add("UID", "series@hearth.test")
    moved.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=UTC))
    moved.add("SEQUENCE", 1)
    moved.add("RECURRENCE-ID", start + timedelta(weeks=3))
    moved.add("DTSTART", start + timedelta(weeks=3, days=1))
    moved.add("DTEND", start + timedelta(weeks=3, days=1, hours=1))
    moved.add("STATUS", "CANCELLED")
    calendar.add_component(moved)
    return calendar.to_ical()


def test_the_readers_agree_on_skipped_and_moved_dates_across_a_change_of_offset() -> None:
    reading = read_everywhere(_series(), *WINDOW)

    (event,) = reading["events"]
    assert (event["uid"], event["summary"], event["status"]) == (
        "series@hearth.test",
        "Peer consult",
        None,
    )
    assert [(o["start"], o["status"], o["recurrence_id"]) for o in event["occurrences"]] == [
        ("2026-02-19T23:00:00Z", None, "2026-02-19T23:00:00Z"),
        ("2026-03-05T23:00:00Z", None, "2026-03-05T23:00:00Z"),
        ("2026-03-13T22:00:00Z", "CANCELLED", "2026-03-12T22:00:00Z"),
        ("2026-03-19T22:00:00Z", None, "2026-03-19T22:00:00Z"),
    ]


def test_the_window_holds_the_occurrences_that_overlap_it() -> None:
    # The first date ends at 00:30Z; the second starts at 23:00Z.
    window = (datetime(2026, 2, 20, 0, 30, tzinfo=UTC), datetime(2026, 3, 5, 23, 0, tzinfo=UTC))
    overlapping = (window[0] - timedelta(minutes=1), window[1] + timedelta(minutes=1))
    for readings, expected in (
        (window, []),
        (overlapping, ["2026-02-19T23:00:00Z", "2026-03-05T23:00:00Z"]),
    ):
        for reading in (
            read_with_icaljs(_series(), *readings),
            expand_with_recurring_ical_events(_series(), *readings),
        ):
            assert [o["start"] for o in reading["events"][0]["occurrences"]] == expected


def test_a_tzid_without_its_vtimezone_is_refused() -> None:
    with pytest.raises(AssertionError, match="America/New_York"):
        read_with_icalendar(_series(zone=False))
    with pytest.raises(AssertionError, match="TZID America/New_York has no VTIMEZONE"):
        read_with_icaljs(_series(zone=False), *WINDOW)


def test_an_impossible_date_is_refused() -> None:
    text = _series().replace(
        b"DTSTART;TZID=America/New_York:20260219", b"DTSTART;TZID=America/New_York:20260230"
    )
    with pytest.raises(AssertionError, match="not a valid date-time"):
        read_with_icaljs(text, *WINDOW)


def test_text_that_does_not_parse_is_refused() -> None:
    text = _series().replace(b"SUMMARY:Peer consult", b"SUMMARY Peer consult")
    with pytest.raises(AssertionError, match="does not parse"):
        read_with_icaljs(text, *WINDOW)
    with pytest.raises(AssertionError, match="SUMMARY Peer consult"):
        read_with_icalendar(text)


def test_a_value_icalendar_had_to_skip_is_refused() -> None:
    text = _series().replace(b"DTSTAMP:20260101T000000Z", b"DTSTAMP:yesterday", 1)
    with pytest.raises(AssertionError, match="DTSTAMP"):
        read_with_icalendar(text)


@pytest.mark.parametrize(
    ("in_ci", "outcome"), [(True, pytest.fail.Exception), (False, pytest.skip.Exception)]
)
def test_without_node_the_ical_js_reader_skips_but_never_under_ci(
    monkeypatch: pytest.MonkeyPatch, in_ci: bool, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(shared.testing, "IN_CI", in_ci)
    monkeypatch.setattr(calendar_readers.shutil, "which", lambda _: None)
    with pytest.raises(outcome, match="node"):
        read_with_icaljs(_series(), *WINDOW)
