"""Calendar feeds over HTTP: who may read which feed, what is in it, and the validators that let
thousands of polling calendar apps be answered cheaply."""

from datetime import datetime, time
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar

from shared.testing import thursday

LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "description": "Bring your own lunch.",
    "starts_at": "2027-01-14T12:00",
    "ends_at": "2027-01-14T13:00",
    "location": "Juniper Café",
    "online_url": "https://video.example.org/lunch",
    "capacity": 10,
}


def path_of(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def read(response):
    """The feed as icalendar reads it, with nothing it could not parse."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"\r\n" in response.data and b"\n\n" not in response.data
    calendar = icalendar.Calendar.from_ical(response.data)
    for component in calendar.walk():
        assert not component.errors, component.errors
    return calendar


def vevents(calendar):
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def unfolded(component):
    return component.to_ical().decode().replace("\r\n ", "")


def feed_path(client, organizer, community):
    body = client.get(f"/api/communities/{community['slug']}", headers=organizer).json
    return path_of(body["feed_url"])


def test_a_private_communitys_feed_needs_its_token(client, organizer, community, schedule):
    lunch = schedule()
    path = feed_path(client, organizer, community)
    assert "?token=" in path
    calendar = read(client.get(path))
    assert str(calendar["X-WR-CALNAME"]) == community["name"]
    assert calendar["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
    assert "X-PUBLISHED-TTL" in calendar
    assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    event = vevents(calendar)[f"{lunch['id']}@hearth"]
    assert str(event["SUMMARY"]) == "Peer lunch"
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert "ATTENDEE" not in event and "ORGANIZER" not in event

    bare = path.split("?")[0]
    assert client.get(bare).status_code == 404
    assert client.get(f"{bare}?token=wrong").status_code == 404


def test_an_unchanged_feed_is_a_304_and_a_change_shows_once_its_message_flowed(
    client, organizer, community, schedule, stack
):
    lunch = schedule()
    path = feed_path(client, organizer, community)
    first = client.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304

    client.patch(f"/api/events/{lunch['id']}", json={"title": "Peer lunch, upstairs"},
                 headers=organizer)  # fmt: skip
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304  # not yet
    stack.flush()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    event = vevents(read(changed))[f"{lunch['id']}@hearth"]
    assert str(event["SUMMARY"]) == "Peer lunch, upstairs"
    assert int(event["SEQUENCE"]) == lunch["sequence"] + 1


def test_a_rebuild_with_nothing_changed_keeps_the_validators(
    client, organizer, community, schedule, stack
):
    schedule()
    path = feed_path(client, organizer, community)
    first = client.get(path)
    with stack.services["events"].engine.begin() as conn:
        conn.exec_driver_sql("UPDATE feeds SET stale = true")
    again = client.get(path)
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]


def test_cancelled_events_and_dates_stay_so_calendars_remove_them(
    client, organizer, community, schedule, stack
):
    lunch = schedule()
    series = schedule(title="Consult", kind="social", rrule="FREQ=WEEKLY;COUNT=4")
    client.post(f"/api/events/{lunch['id']}/cancel", json={}, headers=organizer)
    client.post(f"/api/events/{series['id']}/cancel", json={"occurrence": "2027-01-21T12:00"},
                headers=organizer)  # fmt: skip
    stack.flush()
    events = vevents(read(client.get(feed_path(client, organizer, community))))
    assert str(events[f"{lunch['id']}@hearth"]["STATUS"]) == "CANCELLED"
    repeating = events[f"{series['id']}@hearth"]
    assert repeating["RRULE"]["COUNT"] == [4]
    (exdate,) = repeating["EXDATE"].dts
    assert exdate.dt.isoformat() == "2027-01-21T12:00:00-05:00"
    assert repeating["EXDATE"].params["TZID"] == "America/New_York"


def test_private_and_consult_events_keep_their_details_inside_hearth(
    client, organizer, community, schedule
):
    group = schedule(kind="consult_group", title="Case consult", visibility="private",
                     guest_limit=None)  # fmt: skip
    lunch = schedule()
    events = vevents(read(client.get(feed_path(client, organizer, community))))
    private = events[f"{group['id']}@hearth"]
    assert "LOCATION" not in private
    assert "Bring your own lunch" not in str(private["DESCRIPTION"])
    assert "video.example.org" not in unfolded(private)
    assert str(private["URL"]).endswith(f"/events/{group['id']}")
    assert str(private["CLASS"]) == "PRIVATE"
    shared = events[f"{lunch['id']}@hearth"]
    assert str(shared["LOCATION"]) == "Juniper Café"
    assert "https://video.example.org/lunch" in str(shared["DESCRIPTION"])


def test_a_surprise_is_in_no_community_feed(client, organizer, community, schedule):
    party = schedule(
        kind="celebration",
        title="Priya's licensure",
        honoree_email="priya@example.org",
        surprise=True,
        location=None,
        online_url=None,
        capacity=None,
    )
    events = vevents(read(client.get(feed_path(client, organizer, community))))
    assert f"{party['id']}@hearth" not in events


def test_a_public_community_shows_anyone_its_public_events_without_the_video_link(
    client, organizer, schedule, stack
):
    response = client.post(
        "/api/communities",
        json={"name": "Open circle", "timezone": "Europe/London", "visibility": "public"},
        headers=organizer,
    )
    open_circle = response.json
    made = []
    for visibility in ("public", "community"):
        created = client.post(
            f"/api/communities/{open_circle['slug']}/events",
            json={**LUNCH, "title": visibility, "visibility": visibility},
            headers=organizer,
        )
        made.append(created.json)
    stack.flush()
    public_id, members_id = (f"{event['id']}@hearth" for event in made)
    anyone = vevents(read(client.get(f"/c/{open_circle['slug']}/feed.ics")))
    assert list(anyone) == [public_id]
    assert "video.example.org" not in unfolded(anyone[public_id])
    # A member's address carries the token, and the members' view has everything.
    assert "?token=" in open_circle["feed_url"]
    members = vevents(read(client.get(path_of(open_circle["feed_url"]))))
    assert sorted(members) == sorted([public_id, members_id])
    assert "video.example.org" in unfolded(members[public_id])


def test_my_events_feed_follows_my_answers_and_a_new_address_kills_the_old(
    client, organizer, community, schedule, stack, sign_in
):
    # Dates still to come whatever today is: a weekly series from a Thursday a week or more on.
    tz = ZoneInfo(community["timezone"])
    first, second, third = (thursday(weeks, tz).date() for weeks in (0, 1, 2))
    lunch = schedule(starts_at=f"{first}T12:00", ends_at=f"{first}T13:00")
    series = schedule(
        title="Consult", kind="social", rrule="FREQ=WEEKLY;COUNT=4",
        starts_at=f"{first}T12:00", ends_at=f"{first}T13:00",
    )  # fmt: skip
    sign_in(client, "dana@example.org")
    urls = client.get("/api/me/feed").json
    assert urls["webcal_url"].startswith("webcal://")
    path = path_of(urls["feed_url"])
    assert vevents(read(client.get(path))) == {}

    def answer(event, response, **fields):
        body = {"name": "Dana", "email": "dana@example.org", "response": response, **fields}
        assert client.post(f"/rsvps/api/events/{event['id']}/rsvps", json=body).status_code in (
            200, 201,
        )  # fmt: skip
        stack.flush()

    answer(lunch, "yes")
    answer(series, "yes", occurrence=f"{second}T12:00")
    answer(series, "maybe", occurrence=f"{third}T12:00")
    events = vevents(read(client.get(path)))
    date_uid = f"{series['id']}-{second:%Y%m%d}T1200@hearth"
    assert sorted(events) == sorted([f"{lunch['id']}@hearth", date_uid])
    assert "RRULE" not in events[date_uid]
    assert events[date_uid]["DTSTART"].dt == datetime.combine(second, time(12), tz)

    # The whole series moves an hour later: the date keeps its entry (its UID), at 13:00, and
    # its going count.
    moved = client.patch(
        f"/api/events/{series['id']}",
        json={"starts_at": f"{first}T13:00", "ends_at": f"{first}T14:00"},
        headers=organizer,
    )
    assert moved.status_code == 200, moved.text
    stack.flush()
    events = vevents(read(client.get(path)))
    assert sorted(events) == sorted([f"{lunch['id']}@hearth", date_uid])
    assert events[date_uid]["DTSTART"].dt == datetime.combine(second, time(13), tz)
    [listed] = client.get(
        f"/api/communities/{community['slug']}/occurrences?start={second}&end={second}",
        headers=organizer,
    ).json
    assert listed["starts_at"].startswith(f"{second}T13:00")
    assert listed["attendance"]["confirmed_seats"] == 1

    answer(lunch, "no")
    assert str(vevents(read(client.get(path)))[f"{lunch['id']}@hearth"]["STATUS"]) == "CANCELLED"

    page = client.get("/me/events")
    assert urls["feed_url"] in page.text
    assert client.submit("/me/calendar", {}, "/me/events").status_code == 302
    assert client.get(path).status_code == 404
    renewed = client.get("/api/me/feed").json["feed_url"]
    assert renewed != urls["feed_url"]
    assert client.get(path_of(renewed)).status_code == 200


def test_an_event_downloads_as_one_ics(client, organizer, community, schedule):
    lunch = schedule()
    download = client.get(f"/events/{lunch['id']}/calendar.ics", headers=organizer)
    assert download.headers["Content-Disposition"] == 'attachment; filename="peer-lunch.ics"'
    assert list(vevents(read(download))) == [f"{lunch['id']}@hearth"]
    assert client.get(f"/events/{lunch['id']}/calendar.ics").status_code == 302  # sign in


def test_a_moved_date_is_an_override_no_older_than_its_series(
    client, organizer, community, schedule, stack
):
    series = schedule(title="Consult", kind="social", rrule="FREQ=WEEKLY;COUNT=4")
    path = feed_path(client, organizer, community)
    etag = client.get(path).headers["ETag"]
    moved = client.patch(
        f"/api/events/{series['id']}/occurrences/2027-01-21T12:00",
        json={"starts_at": "2027-01-22T15:00", "ends_at": "2027-01-22T16:00"},
        headers=organizer,
    )
    assert moved.status_code == 200, moved.text
    stack.flush()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    master, override = read(changed).walk("VEVENT")
    assert str(override["UID"]) == str(master["UID"])
    assert override["RECURRENCE-ID"].dt.isoformat() == "2027-01-21T12:00:00-05:00"
    assert override["DTSTART"].dt.isoformat() == "2027-01-22T15:00:00-05:00"
    assert int(override["SEQUENCE"]) >= int(master["SEQUENCE"]) > series["sequence"]


def test_every_server_process_serves_the_same_validators(
    client, organizer, community, schedule, config
):
    """Each process keeps the bytes it assembled; the ETag and Last-Modified are shared."""
    from hearth.stack import Stack
    from shared.testing import Browser

    schedule()
    path = feed_path(client, organizer, community)
    first = client.get(path)
    other = Stack(config)
    try:
        again = Browser(other.wsgi()).get(path)
    finally:
        other.stop()
    assert again.data == first.data
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]


def test_an_assembled_feed_takes_in_new_events_and_lets_go_of_hidden_ones(
    client, organizer, community, schedule, stack
):
    lunch = schedule()
    party = schedule(kind="celebration", title="Maya's licensure", location=None,
                     online_url=None, capacity=None)  # fmt: skip
    path = feed_path(client, organizer, community)
    assert sorted(vevents(read(client.get(path)))) == sorted(
        [f"{lunch['id']}@hearth", f"{party['id']}@hearth"]
    )
    surprise = client.patch(
        f"/api/events/{party['id']}",
        json={"surprise": True, "honoree_email": "maya@example.org"},
        headers=organizer,
    )
    assert surprise.status_code == 200, surprise.text
    walk = schedule(title="Walk in the park")
    assert sorted(vevents(read(client.get(path)))) == sorted(
        [f"{lunch['id']}@hearth", f"{walk['id']}@hearth"]
    )
