"""The VTIMEZONEs feeds send: the compact form Outlook keeps, the offsets zoneinfo gives, and the
same wall times in every reader."""

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import icalendar
import pytest

from shared.calendar_readers import read_everywhere
from shared.vtimezone import vtimezone

CHECKED_FROM = datetime(2020, 1, 1, tzinfo=UTC)
CHECKED_UNTIL = datetime(2036, 1, 1, tzinfo=UTC)
# The tz database has no two transitions within 7 days of each other since 1970, so an offset
# zoneinfo has and the VTIMEZONE lacks lasts longer than this.
SAMPLE_EVERY = timedelta(days=3)


def observances(name: str) -> list[tuple[str, str, str, str]]:
    """(kind, DTSTART, RRULE, RDATE) of each sub-component, read back from the text."""
    calendar = icalendar.Calendar.from_ical(_calendar(name))
    (timezone,) = calendar.walk("VTIMEZONE")
    return sorted(
        (
            component.name,
            component["DTSTART"].to_ical().decode(),
            component["RRULE"].to_ical().decode() if "RRULE" in component else "",
            "RDATE" if "RDATE" in component else "",
        )
        for component in timezone.subcomponents
    )


def _calendar(*names: str, events: Sequence[icalendar.Event] = ()) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Hearth//tests//EN")
    calendar.add("VERSION", "2.0")
    for name in names:
        calendar.add_component(vtimezone(name))
    for event in events:
        calendar.add_component(event)
    return calendar.to_ical()


@pytest.mark.parametrize(
    ("name", "daylight", "standard"),
    [
        ("America/New_York", ("20190310T020000", "3", "2SU"), ("20191103T020000", "11", "1SU")),
        # The EU changes at 01:00 UTC: 01:00 on London's clock in March, 02:00 in October.
        ("Europe/London", ("20190331T010000", "3", "-1SU"), ("20191027T020000", "10", "-1SU")),
        ("Europe/Berlin", ("20190331T020000", "3", "-1SU"), ("20191027T030000", "10", "-1SU")),
        # Southern hemisphere: daylight time starts in October and ends in April.
        ("Australia/Sydney", ("20191006T020000", "10", "1SU"), ("20190407T030000", "4", "1SU")),
        ("Australia/Lord_Howe", ("20191006T020000", "10", "1SU"), ("20190407T020000", "4", "1SU")),
        # Irish law calls summer time standard (tzdata: negative DST); clients expect GMT in winter.
        ("Europe/Dublin", ("20190331T010000", "3", "-1SU"), ("20191027T020000", "10", "-1SU")),
    ],
)
def test_a_zone_with_daylight_time_is_one_yearly_rule_pair(
    name: str, daylight: tuple[str, str, str], standard: tuple[str, str, str]
) -> None:
    expected = [
        (kind, start, f"FREQ=YEARLY;BYDAY={byday};BYMONTH={month}", "")
        for kind, (start, month, byday) in (("DAYLIGHT", daylight), ("STANDARD", standard))
    ]
    assert observances(name) == expected


def test_a_weekday_on_or_after_a_day_is_a_window_of_month_days() -> None:
    # Israel: the Friday before the last Sunday of March.
    (daylight, standard) = observances("Asia/Jerusalem")
    assert daylight[2] == "FREQ=YEARLY;BYDAY=FR;BYMONTHDAY=23,24,25,26,27,28,29;BYMONTH=3"
    assert standard[2] == "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"


@pytest.mark.parametrize("name", ["Asia/Tokyo", "UTC", "America/Phoenix", "Asia/Kolkata"])
def test_a_zone_without_daylight_time_is_one_standard(name: str) -> None:
    timezone = vtimezone(name)
    (standard,) = timezone.subcomponents
    assert standard.name == "STANDARD"
    assert standard["TZOFFSETFROM"].td == standard["TZOFFSETTO"].td
    assert "RRULE" not in standard and "RDATE" not in standard


def test_a_zone_that_dropped_daylight_time_ends_on_its_last_change() -> None:
    *_, last = observances("America/Sao_Paulo")
    assert last == ("STANDARD", "20190217T000000", "", "")


def test_changes_that_follow_no_yearly_rule_are_listed_for_the_years_asked() -> None:
    # Morocco leaves its +01 for Ramadan, which moves through the solar year.
    timezone = icalendar.Timezone.from_ical(vtimezone("Africa/Casablanca", 2024, 2030).to_ical())
    assert all("RRULE" not in component for component in timezone.subcomponents)
    rdates = [rdate for component in timezone.subcomponents for rdate in component.get("RDATE", [])]
    listed = sorted(moment.dt.year for rdate in rdates for moment in rdate.dts)
    assert listed[0] <= 2024 and listed[-1] == 2030


def test_each_call_gives_a_component_of_its_own() -> None:
    first = vtimezone("Europe/Paris")
    first.add("X-CHANGED", "yes")
    assert "X-CHANGED" not in vtimezone("Europe/Paris")


def test_every_zone_gives_zoneinfos_offset_at_every_moment() -> None:
    wrong = {}
    for name in sorted(available_timezones()):
        if difference := _first_difference(name):
            wrong[name] = difference
    assert not wrong


def _first_difference(name: str) -> str | None:
    """Where the VTIMEZONE, as icalendar reads it back, and zoneinfo disagree, if anywhere."""
    (timezone,) = icalendar.Calendar.from_ical(_calendar(name)).walk("VTIMEZONE")
    times, infos = timezone.get_transitions()
    changes = [moment.replace(tzinfo=UTC) for moment in times]
    offsets = [offset for offset, _, _ in infos]
    zone = ZoneInfo(name)

    def differs(moment: datetime) -> str | None:
        index = bisect_right(changes, moment) - 1
        ours = offsets[index] if index >= 0 else None
        theirs = moment.astimezone(zone).utcoffset()
        return None if ours == theirs else f"{moment}: VTIMEZONE {ours}, zoneinfo {theirs}"

    inside = [c for c in changes if CHECKED_FROM <= c < CHECKED_UNTIL]
    moments = [m for change in inside for m in (change - timedelta(seconds=1), change)]
    moment = CHECKED_FROM
    while moment < CHECKED_UNTIL:
        moments.append(moment)
        moment += SAMPLE_EVERY
    return next((found for m in moments if (found := differs(m))), None)


# Weekly at 18:00 across both changes of a year: the wall time holds, the UTC instant moves.
FIRST_WEEK = datetime(2026, 1, 8, 18, 0)
WEEKS = 52
WEEKLY = [
    *(
        (name, FIRST_WEEK)
        for name in (
            "America/New_York",
            "Europe/London",
            "Australia/Sydney",
            "Australia/Lord_Howe",
            "Asia/Jerusalem",
            "America/Santiago",
            "Pacific/Chatham",
            "America/Nuuk",
            "Africa/Casablanca",
            "Africa/Cairo",
            "Asia/Tokyo",
        )
    ),
    # Changes listed one by one: the years before a zone's current rule, or its last change.
    ("America/Mexico_City", datetime(2022, 1, 6, 18, 0)),
    ("America/Santiago", datetime(2022, 1, 6, 18, 0)),
    ("America/Nuuk", datetime(2023, 1, 5, 18, 0)),
]


def _weekly(name: str, first: datetime) -> icalendar.Event:
    start = first.replace(tzinfo=ZoneInfo(name))
    event = icalendar.Event()
    event.add("UID", _uid(name, first))
    event.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=UTC))
    event.add("SUMMARY", f"Consult group, {name}")
    event.add("DTSTART", start)
    event.add("DTEND", start + timedelta(hours=1, minutes=30))
    event.add("RRULE", {"FREQ": "WEEKLY", "COUNT": WEEKS})
    return event


def _uid(name: str, first: datetime) -> str:
    return f"weekly-{first.year}-{name}@hearth.test"


def test_every_reader_keeps_the_wall_time_of_a_weekly_event_across_the_changes() -> None:
    names = sorted({name for name, _ in WEEKLY})
    text = _calendar(*names, events=[_weekly(name, first) for name, first in WEEKLY])

    reading = read_everywhere(text, CHECKED_FROM, CHECKED_UNTIL)

    starts = {
        event["uid"]: [occurrence["start"] for occurrence in event["occurrences"]]
        for event in reading["events"]
    }
    for name, first in WEEKLY:
        zone = ZoneInfo(name)
        expected = [
            (first + timedelta(weeks=week))
            .replace(tzinfo=zone)
            .astimezone(UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            for week in range(WEEKS)
        ]
        assert starts[_uid(name, first)] == expected, name
