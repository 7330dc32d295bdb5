"""Tricky series, built through the API, read back from the community feed and the .ics downloads
by three independent readers (icalendar, recurring-ical-events and Mozilla's ical.js): each must
read them without error and expand them to exactly the occurrences the API lists."""

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from shared.calendar_readers import read_everywhere

WINDOW = (datetime(2026, 12, 31, tzinfo=UTC), datetime(2028, 1, 2, tzinfo=UTC))

# (title, fields): each a shape calendar apps are known to get wrong.
CORPUS = [
    ("Weekly across New York's spring change",
     {"starts_at": "2027-03-04T18:00", "ends_at": "2027-03-04T19:30",
      "rrule": "FREQ=WEEKLY;COUNT=4"}),
    ("Weekly across London's spring change",
     {"starts_at": "2027-03-18T18:00", "ends_at": "2027-03-18T19:00",
      "timezone": "Europe/London", "rrule": "FREQ=WEEKLY;COUNT=4"}),
    ("Weekly across London's autumn change",
     {"starts_at": "2027-10-21T18:00", "ends_at": "2027-10-21T19:00",
      "timezone": "Europe/London", "rrule": "FREQ=WEEKLY;COUNT=3"}),
    ("Weekly across Sydney's autumn change",
     {"starts_at": "2027-03-25T18:00", "ends_at": "2027-03-25T19:00",
      "timezone": "Australia/Sydney", "rrule": "FREQ=WEEKLY;COUNT=3"}),
    ("Weekly across Sydney's spring change",
     {"starts_at": "2027-09-23T18:00", "ends_at": "2027-09-23T19:00",
      "timezone": "Australia/Sydney", "rrule": "FREQ=WEEKLY;BYDAY=TH;COUNT=3"}),
    ("Every two weeks",
     {"starts_at": "2027-01-07T12:00", "ends_at": "2027-01-07T13:00",
      "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH;COUNT=6"}),
    ("Monthly on the 2nd Tuesday",
     {"starts_at": "2027-01-12T19:00", "ends_at": "2027-01-12T20:30",
      "rrule": "FREQ=MONTHLY;BYDAY=2TU;COUNT=6"}),
    ("Monthly on the last weekday",
     {"starts_at": "2027-01-29T16:00", "ends_at": "2027-01-29T17:00",
      "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=6"}),
    ("Weekly until the end of March",
     {"starts_at": "2027-03-02T08:00", "ends_at": "2027-03-02T09:00",
      "rrule": "FREQ=WEEKLY;UNTIL=20270331T235959"}),
    ("A one-off lunch",
     {"starts_at": "2027-02-10T12:00", "ends_at": "2027-02-10T13:00"}),
    ("One date cancelled, one moved",
     {"starts_at": "2027-04-06T18:00", "ends_at": "2027-04-06T19:00",
      "rrule": "FREQ=WEEKLY;COUNT=5"}),
    ("An all-day celebration",
     {"kind": "celebration", "all_day": True, "starts_at": "2027-05-01",
      "ends_at": "2027-05-01"}),
    ("A two-day retreat every year",
     {"all_day": True, "starts_at": "2027-06-12", "ends_at": "2027-06-13",
      "rrule": "FREQ=YEARLY;UNTIL=20290613"}),
]  # fmt: skip


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def corpus(client, organizer, community, stack):
    made = {}
    for title, fields in CORPUS:
        response = client.post(
            f"/api/communities/{community['slug']}/events",
            json={"kind": "social", "title": title, **fields},
            headers=organizer,
        )
        assert response.status_code == 201, response.text
        made[title] = response.json
    for title, day in (
        ("Every two weeks", "2027-02-04T12:00"),
        ("One date cancelled, one moved", "2027-04-13T18:00"),
    ):
        response = client.post(
            f"/api/events/{made[title]['id']}/cancel",
            json={"occurrence": day},
            headers=organizer,
        )
        assert response.status_code == 200, response.text
    # Moved a day later and an hour earlier, and renamed.
    moved = made["One date cancelled, one moved"]
    response = client.patch(
        f"/api/events/{moved['id']}/occurrences/2027-04-20T18:00",
        json={
            "starts_at": "2027-04-21T17:00",
            "ends_at": "2027-04-21T18:00",
            "title": "Moved for the holiday",
        },
        headers=organizer,
    )
    assert response.status_code == 200, response.text
    stack.flush()
    return made


def listed(client, organizer, community):
    """The occurrences endpoint's scheduled occurrences, by UID, as UTC (start, end)."""
    response = client.get(
        f"/api/communities/{community['slug']}/occurrences?start=2027-01-01&end=2027-12-31",
        headers=organizer,
    )
    assert response.status_code == 200, response.text
    found: dict[str, list[tuple[str, str]]] = {}
    for item in response.json:
        if item["status"] == "cancelled":
            continue
        ends = utc(item["ends_at"])
        if item.get("all_day"):
            # The API names the last day; DTEND is the day after it (RFC 5545).
            ends = (date.fromisoformat(ends) + timedelta(days=1)).isoformat()
        found.setdefault(f"{item['event_id']}@hearth", []).append((utc(item["starts_at"]), ends))
    return {uid: sorted(times) for uid, times in found.items()}


def utc(text):
    """UTC, as the readers say it; a whole day stays a date (it is the same day everywhere)."""
    if len(text) == 10:
        return text
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expanded(reading):
    return {
        event["uid"]: [(o["start"], o["end"]) for o in event["occurrences"]]
        for event in reading["events"]
    }


def test_every_reader_expands_the_feed_to_the_occurrences_the_api_lists(
    client, organizer, community, corpus
):
    feed_url = client.get(f"/api/communities/{community['slug']}", headers=organizer).json[
        "feed_url"
    ]
    feed = client.get(path_of(feed_url))
    assert feed.status_code == 200
    reading = read_everywhere(feed.data, *WINDOW)
    assert expanded(reading) == listed(client, organizer, community)


def test_the_local_time_stays_put_through_daylight_saving_changes(
    client, organizer, community, corpus
):
    feed_url = client.get(f"/api/communities/{community['slug']}", headers=organizer).json[
        "feed_url"
    ]
    dates = expanded(read_everywhere(client.get(path_of(feed_url)).data, *WINDOW))

    def starts(title):
        return [start for start, _ in dates[f"{corpus[title]['id']}@hearth"]]

    # 18:00 on the clock each week: the UTC time moves when the clocks do.
    assert starts("Weekly across New York's spring change") == [
        "2027-03-04T23:00:00Z", "2027-03-11T23:00:00Z",  # EST, UTC-5
        "2027-03-18T22:00:00Z", "2027-03-25T22:00:00Z",  # EDT, UTC-4 from 14 March
    ]  # fmt: skip
    assert starts("Weekly across London's spring change") == [
        "2027-03-18T18:00:00Z", "2027-03-25T18:00:00Z",  # GMT
        "2027-04-01T17:00:00Z", "2027-04-08T17:00:00Z",  # BST from 28 March
    ]  # fmt: skip
    assert starts("Weekly across Sydney's autumn change") == [
        "2027-03-25T07:00:00Z", "2027-04-01T07:00:00Z",  # AEDT, UTC+11
        "2027-04-08T08:00:00Z",  # AEST, UTC+10 from 4 April
    ]  # fmt: skip


def test_each_event_downloads_as_an_ics_every_reader_agrees_on(
    client, organizer, community, corpus
):
    occurrences = listed(client, organizer, community)
    for event in corpus.values():
        download = client.get(f"/events/{event['id']}/calendar.ics", headers=organizer)
        assert download.status_code == 200
        uid = f"{event['id']}@hearth"
        assert expanded(read_everywhere(download.data, *WINDOW)) == {uid: occurrences[uid]}
