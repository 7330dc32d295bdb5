"""The occurrences endpoint against RFC 5545's own examples (section 3.8.5.3).

The RFC's examples start in 1997 in America/New_York. They are moved 28 years later, to 2025: the
calendar repeats every 28 years between 1901 and 2099, so each date keeps its weekday, and the
times are local wall times, which daylight saving does not move. Examples whose shape Outlook
cannot show (several nth weekdays or days of the month in one rule) are refused with a reason
instead; the last test holds them to that.
"""

from datetime import date, timedelta

import pytest

SHIFT = 28  # years

# (DTSTART, RRULE, the first dates the RFC lists, month-day pairs by year)
EXAMPLES = [
    ("1997-09-02", "FREQ=DAILY;COUNT=10",
     {1997: [(9, d) for d in range(2, 12)]}),
    ("1997-09-02", "FREQ=DAILY;INTERVAL=10;COUNT=5",
     {1997: [(9, 2), (9, 12), (9, 22), (10, 2), (10, 12)]}),
    ("1997-09-02", "FREQ=WEEKLY;COUNT=10",
     {1997: [(9, 2), (9, 9), (9, 16), (9, 23), (9, 30), (10, 7), (10, 14), (10, 21), (10, 28),
             (11, 4)]}),
    ("1997-09-02", "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
     {1997: [(9, 2), (9, 4), (9, 9), (9, 11), (9, 16), (9, 18), (9, 23), (9, 25), (9, 30),
             (10, 2)]}),
    ("1997-09-02", "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
     {1997: [(9, 2), (9, 4), (9, 16), (9, 18), (9, 30), (10, 2), (10, 14), (10, 16)]}),
    ("1997-09-05", "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
     {1997: [(9, 5), (10, 3), (11, 7), (12, 5)],
      1998: [(1, 2), (2, 6), (3, 6), (4, 3), (5, 1), (6, 5)]}),
    ("1997-09-22", "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
     {1997: [(9, 22), (10, 20), (11, 17), (12, 22)], 1998: [(1, 19), (2, 16)]}),
    ("1997-09-28", "FREQ=MONTHLY;BYMONTHDAY=-3;COUNT=6",
     {1997: [(9, 28), (10, 29), (11, 28), (12, 29)], 1998: [(1, 29), (2, 26)]}),
    ("1997-09-02", "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU;COUNT=13",
     {1997: [(9, 2), (9, 9), (9, 16), (9, 23), (9, 30), (11, 4), (11, 11), (11, 18), (11, 25)],
      1998: [(1, 6), (1, 13), (1, 20), (1, 27)]}),
    ("1997-06-10", "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
     {year: [(6, 10), (7, 10)] for year in range(1997, 2002)}),
    ("1997-03-10", "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3",
     {1997: [(3, 10)], 1999: [(1, 10), (2, 10), (3, 10)], 2001: [(1, 10), (2, 10), (3, 10)],
      2003: [(1, 10), (2, 10), (3, 10)]}),
    ("1997-03-13", "FREQ=YEARLY;BYMONTH=3;BYDAY=TH;COUNT=11",
     {1997: [(3, 13), (3, 20), (3, 27)], 1998: [(3, 5), (3, 12), (3, 19), (3, 26)],
      1999: [(3, 4), (3, 11), (3, 18), (3, 25)]}),
    # Friday the 13th. The RFC starts it on 2 September 1997 and excludes that date with an
    # EXDATE; Hearth asks for a start that is a date of its rule (so every reader agrees).
    ("1998-02-13", "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13;COUNT=5",
     {1998: [(2, 13), (3, 13), (11, 13)], 1999: [(8, 13)], 2000: [(10, 13)]}),
    ("1997-09-04", "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
     {1997: [(9, 4), (10, 7), (11, 6)]}),
    ("1997-09-29", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2;COUNT=7",
     {1997: [(9, 29), (10, 30), (11, 27), (12, 30)], 1998: [(1, 29), (2, 26), (3, 30)]}),
    ("1997-08-05", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
     {1997: [(8, 5), (8, 10), (8, 19), (8, 24)]}),
    ("1997-08-05", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
     {1997: [(8, 5), (8, 17), (8, 19), (8, 31)]}),
]  # fmt: skip

REFUSED = [
    "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
    "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
    "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
    "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
]


def later(text: str) -> str:
    day = date.fromisoformat(text)
    return day.replace(year=day.year + SHIFT).isoformat()


def listed_dates(client, organizer, community, event_id):
    """The event's occurrences from the endpoint, three years at a time from 2025 to 2033."""
    dates = []
    start = date(2025, 1, 1)
    while start < date(2034, 1, 1):
        end = start + timedelta(days=3 * 365)
        response = client.get(
            f"/api/communities/{community['slug']}/occurrences",
            query_string={"start": start.isoformat(), "end": end.isoformat()},
            headers=organizer,
        )
        assert response.status_code == 200, response.text
        dates += [item["starts_at"] for item in response.json if item["event_id"] == event_id]
        start = end + timedelta(days=1)
    return dates


@pytest.mark.parametrize(("dtstart", "rrule", "expected"), EXAMPLES)
def test_the_rfcs_examples_give_the_rfcs_dates(
    client, organizer, community, dtstart, rrule, expected
):
    start = later(dtstart)
    until = rrule.split("UNTIL=")[1][:4] if "UNTIL=" in rrule else None
    rule = rrule.replace(f"UNTIL={until}", f"UNTIL={int(until) + SHIFT}") if until else rrule
    response = client.post(
        f"/api/communities/{community['slug']}/events",
        json={"kind": "social", "title": rrule, "starts_at": f"{start}T09:00",
              "ends_at": f"{start}T10:00", "rrule": rule},
        headers=organizer,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    wanted = [
        f"{year + SHIFT}-{month:02}-{day:02}T09:00:00"
        for year, days in sorted(expected.items())
        for month, day in days
    ]
    found = [text[:19] for text in listed_dates(client, organizer, community, response.json["id"])]
    assert found[: len(wanted)] == wanted


@pytest.mark.parametrize("rrule", REFUSED)
def test_shapes_outlook_cannot_show_are_refused_with_a_reason(client, organizer, community, rrule):
    response = client.post(
        f"/api/communities/{community['slug']}/events",
        json={"kind": "social", "title": "x", "starts_at": "2025-09-02T09:00",
              "ends_at": "2025-09-02T10:00", "rrule": rrule},
        headers=organizer,
    )  # fmt: skip
    assert response.status_code == 422
    assert "Outlook" in response.json["errors"]["rrule"] or "one series" in str(response.json)
