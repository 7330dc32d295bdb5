"""The events domain rules and the shared time and recurrence rules, without any server."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.events.model import (
    Community,
    Event,
    Invalid,
    build_event,
    can_manage,
    can_view,
    day_window,
    slugify,
)
from shared.recurrence import Series, parse_recurrence, to_instant, zone

TODAY = date(2026, 11, 22)
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")


def event(**fields) -> Event:
    values = {
        "id": "e1",
        "community_id": "c1",
        "kind": "peer_lunch",
        "title": "Lunch",
        "starts_at": datetime(2027, 3, 4, 12),
        "ends_at": datetime(2027, 3, 4, 13),
        "timezone": "America/New_York",
    }
    values.update(fields)
    blank = Event(**{**values, "starts_at": datetime(2000, 1, 1)})
    return build_event(blank, values, "America/New_York", today=TODAY)


def starts(ev: Event, start: datetime, end: datetime) -> list[str]:
    return [o.starts_at.isoformat() for o in ev.occurrences(start, end)]


def year(y: int) -> tuple[datetime, datetime]:
    return datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)


# --- local times -----------------------------------------------------------------------------


def test_a_local_time_becomes_its_instant():
    assert to_instant(datetime(2026, 12, 3, 12), NY) == datetime(2026, 12, 3, 17, tzinfo=UTC)
    assert to_instant(datetime(2026, 7, 3, 12), NY) == datetime(2026, 7, 3, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "tz"),
    [
        (datetime(2027, 3, 14, 2, 30), NY),
        (datetime(2027, 3, 28, 1, 30), LONDON),
        (datetime(2026, 10, 4, 2, 15), SYDNEY),
    ],
)
def test_a_time_in_the_spring_gap_is_refused_with_the_reason(local, tz):
    with pytest.raises(ValueError, match=r"does not exist .* clocks jump forward"):
        to_instant(local, tz)


@pytest.mark.parametrize(
    ("local", "tz"),
    [
        (datetime(2027, 11, 7, 1, 30), NY),
        (datetime(2027, 10, 31, 1, 30), LONDON),
        (datetime(2027, 4, 4, 2, 30), SYDNEY),
    ],
)
def test_a_time_in_the_autumn_overlap_is_refused_as_ambiguous(local, tz):
    with pytest.raises(ValueError, match=r"happens twice .* clocks go back"):
        to_instant(local, tz)


def test_a_time_with_an_offset_is_refused():
    with pytest.raises(ValueError, match="without a UTC offset"):
        to_instant(datetime(2026, 12, 3, 12, tzinfo=UTC), NY)


def test_unknown_time_zones_are_refused_with_a_suggestion():
    with pytest.raises(ValueError, match="Did you mean America/New_York"):
        zone("new_york")
    for bad in ("Mars/Olympus", "", "../etc/passwd", "EST5EDT "):
        with pytest.raises(ValueError):
            zone(bad)


# --- recurrence ------------------------------------------------------------------------------


def test_a_weekly_series_keeps_its_wall_time_across_the_dst_change():
    ev = event(
        starts_at=datetime(2027, 3, 4, 12),
        ends_at=datetime(2027, 3, 4, 13),
        rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=3",
    )
    assert starts(ev, *year(2027)) == [
        "2027-03-04T12:00:00-05:00",
        "2027-03-11T12:00:00-05:00",
        "2027-03-18T12:00:00-04:00",
    ]


def test_every_two_weeks_and_monthly_by_nth_and_last_weekday():
    biweekly = event(
        starts_at=datetime(2027, 1, 5, 18),
        ends_at=datetime(2027, 1, 5, 19),
        rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=3",
    )
    assert [o.starts_at.date() for o in biweekly.occurrences(*year(2027))] == [
        date(2027, 1, 5),
        date(2027, 1, 19),
        date(2027, 2, 2),
    ]
    second_tuesday = event(
        starts_at=datetime(2027, 1, 12, 12),
        ends_at=datetime(2027, 1, 12, 13),
        rrule="FREQ=MONTHLY;BYDAY=2TU;COUNT=3",
    )
    assert [o.starts_at.date() for o in second_tuesday.occurrences(*year(2027))] == [
        date(2027, 1, 12),
        date(2027, 2, 9),
        date(2027, 3, 9),
    ]
    last_friday = event(
        starts_at=datetime(2027, 1, 29, 17),
        ends_at=datetime(2027, 1, 29, 18),
        rrule="FREQ=MONTHLY;BYDAY=-1FR;COUNT=3",
    )
    assert [o.starts_at.date() for o in last_friday.occurrences(*year(2027))] == [
        date(2027, 1, 29),
        date(2027, 2, 26),
        date(2027, 3, 26),
    ]


def test_occurrences_in_the_gap_are_skipped_and_not_counted():
    # RFC 5545 3.3.10: a recurrence instance at a nonexistent local time is ignored.
    ev = event(
        starts_at=datetime(2027, 3, 12, 2, 30),
        ends_at=datetime(2027, 3, 12, 3),
        rrule="FREQ=DAILY;COUNT=4",
    )
    assert [o.starts_at.day for o in ev.occurrences(*year(2027))] == [12, 13, 15, 16]


def test_occurrences_in_the_overlap_take_the_first_of_the_two_times():
    ev = event(
        starts_at=datetime(2027, 11, 6, 1, 30),
        ends_at=datetime(2027, 11, 6, 2),
        rrule="FREQ=DAILY;COUNT=2",
    )
    assert starts(ev, *year(2027))[1] == "2027-11-07T01:30:00-04:00"


def test_until_is_stored_in_utc_and_includes_the_last_local_day():
    rule = parse_recurrence("FREQ=WEEKLY;BYDAY=TH;UNTIL=20270325", datetime(2027, 3, 4, 12), NY)
    assert rule.text == "FREQ=WEEKLY;BYDAY=TH;UNTIL=20270326T035959Z"
    ev = event(rrule=rule.text)
    assert len(ev.occurrences(*year(2027))) == 4
    assert ev.last_end == datetime(2027, 3, 25, 17, tzinfo=UTC)


def test_a_series_without_end_has_no_last_end_and_expands_in_any_window():
    ev = event(rrule="FREQ=WEEKLY;BYDAY=TH")
    assert ev.last_end is None
    window = (datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC))
    assert [o.starts_at.day for o in ev.occurrences(*window)] == [3, 10, 17, 24, 31]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=HOURLY", "FREQ=HOURLY is not allowed"),
        ("BYDAY=TH", "needs FREQ"),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20270401", "not both"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a list of days"),
        ("FREQ=WEEKLY;COUNT=0", "at least 1"),
        ("FREQ=WEEKLY;BYHOUR=9", "BYHOUR is not supported"),
        ("FREQ=MONTHLY;BYDAY=1SU,-1SU", "Outlook"),
        ("FREQ=MONTHLY;BYMONTHDAY=2,15", "Outlook"),
        ("FREQ=WEEKLY;BYDAY=TU", "not one of the dates this rule gives"),
        ("FREQ=WEEKLY;UNTIL=20200101", "UNTIL is before the start"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "only goes with FREQ=MONTHLY"),
        ("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30", "never happens"),
        ("FREQ=MONTHLY;BYDAY=TH;BYSETPOS=6", "use 1 to 4"),
        ("FREQ=WEEKLY;BYDAY=2TH", "numbered days"),
        ("FREQ=MONTHLY;BYDAY=9TH", "a numbered day goes from 1"),
        ("FREQ=YEARLY;BYDAY=1TH", "needs BYMONTH"),
        ("FREQ=YEARLY;BYYEARDAY=63", "BYYEARDAY is not supported"),
        ("FREQ=WEEKLY;UNTIL=tomorrow", "is not a date"),
        ("FREQ=DAILY;UNTIL=20400101", "at most 10 years"),
        ("FREQ=DAILY;UNTIL=99991231", "at most 10 years"),
        ("nonsense", "not KEY=VALUE"),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(rule, message):
    with pytest.raises(ValueError, match=message):
        parse_recurrence(rule, datetime(2027, 3, 4, 12), NY)


@pytest.mark.parametrize(
    ("rule", "start"),
    [
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", datetime(2027, 3, 31, 17)),
        ("FREQ=MONTHLY;BYMONTHDAY=15", datetime(2027, 3, 15, 12)),
        ("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", datetime(2027, 8, 13, 12)),
        ("FREQ=YEARLY;BYMONTH=5;BYDAY=2SU", datetime(2027, 5, 9, 11)),
        ("FREQ=DAILY;BYDAY=MO,WE,FR", datetime(2027, 3, 1, 8)),
    ],
)
def test_the_shapes_meetups_need_are_accepted(rule, start):
    assert parse_recurrence(rule, start, NY).text


def test_cancelled_occurrences_are_listed_as_cancelled():
    ev = event(rrule="FREQ=WEEKLY;BYDAY=TH;COUNT=3")
    ev.cancelled_occurrences.add(datetime(2027, 3, 11, 12))
    statuses = [o.status for o in ev.occurrences(*year(2027))]
    assert statuses == ["scheduled", "cancelled", "scheduled"]
    assert ev.is_occurrence(datetime(2027, 3, 18, 12))
    assert not ev.is_occurrence(datetime(2027, 3, 18, 13))
    assert not ev.is_occurrence(datetime(2027, 3, 25, 12))


def test_a_start_far_from_today_is_refused():
    with pytest.raises(Invalid, match="within ten years of today"):
        event(starts_at=datetime(1000, 1, 1, 12), ends_at=datetime(1000, 1, 1, 13))
    with pytest.raises(Invalid, match="within ten years of today"):
        event(starts_at=datetime(9999, 12, 31, 22), ends_at=datetime(9999, 12, 31, 23))


def test_occurrence_windows_stay_near_today():
    with pytest.raises(Invalid, match="ten years"):
        day_window(date(2090, 1, 1), date(2090, 1, 2), NY, today=date(2026, 11, 22))


def test_occurrences_overlapping_the_window_edges_are_included():
    ev = event(starts_at=datetime(2027, 3, 4, 23), ends_at=datetime(2027, 3, 5, 1))
    window = day_window(date(2027, 3, 5), date(2027, 3, 5), NY, today=date(2026, 11, 22))
    assert len(ev.occurrences(*window)) == 1


# --- event rules -----------------------------------------------------------------------------


def test_every_bad_field_is_named_at_once():
    with pytest.raises(Invalid) as caught:
        event(kind="party", title="x" * 10_000, capacity=-1, timezone="Nowhere/Land")
    assert set(caught.value.errors) == {"kind", "title", "capacity", "timezone"}
    assert "200 characters" in caught.value.errors["title"]


def test_end_before_start_is_refused():
    with pytest.raises(Invalid) as caught:
        event(ends_at=datetime(2027, 3, 4, 11))
    assert caught.value.errors == {"ends_at": "the event must end after it starts"}


def test_kind_specific_fields_belong_to_their_kind():
    with pytest.raises(Invalid) as caught:
        event(ce_hours=2.0, honoree_email="a@example.org")
    assert caught.value.errors == {
        "ce_hours": "ce_hours only applies to a training",
        "honoree_email": "honoree_email only applies to a celebration",
    }
    assert event(kind="training", ce_hours=2.0, presenter="Dr. Chen").ce_hours == 2.0
    with pytest.raises(Invalid, match="surprise needs the honoree"):
        event(kind="celebration", surprise=True)


def test_consult_groups_are_never_public():
    with pytest.raises(Invalid, match="confidential"):
        event(kind="consult_group", visibility="public")


def test_rsvp_deadline_must_not_be_after_the_start():
    with pytest.raises(Invalid, match="no later than the start"):
        event(rsvp_deadline=datetime(2027, 3, 4, 12, 30))
    assert event(rsvp_deadline=datetime(2027, 3, 3, 12)).rsvp_deadline is not None


def test_the_guest_limit_defaults_by_kind_and_fits_the_capacity():
    assert event().guest_limit is None
    assert event().guests_allowed == 1
    assert event(kind="social").guests_allowed == 1
    assert event(kind="consult_group").guests_allowed == 0
    assert event(kind="training").guests_allowed == 0
    assert event(capacity=1).guests_allowed == 0, "a party of two would never fit"
    assert event(capacity=2).guests_allowed == 1
    assert event(guest_limit=0).guests_allowed == 0
    chosen = event(kind="consult_group", guest_limit=3)
    assert (chosen.guest_limit, chosen.guests_allowed) == (3, 3)
    assert event(guest_limit=20, capacity=21).guests_allowed == 20


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"guest_limit": -1},
            "from 0 (no guests) to 20 per attendee, or left empty for the default",
        ),
        ({"guest_limit": 21}, "from 0 (no guests) to 20 per attendee"),
        ({"guest_limit": 10**30}, "from 0 (no guests) to 20 per attendee"),
        ({"guest_limit": "two"}, "must be a whole number"),
        ({"guest_limit": True}, "must be a whole number"),
        ({"guest_limit": 1.5}, "must be a whole number"),
        (
            {"guest_limit": 4, "capacity": 4},
            "with a capacity of 4, each attendee can bring at most 3 guests",
        ),
        (
            {"guest_limit": 1, "capacity": 1},
            "with a capacity of 1, each attendee can bring no guests",
        ),
        ({"guest_limit": 2, "capacity": 2}, "can bring at most 1 guest:"),
    ],
)
def test_a_bad_guest_limit_is_refused_with_what_to_do(fields, message):
    with pytest.raises(Invalid) as caught:
        event(**fields)
    assert set(caught.value.errors) == {"guest_limit"}
    assert message in caught.value.errors["guest_limit"]


def test_a_guest_limit_is_not_checked_against_a_capacity_that_is_itself_wrong():
    with pytest.raises(Invalid) as caught:
        event(capacity=0, guest_limit=2)
    assert set(caught.value.errors) == {"capacity"}


def test_only_organizers_manage_and_only_members_see_private_communities():
    private = Community(id="c", slug="c", name="C", timezone="UTC", visibility="private")
    public = Community(id="c", slug="c", name="C", timezone="UTC", visibility="public")
    assert can_manage("organizer")
    assert not can_manage("member")
    assert not can_manage(None)
    assert can_view("member", private)
    assert not can_view(None, private)
    assert can_view(None, public)


def test_slugs_are_readable_and_safe():
    assert slugify("Riverside Clinicians' Network") == "riverside-clinicians-network"
    assert slugify("Café Ünïcode") == "cafe-unicode"
    assert slugify("!!!") == "community"


def test_a_series_expands_the_same_for_every_service():
    # The rsvps service checks occurrences with the same Series the events service expands.
    series = Series(datetime(2027, 3, 4, 12), datetime(2027, 3, 4, 13), "America/New_York",
                    "FREQ=WEEKLY;BYDAY=TH;COUNT=3")  # fmt: skip
    assert [s.isoformat() for s in series.starts()] == [
        "2027-03-04T12:00:00-05:00", "2027-03-11T12:00:00-05:00", "2027-03-18T12:00:00-04:00",
    ]  # fmt: skip
    assert series.is_occurrence(datetime(2027, 3, 18, 12))
    assert not series.is_occurrence(datetime(2027, 3, 25, 12))
    assert series.last_end == datetime(2027, 3, 18, 17, tzinfo=UTC)
