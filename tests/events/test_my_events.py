"""My events: the dates a signed-in member answered, in all their communities, learned from the
rsvps service's messages, with their personal calendar feed below; on SQLite and PostgreSQL."""

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from services.events import handlers
from services.events.store import Store
from shared.envelope import Envelope
from shared.testing import Browser, local, thursday
from shared.timewords import when

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

NEW_YORK = ZoneInfo("America/New_York")
LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": local(thursday(0)),
    "ends_at": local(thursday(0) + timedelta(hours=1)),
    "location": "Juniper Café",
}


def at(moment, **fields):
    """An event's times: an hour from `moment`, a local wall time."""
    return {"starts_at": local(moment), "ends_at": local(moment + timedelta(hours=1)), **fields}


@pytest.fixture
def answer(client, stack):
    """Answers an event (or a date of a series) through the rsvps API, as its page does, and
    lets the events service learn the answer from the rsvps service's message."""

    def answer(event, email, response, occurrence=None):
        body = {"name": email.split("@")[0].title(), "email": email, "response": response}
        if occurrence is not None:
            body["occurrence"] = local(occurrence)
        reply = client.post(f"/rsvps/api/events/{event['id']}/rsvps", json=body)
        assert reply.status_code in (200, 201), reply.text
        stack.flush()

    return answer


@pytest.fixture
def sam(client, stack, organizer, community, sign_in):
    """A member of the community, signed in in a browser of her own."""
    response = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "sam@example.org", "name": "Sam Rivera", "role": "member"},
        headers=organizer,
    )
    assert response.status_code in (200, 201), response.text
    browser = Browser(stack.wsgi())
    sign_in(browser, "sam@example.org")
    return browser


def listed(page):
    """The page's list of answered dates: (when, title, community, answer) each, as read."""
    assert page.status_code == 200, page.text
    found = re.search(r'<ul class="occurrences my-events">(.*?)</ul>', page.text, re.S)
    if found is None:
        return []
    items = []
    for item in re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.S):
        time = re.search(r"<time [^>]*>(.*?)</time>", item, re.S).group(1)
        title = re.search(r'<a href="/events/[^"]+"[^>]*>(?:<s>)?(.*?)(?:</s>)?</a>', item, re.S)
        title = title.group(1)
        community = re.search(r'<span class="muted">(.*?)</span>', item, re.S).group(1)
        badges = re.findall(r'<span class="badge[^"]*">(.*?)</span>', item, re.S)
        items.append(tuple(html.unescape(text) for text in (time, title, community, *badges)))
    return items


def test_the_page_lists_my_answers_soonest_first_and_no_one_elses(
    client, stack, schedule, sam, answer
):
    london = ZoneInfo("Europe/London")
    lunch = schedule(**at(thursday(1), capacity=1))
    training = schedule(**at(thursday(0), kind="training", title="Ethics CE"))
    social = schedule(**at(thursday(2, london), kind="social", title="Walk", timezone=str(london)))
    declined = schedule(**at(thursday(0) + timedelta(hours=5), title="Supper"))
    others = schedule(**at(thursday(0), title="Book club"))

    assert listed(sam.get("/me/events")) == []
    answer(lunch, "ann@example.org", "yes")  # takes the only seat
    answer(lunch, "sam@example.org", "yes")
    answer(training, "sam@example.org", "yes")
    answer(social, "sam@example.org", "maybe")
    answer(declined, "sam@example.org", "no")
    answer(others, "ann@example.org", "yes")

    hour = timedelta(hours=1)
    riverside = "Riverside Clinicians"
    assert listed(sam.get("/me/events")) == [
        (when(thursday(0), thursday(0) + hour), "Ethics CE", riverside, "You're going"),
        (when(thursday(1), thursday(1) + hour), "Peer lunch", riverside, "You're on the waitlist"),
        (when(thursday(2, london), thursday(2, london) + hour), "Walk", riverside, "Maybe"),
    ]
    page = sam.get("/me/events").text
    assert "GMT" in page or "BST" in page  # the walk in its own zone
    assert f'href="/events/{training["id"]}"' in page

    # The seat comes free: the waitlisted answer is now a going one.
    answer(lunch, "ann@example.org", "no")
    assert listed(sam.get("/me/events"))[1][-1] == "You're going"


def test_a_series_is_listed_by_the_dates_answered(client, stack, organizer, schedule, sam, answer):
    dates = [thursday(weeks) for weeks in range(4)]
    series = schedule(
        **at(dates[0], kind="consult_group", title="Consult", rrule="FREQ=WEEKLY;COUNT=4")
    )
    answer(series, "sam@example.org", "yes", occurrence=dates[1])
    answer(series, "sam@example.org", "maybe", occurrence=dates[2])
    answer(series, "sam@example.org", "yes", occurrence=dates[3])
    cancelled = client.post(
        f"/api/events/{series['id']}/cancel",
        json={"occurrence": local(dates[3])},
        headers=organizer,
    )
    assert cancelled.status_code == 200, cancelled.text
    stack.flush()

    hour = timedelta(hours=1)
    items = listed(sam.get("/me/events"))
    assert items == [
        (when(dates[1], dates[1] + hour), "Consult", "Riverside Clinicians", "You're going"),
        (when(dates[2], dates[2] + hour), "Consult", "Riverside Clinicians", "Maybe"),
        (when(dates[3], dates[3] + hour), "Consult", "Riverside Clinicians", "Cancelled"),
    ]
    assert re.search(r'<li class="cancelled">\s*<span class="when"><s>', sam.get("/me/events").text)

    # The whole series moves an hour later: each answer follows its date.
    moved = client.patch(
        f"/api/events/{series['id']}",
        json={"starts_at": local(dates[0] + hour), "ends_at": local(dates[0] + 2 * hour)},
        headers=organizer,
    )
    assert moved.status_code == 200, moved.text
    stack.flush()
    assert [item[0] for item in listed(sam.get("/me/events"))] == [
        when(start + hour, start + 2 * hour) for start in dates[1:]
    ]


def record(stack, event, email, status, occurrence=None):
    """An rsvps service message, handled as the events service's consumer handles it: for
    answers the rsvps API no longer takes, to dates already past."""
    key = local(occurrence) + ":00" if occurrence else None
    envelope = Envelope(
        type=f"rsvps.rsvp_{status}",
        producer="rsvps",
        payload={
            "rsvp": {
                "event_id": event["id"],
                "occurrence": key,
                "email": email,
                "status": status,
                "updated_at": datetime.now(UTC).isoformat(),
            },
            "counts": {
                "occurrence": key, "revision": 1, "confirmed_seats": 1, "waitlisted": 0, "maybe": 0
            },
        },
    )  # fmt: skip
    events = stack.services["events"]
    with Store(events.engine, events.outbox).begin() as uow:
        handlers.HANDLERS[envelope.type](uow, envelope)


def test_past_dates_are_left_out(client, stack, schedule, sam, answer):
    past = thursday(-3)  # a week or less ago
    assert past < datetime.now(UTC)
    last_week = schedule(**at(past, title="Last week's lunch"))
    record(stack, last_week, "sam@example.org", "confirmed")
    series = schedule(
        **at(past, title="Consult", kind="consult_group", rrule="FREQ=WEEKLY;COUNT=5")
    )
    record(stack, series, "sam@example.org", "confirmed", occurrence=past)
    answer(series, "sam@example.org", "yes", occurrence=thursday(0))

    assert listed(sam.get("/me/events")) == [
        (
            when(thursday(0), thursday(0) + timedelta(hours=1)),
            "Consult",
            "Riverside Clinicians",
            "You're going",
        )
    ]


def test_a_surprise_is_kept_from_its_honoree(
    client, stack, organizer, community, schedule, sam, answer, sign_in
):
    celebration = {"kind": "celebration", "honoree_email": "Sam@example.org"}
    party = schedule(**at(thursday(0), title="Sam's party", surprise=True, **celebration))
    toast = schedule(**at(thursday(1), title="Sam's toast", **celebration))
    for event in (party, toast):
        answer(event, "sam@example.org", "yes")
        answer(event, "dana@example.org", "yes")

    assert [item[1] for item in listed(sam.get("/me/events"))] == ["Sam's toast"]
    assert "Sam&#39;s party" not in sam.get("/me/events").text
    sign_in(client, "dana@example.org")
    assert [item[1] for item in listed(client.get("/me/events"))] == ["Sam's party", "Sam's toast"]


def test_with_no_answers_the_page_points_to_my_communities(client, community, sam):
    page = sam.get("/me/events")
    assert "You have not answered any upcoming event yet." in page.text
    assert f'<a href="/c/{community["slug"]}">Riverside Clinicians</a>' in page.text
    home = sam.get("/").text
    assert 'are on <a href="/me/events">My events</a>' in home  # not only in the menu
    assert "/me/calendar" not in home


def test_signed_out_visitors_are_asked_to_sign_in_and_come_back(client, organizer, sign_in):
    response = client.get("/me/events")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/me/events"
    assert sign_in(client, "dana@example.org", "/me/events").headers["Location"] == "/me/events"
    assert client.get("/me/events").status_code == 200


def test_the_calendar_feed_is_on_the_page_and_me_calendar_still_replaces_it(
    client, organizer, sign_in
):
    sign_in(client, "dana@example.org")
    old = client.get("/api/me/feed").json
    page = client.get("/me/events").text
    assert '<section id="calendar"' in page
    assert f'readonly value="{old["feed_url"]}"' in page
    assert f'href="{old["webcal_url"]}"' in page
    assert "<script" not in page.split("</head>")[1] and " style=" not in page
    [form] = re.findall(r'<form method="post" action="/me/calendar">.*?</form>', page, re.S)
    assert 'name="csrf_token"' in form

    bookmark = client.get("/me/calendar")
    assert (bookmark.status_code, bookmark.headers["Location"]) == (302, "/me/events#calendar")

    renewed = client.submit("/me/calendar", {}, "/me/events")
    assert renewed.status_code == 302
    assert renewed.headers["Location"] == "/me/events?renewed=1#calendar"
    new = client.get("/api/me/feed").json
    assert new["feed_url"] != old["feed_url"]
    assert client.get(urlsplit(old["feed_url"]).path).status_code == 404
    assert client.get(urlsplit(new["feed_url"]).path).status_code == 200
    page = client.get(renewed.headers["Location"]).text
    assert "You have a new address." in page
    assert new["feed_url"] in page and old["feed_url"] not in page


def test_the_event_page_tells_a_member_their_own_answer(
    client, stack, organizer, schedule, sam, answer
):
    lunch = schedule(**LUNCH, capacity=1)
    series = schedule(
        **at(thursday(1)),
        kind="consult_group",
        title="Consult",
        rrule="FREQ=WEEKLY;COUNT=3",
        capacity=1,
    )

    def yours(event):
        page = sam.get(f"/events/{event['id']}")
        assert page.status_code == 200, page.text
        found = re.search(r'<p class="yours"><strong>(.*?)</strong>', page.text)
        return html.unescape(found.group(1)) if found else None

    assert yours(lunch) is None
    answer(lunch, "ana@example.org", "yes")
    answer(lunch, "sam@example.org", "yes")
    assert yours(lunch) == "You're on the waitlist."
    assert f'href="/rsvps/events/{lunch["id"]}/mine"' in sam.get(f"/events/{lunch['id']}").text

    answer(series, "ana@example.org", "yes", thursday(2))
    for week in (1, 2, 3):
        answer(series, "sam@example.org", "yes", thursday(week))
    answer(series, "sam@example.org", "no", thursday(3))
    assert (
        yours(series)
        == "You answered for 3 coming dates: going to 1, on the waitlist for 1, not going to 1."
    )
