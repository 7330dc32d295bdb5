"""The organizers' web forms, driven through the whole origin like a browser: signed in by the
real emailed link, posting forms with their CSRF token."""

import html
import json
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from services.events import store as events_store
from shared.links import sign_in_url
from shared.testing import Browser, form_values

NEW_YORK = ZoneInfo("America/New_York")
DASH = "\u2013"  # time ranges are written with an en dash


# --- helpers ---------------------------------------------------------------------------------


def published(stack, type_):
    engine = stack.services["events"].engine
    query = sa.select(events_store.outbox.c.body).order_by(events_store.outbox.c.id)
    with engine.connect() as conn:
        bodies = [json.loads(body) for body in conn.execute(query).scalars()]
    return [body for body in bodies if body["type"] == type_]


def sign_in(client, stack, email, next_url=None):
    """Sign in the way a person does: ask for the link, open it from the email, press the
    button. Returns the final redirect."""
    form_page = f"/sign-in?next={next_url}" if next_url else "/sign-in"
    data = {"email": email, **({"next": next_url} if next_url else {})}
    assert client.submit("/sign-in", data, form_page).status_code == 200
    requests = [
        message
        for message in published(stack, "events.sign_in_requested")
        if message["payload"]["member"]["email"] == email
    ]
    assert requests, f"no sign-in link was sent to {email}"
    link_id = requests[-1]["payload"]["link_id"]
    path = urlsplit(sign_in_url(stack.config.secret_key, "", link_id)).path
    response = client.submit(path, {})
    assert response.status_code == 302, response.text
    return response


def add_member(client, organizer, community, email, role="member", name="Sam Rivera"):
    response = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": email, "name": name, "role": role},
        headers=organizer,
    )
    assert response.status_code in (200, 201), response.text


@pytest.fixture
def dana(client, stack, organizer, community):
    """The browser, signed in as the organizer of the `community`."""
    sign_in(client, stack, "dana@example.org")
    return client


def field_error(page, name):
    """The error shown next to field `name`, checking it is tied to the control."""
    text = page.text
    match = re.search(rf'<p class="error" id="e-{name}">(.*?)</p>', text, re.S)
    assert match, f"no error next to {name}"
    control = re.search(rf'<[^>]*\bid="f-{name}"[^>]*>', text)
    assert control, f"no control for {name}"
    assert re.search(rf'aria-describedby="[^"]*\be-{name}\b', control.group(0)), control.group(0)
    assert 'aria-invalid="true"' in control.group(0) or control.group(0).startswith("<fieldset")
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).removeprefix("Error: ")


def value_of(page, name):
    match = re.search(rf'<input id="f-{name}" name="{name}"[^>]*value="([^"]*)"', page.text)
    assert match, f"no input {name}"
    return html.unescape(match.group(1))


def event_api(client, organizer, event_id):
    response = client.get(f"/api/events/{event_id}", headers=organizer)
    assert response.status_code == 200, response.text
    return response.json


def event_id_of(response):
    assert response.status_code == 302, response.text
    match = re.fullmatch(r"/events/([0-9a-f-]{36})", urlsplit(response.location).path)
    assert match, response.location
    return match.group(1)


def next_weekday(weekday, after=None):
    today = after or datetime.now(NEW_YORK).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


def day_words(day):
    """A day as pages write it in short, "Thu 3 Dec", with its year unless it is this year's
    (today as seen in the zone of a time, or here for a whole day)."""
    today = datetime.now(day.tzinfo if isinstance(day, datetime) else None).date()
    words = f"{day:%a} {day.day} {day:%b}"
    return words if day.year == today.year else f"{words} {day.year}"


EVENT = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "description": "",
    "starts_at": "2027-06-08T12:00",
    "ends_at": "2027-06-08T13:00",
    "timezone": "America/New_York",
    "repeat": "none",
    "interval": "2",
    "rrule": "",
    "ends": "never",
    "count": "",
    "until": "",
    "location": "Juniper Café",
    "online_url": "",
    "capacity": "6",
    "guest_limit": "",
    "rsvp_deadline": "",
    "visibility": "community",
    "honoree_email": "",
    "ce_hours": "",
    "presenter": "",
}


def schedule(client, community, **changes):
    path = f"/c/{community['slug']}/events/new"
    return client.submit(path, {**EVENT, **changes})


# --- signing in and seeing communities -------------------------------------------------------


def test_signed_out_visitors_of_a_private_community_sign_in_and_come_back(client, stack, community):
    path = f"/c/{community['slug']}"
    response = client.get(path)
    assert response.status_code == 302
    assert response.location == f"/sign-in?next=/c/{community['slug']}"
    # An address that does not exist is answered the same way: nothing is revealed.
    assert client.get("/c/no-such-community").location.startswith("/sign-in?next=")

    landed = sign_in(client, stack, "dana@example.org", next_url=path)
    assert landed.location == path
    page = client.get(path)
    assert page.status_code == 200
    assert "<h1>Riverside Clinicians</h1>" in page.text


def test_a_signed_in_non_member_gets_404_on_a_private_community(
    client, stack, issue_token, community
):
    issue_token("outsider@example.org", "Olu Outsider")
    sign_in(client, stack, "outsider@example.org")
    page = client.get(f"/c/{community['slug']}")
    assert page.status_code == 404
    assert "We can't find that page" in html.unescape(page.text)
    assert 'href="/static/hearth.css"' in page.text  # the friendly page, in the layout
    assert client.get(f"/c/{community['slug']}/events/new").status_code == 404


def test_a_public_community_shows_only_its_public_events_to_outsiders(
    client, stack, organizer, dana
):
    response = dana.submit(
        "/communities/new",
        {
            "name": "Open Training Network",
            "slug": "",
            "timezone": "America/Chicago",
            "description": "",
            "visibility": "public",
        },
    )
    assert response.status_code == 302
    public = {"slug": "open-training-network"}
    start = next_weekday(2)
    for title, visibility in (("Open workshop", "public"), ("Members' social", "community")):
        response = schedule(
            dana,
            public,
            kind="training",
            title=title,
            visibility=visibility,
            starts_at=f"{start}T09:00",
            ends_at=f"{start}T12:00",
            timezone="America/Chicago",
        )
        assert response.status_code == 302, response.text

    visitor = Browser(stack.wsgi())
    page = visitor.get("/c/open-training-network")
    assert page.status_code == 200
    assert "Open workshop" in page.text
    assert "Members&#39; social" not in page.text and "Members' social" not in page.text
    assert "Schedule an event" not in page.text


# --- communities -----------------------------------------------------------------------------


def test_creating_a_community_through_the_form(client, stack, organizer, dana):
    form = dana.get("/communities/new")
    assert form.status_code == 200
    assert '<option value="America/New_York" selected>' in form.text
    assert '<option value="Australia/Sydney"' in form.text
    assert '<option value="Asia/Kolkata"' in form.text

    response = dana.submit(
        "/communities/new",
        {
            "name": "Harbor Therapists",
            "slug": "harbor",
            "timezone": "Europe/London",
            "description": "Peer support\nfor solo practitioners.",
            "visibility": "private",
        },
    )
    assert response.status_code == 302
    assert response.location == "/c/harbor"
    page = dana.get("/c/harbor")
    assert "<h1>Harbor Therapists</h1>" in page.text
    assert "is ready" in page.text  # the flash message
    assert "Europe/London" in page.text
    assert "Schedule an event" in page.text
    assert re.search(r"<td>Dana Okafor</td><td>dana@example.org</td><td>Organizer</td>", page.text)

    got = client.get("/api/communities/harbor", headers=organizer).json
    assert (got["name"], got["timezone"], got["your_role"]) == (
        "Harbor Therapists",
        "Europe/London",
        "organizer",
    )
    assert got["description"] == "Peer support\nfor solo practitioners."
    assert len(published(stack, "events.community_created")) == 2  # the fixture's and this one


def test_community_form_errors_are_shown_next_to_fields(client, stack, organizer, dana):
    response = dana.submit(
        "/communities/new",
        {
            "name": "",
            "slug": "Not A Slug",
            "timezone": "Mars/Olympus",
            "description": "Kept",
            "visibility": "private",
        },
    )
    assert response.status_code == 422
    assert "give the community a name" in field_error(response, "name")
    assert "lower-case letters" in field_error(response, "slug")
    assert "not a known time zone" in field_error(response, "timezone")
    assert value_of(response, "slug") == "Not A Slug"
    assert ">Kept</textarea>" in response.text
    assert 'class="error-summary"' in response.text

    taken = dana.submit(
        "/communities/new",
        {
            "name": "Another",
            "slug": "riverside-clinicians",
            "timezone": "America/New_York",
            "description": "",
            "visibility": "private",
        },
    )
    assert taken.status_code == 409
    assert "is taken" in field_error(taken, "slug")


def test_signed_out_visitors_are_asked_to_sign_in_before_creating(client):
    response = client.get("/communities/new")
    assert response.status_code == 302
    assert response.location == "/sign-in?next=/communities/new"


# --- members ---------------------------------------------------------------------------------


def test_inviting_a_member(client, stack, community, dana):
    path = f"/c/{community['slug']}"
    response = dana.submit(
        f"{path}/members",
        {
            "email": "Sam@Example.org",
            "name": "Sam Rivera",
            "phone": "(202) 555-0143",
            "role": "member",
        },
        form_page=path,
    )
    assert response.status_code == 302
    assert response.location == path
    page = dana.get(path)
    assert "Invited Sam Rivera (sam@example.org) as member." in page.text
    assert re.search(r"<td>Sam Rivera</td><td>sam@example.org</td><td>Member</td>", page.text)
    added = published(stack, "events.member_added")[-1]["payload"]
    assert added["member"]["email"] == "sam@example.org"
    assert added["member"]["phone"] == "+12025550143"
    assert added["role"] == "member"


def test_an_invalid_email_and_phone_are_shown_next_to_their_fields(client, stack, community, dana):
    path = f"/c/{community['slug']}"
    response = dana.submit(
        f"{path}/members",
        {"email": "sam at example", "name": "Sam Rivera", "phone": "12", "role": "organizer"},
        form_page=path,
    )
    assert response.status_code == 422
    assert field_error(response, "email") == "give a valid email address"
    assert "valid phone number" in field_error(response, "phone")
    assert value_of(response, "email") == "sam at example"
    assert value_of(response, "name") == "Sam Rivera"
    assert value_of(response, "phone") == "12"
    assert '<option value="organizer" selected>' in response.text
    assert published(stack, "events.member_added")[-1]["payload"]["member"]["email"] == (
        "dana@example.org"
    )


# --- scheduling ------------------------------------------------------------------------------


def test_a_weekly_consult_group_shows_its_next_dates_on_the_community_page(
    client, stack, organizer, community, dana
):
    form = dana.get(f"/c/{community['slug']}/events/new")
    assert form.status_code == 200
    assert '<option value="America/New_York" selected>' in form.text
    thursday = next_weekday(3)
    response = schedule(
        dana,
        community,
        kind="consult_group",
        title="Thursday consult group",
        starts_at=f"{thursday}T12:00",
        ends_at=f"{thursday}T13:30",
        repeat="weekly",
        capacity="8",
        visibility="private",
        location="",
        online_url="https://video.example.org/consult",
    )
    event_id = event_id_of(response)
    event = event_api(client, organizer, event_id)
    assert event["rrule"] == "FREQ=WEEKLY;BYDAY=TH"
    assert event["kind"] == "consult_group"
    assert event["visibility"] == "private"
    assert event["capacity"] == 8

    horizon = datetime.now(UTC) + timedelta(weeks=8)
    page = dana.get(f"/c/{community['slug']}")
    starts = [
        datetime.combine(thursday + timedelta(weeks=week), time(12), NEW_YORK) for week in range(9)
    ]
    for local in starts[:3]:
        assert f"{day_words(local)}, 12:00{DASH}13:30 {local.tzname()}" in page.text
    # The dates that begin within eight weeks: eight, but only seven on a Thursday (the series
    # then starts a week later) until noon, when its eighth date comes within the eight weeks.
    ahead = [local for local in starts if local < horizon]
    assert page.text.count(">Thursday consult group</a>") == len(ahead)

    event_page = dana.get(f"/events/{event_id}")
    assert "Every week on Thursday" in event_page.text
    assert "Consult group" in event_page.text


@pytest.mark.parametrize(
    ("changes", "rrule"),
    [
        ({"repeat": "weeks", "interval": "2"}, "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"),
        ({"repeat": "monthly_nth"}, "FREQ=MONTHLY;BYDAY=2TU"),
        (
            {
                "repeat": "monthly_last",
                "starts_at": "2027-06-25T12:00",
                "ends_at": "2027-06-25T13:00",
            },
            "FREQ=MONTHLY;BYDAY=-1FR",
        ),
        ({"repeat": "weekly", "ends": "count", "count": "10"}, "FREQ=WEEKLY;BYDAY=TU;COUNT=10"),
        # The end of 31 December in New York (EST) is 04:59:59 UTC on 1 January.
        (
            {"repeat": "monthly_nth", "ends": "until", "until": "2027-12-31"},
            "FREQ=MONTHLY;BYDAY=2TU;UNTIL=20280101T045959Z",
        ),
        ({"repeat": "custom", "rrule": "freq=monthly;bymonthday=8"}, "FREQ=MONTHLY;BYMONTHDAY=8"),
        (
            {"repeat": "custom", "rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "ends": "count", "count": "4"},
            "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4",
        ),
    ],
)
def test_the_recurrence_picker_builds_the_rule(client, organizer, community, dana, changes, rrule):
    # 8 June 2027 is the 2nd Tuesday of June; 25 June 2027 the last Friday.
    response = schedule(dana, community, **changes)
    event_id = event_id_of(response)
    assert event_api(client, organizer, event_id)["rrule"] == rrule

    # The edit form gives the same choices back, so saving it unchanged changes nothing.
    form = dana.get(f"/events/{event_id}/edit")
    expected = changes["repeat"]
    assert re.search(
        rf'id="f-repeat-{expected}" name="repeat" value="{expected}" checked', form.text
    )
    assert dana.submit(f"/events/{event_id}/edit", form_values(form)).status_code == 302
    assert event_api(client, organizer, event_id)["sequence"] == 0


def test_the_event_page_says_the_rule_in_words(client, organizer, community, dana):
    cases = [
        ({"repeat": "weeks", "interval": "2"}, "Every 2 weeks on Tuesday"),
        (
            {"repeat": "monthly_nth", "ends": "count", "count": "6"},
            "Every month on the 2nd Tuesday, 6 times",
        ),
        (
            {"repeat": "custom", "rrule": "FREQ=MONTHLY;BYMONTH=6,7;BYDAY=2TU"},
            "Repeats by the rule FREQ=MONTHLY;BYDAY=2TU;BYMONTH=6,7",
        ),
    ]
    for changes, words in cases:
        event_id = event_id_of(schedule(dana, community, **changes))
        assert words in dana.get(f"/events/{event_id}").text


def test_monthly_on_the_last_weekday_needs_a_last_weekday(client, community, dana):
    # 8 June 2027 is the 2nd Tuesday, not the last.
    response = schedule(dana, community, repeat="monthly_last")
    assert response.status_code == 422
    message = field_error(response, "rrule")
    assert "not the last Tuesday" in message and "2nd Tuesday" in message


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ends_at": "2027-06-08T11:00"}, "ends_at", "the event must end after it starts"),
        (
            {"starts_at": "2027-03-14T02:30", "ends_at": "2027-03-14T04:00"},
            "starts_at",
            "2027-03-14 02:30 does not exist in America/New_York",
        ),
        ({"title": "x" * 10_000}, "title", "keep the title to 200 characters (it has 10000)"),
        ({"capacity": "-3"}, "capacity", "capacity must be from 1 to 10,000"),
        ({"capacity": "six"}, "capacity", "capacity must be a whole number"),
        ({"guest_limit": "21"}, "guest_limit", "the guest limit must be from 0 (no guests) to 20"),
        ({"guest_limit": "two"}, "guest_limit", "the guest limit must be a whole number"),
        ({"guest_limit": "6"}, "guest_limit", "each attendee can bring at most 5 guests"),
        ({"starts_at": "next Tuesday"}, "starts_at", "give a local date and time"),
        ({"online_url": "zoom"}, "online_url", "give a full link starting with https://"),
        ({"repeat": "weeks", "interval": "0"}, "interval", "INTERVAL must be a whole number"),
        ({"repeat": "weeks", "interval": "two"}, "interval", "number of weeks as a whole number"),
        ({"repeat": "weekly", "ends": "count", "count": "1000"}, "count", "COUNT may be at most"),
        (
            {"repeat": "weekly", "ends": "until", "until": "2027-06-01"},
            "until",
            "UNTIL is before the start",
        ),
        ({"repeat": "custom", "rrule": "FREQ=HOURLY"}, "rrule", "FREQ=HOURLY is not allowed"),
        (
            {"repeat": "custom", "rrule": "FREQ=WEEKLY;COUNT=3", "ends": "count", "count": "2"},
            "ends",
            "already says when it ends",
        ),
        ({"kind": "consult_group", "visibility": "public"}, "visibility", "confidential"),
        ({"presenter": "Dr. Chen"}, "presenter", "presenter only applies to a training"),
        ({"kind": "celebration", "surprise": "1"}, "honoree_email", "a surprise needs"),
        ({"rsvp_deadline": "2027-06-09T12:00"}, "rsvp_deadline", "no later than the start"),
    ],
)
def test_each_error_is_shown_next_to_its_field_and_the_input_is_kept(
    client, stack, community, dana, changes, field, message
):
    before = len(published(stack, "events.event_scheduled"))
    response = schedule(dana, community, **changes)
    assert response.status_code == 422
    assert message in field_error(response, field)
    assert f'<a href="#f-{field}">' in response.text  # the summary at the top links to it
    kept = {**EVENT, **changes}
    for name in ("title", "starts_at", "ends_at", "capacity", "guest_limit", "location"):
        assert value_of(response, name) == kept[name]
    assert len(published(stack, "events.event_scheduled")) == before


def test_several_errors_are_shown_together(client, community, dana):
    response = schedule(
        dana,
        community,
        title="x" * 10_000,
        capacity="-3",
        ends_at="2027-06-08T11:00",
        description="Line one\n<b>kept</b>",
    )
    assert response.status_code == 422
    assert "Please fix 3 things" in response.text
    assert field_error(response, "title").startswith("keep the title to 200 characters")
    assert field_error(response, "capacity").startswith("capacity must be from 1 to 10,000")
    assert field_error(response, "ends_at") == "the event must end after it starts"
    assert ">Line one\n&lt;b&gt;kept&lt;/b&gt;</textarea>" in response.text


# --- the event page, editing and cancelling --------------------------------------------------


def test_the_event_page_shows_the_event_in_its_zone_and_escapes_the_description(
    client, community, dana
):
    event_id = event_id_of(
        schedule(
            dana,
            community,
            kind="training",
            title="CE: Ethics",
            description="First line\n<script>alert(1)</script>",
            ce_hours="3",
            presenter="Dr. Maya Chen",
            starts_at="2026-12-03T12:00",
            ends_at="2026-12-03T13:30",
        )
    )
    page = dana.get(f"/events/{event_id}")
    assert page.status_code == 200
    assert f"Thursday 3 December 2026, 12:00{DASH}13:30 EST" in page.text
    assert "First line\n&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert "Dr. Maya Chen" in page.text and "<dd>3</dd>" in page.text
    assert "Juniper Café" in page.text
    assert f'href="/events/{event_id}/edit"' in page.text


def test_editing_an_event(client, stack, organizer, community, dana):
    event_id = event_id_of(schedule(dana, community, repeat="weekly"))
    form = dana.get(f"/events/{event_id}/edit")
    assert form.status_code == 200
    assert value_of(form, "title") == "Peer lunch"
    assert value_of(form, "starts_at") == "2027-06-08T12:00"
    assert value_of(form, "capacity") == "6"
    assert 'id="f-repeat-weekly" name="repeat" value="weekly" checked' in form.text

    values = form_values(form)
    values.update(
        title="Peer lunch at the park",
        starts_at="2027-06-10T12:30",
        ends_at="2027-06-10T13:30",
        capacity="",
    )
    response = dana.submit(f"/events/{event_id}/edit", values)
    assert response.status_code == 302
    event = event_api(client, organizer, event_id)
    assert event["title"] == "Peer lunch at the park"
    assert event["starts_at"] == "2027-06-10T12:30:00-04:00"
    assert event["rrule"] == "FREQ=WEEKLY;BYDAY=TH"  # the weekday follows the new start
    assert event["capacity"] is None
    assert event["sequence"] == 1
    changed = published(stack, "events.event_updated")[-1]["payload"]
    assert changed["event"]["title"] == "Peer lunch at the park"
    assert "Saved Peer lunch at the park." in dana.get(f"/events/{event_id}").text


def test_the_guest_limit_through_the_form_and_on_the_event_page(
    client, stack, organizer, community, dana
):
    form = dana.get(f"/c/{community['slug']}/events/new")
    assert value_of(form, "guest_limit") == ""
    assert "Guests each attendee may bring" in form.text
    event_id = event_id_of(schedule(dana, community, guest_limit="2"))
    assert event_api(client, organizer, event_id)["guest_limit"] == 2
    assert "<dt>Guests</dt><dd>Up to 2 guests each</dd>" in dana.get(f"/events/{event_id}").text
    [scheduled] = published(stack, "events.event_scheduled")
    assert scheduled["payload"]["event"]["guest_limit"] == 2

    edit = dana.get(f"/events/{event_id}/edit")
    assert value_of(edit, "guest_limit") == "2"
    zero = dana.submit(f"/events/{event_id}/edit", {**form_values(edit), "guest_limit": "0"})
    assert zero.status_code == 302, zero.text
    assert event_api(client, organizer, event_id)["guest_limit"] == 0
    assert "<dt>Guests</dt><dd>No guests</dd>" in dana.get(f"/events/{event_id}").text
    assert value_of(dana.get(f"/events/{event_id}/edit"), "guest_limit") == "0"

    # Emptied, it is the default again: kept empty in the form, shown as what applies.
    edit = dana.get(f"/events/{event_id}/edit")
    empty = dana.submit(f"/events/{event_id}/edit", {**form_values(edit), "guest_limit": ""})
    assert empty.status_code == 302, empty.text
    assert event_api(client, organizer, event_id)["guest_limit"] == 1
    assert "<dt>Guests</dt><dd>Up to 1 guest each</dd>" in dana.get(f"/events/{event_id}").text
    assert value_of(dana.get(f"/events/{event_id}/edit"), "guest_limit") == ""


def test_a_bad_guest_limit_in_an_edit_is_shown_and_changes_nothing(
    client, organizer, community, dana
):
    event_id = event_id_of(schedule(dana, community, guest_limit="2"))
    values = form_values(dana.get(f"/events/{event_id}/edit"))
    response = dana.submit(f"/events/{event_id}/edit", {**values, "guest_limit": "-1"})
    assert response.status_code == 422
    assert field_error(response, "guest_limit") == (
        "the guest limit must be from 0 (no guests) to 20 per attendee, "
        "or left empty for the default"
    )
    assert value_of(response, "guest_limit") == "-1"
    event = event_api(client, organizer, event_id)
    assert (event["guest_limit"], event["sequence"]) == (2, 0)


def test_an_edit_with_errors_keeps_the_input_and_changes_nothing(
    client, organizer, community, dana
):
    event_id = event_id_of(schedule(dana, community))
    values = form_values(dana.get(f"/events/{event_id}/edit"))
    values.update(title="", ends_at="2027-06-08T10:00")
    response = dana.submit(f"/events/{event_id}/edit", values)
    assert response.status_code == 422
    assert field_error(response, "title") == "give the event a title"
    assert field_error(response, "ends_at") == "the event must end after it starts"
    assert value_of(response, "ends_at") == "2027-06-08T10:00"
    event = event_api(client, organizer, event_id)
    assert (event["title"], event["sequence"]) == ("Peer lunch", 0)


def test_an_edit_made_from_a_stale_form_is_not_saved(client, organizer, community, dana):
    event_id = event_id_of(schedule(dana, community))
    stale = form_values(dana.get(f"/events/{event_id}/edit"))
    client.patch(f"/api/events/{event_id}", json={"location": "The park"}, headers=organizer)
    response = dana.submit(f"/events/{event_id}/edit", {**stale, "title": "Renamed"})
    assert response.status_code == 409
    assert "Someone else changed this event" in response.text
    assert value_of(response, "title") == "Renamed"
    assert event_api(client, organizer, event_id)["location"] == "The park"
    again = dana.submit(f"/events/{event_id}/edit", form_values(response))
    assert again.status_code == 302
    event = event_api(client, organizer, event_id)
    assert event["title"] == "Renamed"


def test_an_unusual_rule_is_edited_as_a_custom_rule(client, organizer, community, dana):
    response = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "social",
            "title": "Walks",
            "starts_at": "2027-06-07T08:00",
            "ends_at": "2027-06-07T09:00",
            "rrule": "FREQ=WEEKLY",
        },
        headers=organizer,
    )
    event_id = response.json["id"]
    form = dana.get(f"/events/{event_id}/edit")
    assert 'id="f-repeat-custom" name="repeat" value="custom" checked' in form.text
    assert 'value="FREQ=WEEKLY"' in form.text
    assert dana.submit(f"/events/{event_id}/edit", form_values(form)).status_code == 302
    assert event_api(client, organizer, event_id)["sequence"] == 0


def test_cancelling_one_date_and_then_the_whole_series(client, stack, organizer, community, dana):
    tuesday = next_weekday(1)
    event_id = event_id_of(
        schedule(
            dana,
            community,
            title="Tuesday lunch",
            repeat="weekly",
            starts_at=f"{tuesday}T12:00",
            ends_at=f"{tuesday}T13:00",
        )
    )
    page = dana.get(f"/events/{event_id}/cancel")
    assert page.status_code == 200
    options = re.findall(r'<option value="([^"]+)"', page.text)
    assert len(options) == 12
    assert options[0] == f"{tuesday}T12:00"
    second = tuesday + timedelta(weeks=1)

    response = dana.submit(
        f"/events/{event_id}/cancel", {"scope": "occurrence", "occurrence": f"{second}T12:00"}
    )
    assert response.status_code == 302
    assert response.location == f"/events/{event_id}"
    event = event_api(client, organizer, event_id)
    assert event["status"] == "scheduled"
    assert event["cancelled_occurrences"][0].startswith(f"{second}T12:00:00")
    message = published(stack, "events.occurrence_cancelled")[-1]["payload"]
    assert message["occurrence"] == f"{second}T12:00:00"
    assert "the rest of the series goes ahead" in dana.get(f"/events/{event_id}").text

    community_page = dana.get(f"/c/{community['slug']}").text
    struck = re.findall(r'<li class="cancelled">(.*?)</li>', community_page, re.S)
    assert len(struck) == 1 and "Tuesday lunch" in struck[0] and f" {second.day} " in struck[0]
    assert f"{second}T12:00" not in re.findall(
        r'<option value="([^"]+)"', dana.get(f"/events/{event_id}/cancel").text
    )

    response = dana.submit(f"/events/{event_id}/cancel", {"scope": "series", "occurrence": ""})
    assert response.status_code == 302
    assert event_api(client, organizer, event_id)["status"] == "cancelled"
    assert len(published(stack, "events.event_cancelled")) == 1
    page = dana.get(f"/events/{event_id}")
    assert "This series is cancelled." in page.text
    assert f'href="/events/{event_id}/edit"' not in page.text
    assert dana.get(f"/events/{event_id}/edit").status_code == 302


def test_cancelling_needs_a_date_that_belongs_to_the_series(client, organizer, community, dana):
    event_id = event_id_of(schedule(dana, community, repeat="weekly"))
    response = dana.submit(
        f"/events/{event_id}/cancel", {"scope": "occurrence", "occurrence": "2027-06-09T12:00"}
    )
    assert response.status_code == 422
    assert "not an occurrence of this series" in field_error(response, "occurrence")
    assert event_api(client, organizer, event_id)["sequence"] == 0


def test_cancelling_a_one_off_event(client, stack, organizer, community, dana):
    event_id = event_id_of(schedule(dana, community))
    page = dana.get(f"/events/{event_id}/cancel")
    assert "Cancel the event" in page.text and 'name="scope"' not in page.text
    assert dana.submit(f"/events/{event_id}/cancel", {}).status_code == 302
    assert event_api(client, organizer, event_id)["status"] == "cancelled"


# --- who may do what -------------------------------------------------------------------------


def test_a_plain_member_gets_403_on_every_form_and_changes_nothing(
    client, stack, organizer, community
):
    event = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "peer_lunch",
            "title": "Lunch",
            "starts_at": "2027-06-08T12:00",
            "ends_at": "2027-06-08T13:00",
            "rrule": "FREQ=WEEKLY",
        },
        headers=organizer,
    ).json
    add_member(client, organizer, community, "sam@example.org")
    sign_in(client, stack, "sam@example.org")
    slug = community["slug"]

    page = client.get(f"/c/{slug}")
    assert page.status_code == 200
    assert "Schedule an event" not in page.text and "Invite a member" not in page.text
    assert "dana@example.org" not in page.text
    event_page = client.get(f"/events/{event['id']}")
    assert event_page.status_code == 200 and "/edit" not in event_page.text

    for path in (
        f"/c/{slug}/events/new",
        f"/events/{event['id']}/edit",
        f"/events/{event['id']}/cancel",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You can't do that here" in html.unescape(response.text)
        assert "only the organizers of riverside clinicians" in response.text.lower()
    token = client.csrf_token(f"/c/{slug}")
    posts = {
        f"/c/{slug}/events/new": EVENT,
        f"/events/{event['id']}/edit": {**EVENT, "sequence": "0"},
        f"/events/{event['id']}/cancel": {"scope": "series"},
        f"/c/{slug}/members": {"email": "eve@example.org", "name": "Eve", "role": "organizer"},
    }
    for path, data in posts.items():
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    after = client.get(f"/api/events/{event['id']}", headers=organizer).json
    assert (after["sequence"], after["status"], after["title"]) == (0, "scheduled", "Lunch")
    assert len(published(stack, "events.event_scheduled")) == 1
    assert all(
        m["payload"]["member"]["email"] != "eve@example.org"
        for m in published(stack, "events.member_added")
    )


def test_a_non_member_gets_404_on_a_private_event(client, stack, issue_token, organizer, community):
    event = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "peer_lunch",
            "title": "Lunch",
            "starts_at": "2027-06-08T12:00",
            "ends_at": "2027-06-08T13:00",
            "visibility": "public",
        },
        headers=organizer,
    ).json
    signed_out = client.get(f"/events/{event['id']}")
    assert signed_out.status_code == 302 and signed_out.location.startswith("/sign-in?next=")
    issue_token("outsider@example.org")
    sign_in(client, stack, "outsider@example.org")
    # Public, but in a private community: outsiders still cannot see it.
    assert client.get(f"/events/{event['id']}").status_code == 404
    assert client.get(f"/events/{event['id']}/cancel").status_code == 404
    assert client.get("/events/no-such-event").status_code == 404


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    client, stack, organizer, community, dana
):
    response = dana.post(
        "/communities/new",
        data={"name": "Sneaky", "timezone": "America/New_York", "visibility": "private"},
    )
    assert response.status_code == 400
    assert "This form has expired or was sent from another site" in response.text
    assert client.get("/api/communities/sneaky", headers=organizer).status_code == 404

    response = dana.post(f"/c/{community['slug']}/events/new", data=EVENT)
    assert response.status_code == 400
    response = dana.post(
        f"/c/{community['slug']}/members",
        data={"email": "eve@example.org", "name": "Eve", "role": "organizer", "csrf_token": "x"},
    )
    assert response.status_code == 400
    assert published(stack, "events.event_scheduled") == []
    assert len(published(stack, "events.member_added")) == 1  # only the creator's own


def test_every_page_and_form_is_in_the_layout_and_has_no_inline_script(
    client, stack, community, dana
):
    event_id = event_id_of(schedule(dana, community, repeat="weekly"))
    for path in (
        "/communities/new",
        f"/c/{community['slug']}",
        f"/c/{community['slug']}/events/new",
        f"/events/{event_id}",
        f"/events/{event_id}/edit",
        f"/events/{event_id}/cancel",
    ):
        page = dana.get(path)
        assert page.status_code == 200, path
        assert '<meta name="viewport"' in page.text
        # Script only from the site's own file, none written into the page.
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page.text, re.S)
        assert scripts == [""] and '<script src="/static/hearth.js" defer>' in page.text, path
        assert " style=" not in page.text, path
        assert not re.search(r"<[^>]+\son[a-z]+=", page.text), path  # no inline handlers
        for form in re.findall(r'<form method="post".*?</form>', page.text, re.S):
            assert 'name="csrf_token"' in form, path
        for control in re.findall(r'<(?:input|select|textarea)[^>]*id="(f-[^"]+)"', page.text):
            assert f'for="{control}"' in page.text, (path, control)


def test_errors_the_form_finds_and_errors_the_rules_find_are_shown_together(
    client, community, dana
):
    response = schedule(
        dana, community, title="", capacity="-1", online_url="zoom", repeat="weeks", interval="x"
    )
    assert response.status_code == 422
    assert field_error(response, "title") == "give the event a title"
    assert field_error(response, "capacity").startswith("capacity must be from 1 to 10,000")
    assert field_error(response, "online_url") == "give a full link starting with https://"
    assert "whole number" in field_error(response, "interval")
    summary = re.search(r'<div class="error-summary".*?</div>', response.text, re.S).group(0)
    order = [
        re.search(f'href="#f-{name}"', summary).start()
        for name in ("title", "interval", "online_url", "capacity")
    ]
    assert order == sorted(order)  # in the order of the form


def test_cancelling_from_a_series_needs_a_choice(client, organizer, community, dana):
    tuesday = next_weekday(1)  # the dates offered are the next ones
    event_id = event_id_of(
        schedule(
            dana,
            community,
            repeat="weekly",
            starts_at=f"{tuesday}T12:00",
            ends_at=f"{tuesday}T13:00",
        )
    )
    page = dana.get(f"/events/{event_id}/cancel")
    assert " checked" not in page.text
    assert re.findall(r'<option value="([^"]*)" selected>', page.text) == [""]
    second = f"{tuesday + timedelta(weeks=1)}T12:00"
    response = dana.submit(f"/events/{event_id}/cancel", {"occurrence": second})
    assert response.status_code == 422
    assert "the whole series or one date" in field_error(response, "scope")
    assert f'<option value="{second}" selected>' in response.text
    response = dana.submit(f"/events/{event_id}/cancel", {"scope": "occurrence"})
    assert field_error(response, "occurrence") == "choose the date to cancel"
    event = event_api(client, organizer, event_id)
    assert (event["status"], event["sequence"]) == ("scheduled", 0)


def test_a_surprise_is_kept_from_its_honoree(client, stack, organizer, community, dana):
    add_member(client, organizer, community, "priya@example.org", name="Priya Natarajan")
    friday = next_weekday(4)
    ids = {}
    for title, surprise in (("Priya's party", "1"), ("Open celebration", "")):
        response = schedule(
            dana,
            community,
            kind="celebration",
            title=title,
            capacity="",
            honoree_email="Priya@example.org",
            surprise=surprise,
            starts_at=f"{friday}T17:00",
            ends_at=f"{friday}T19:00",
        )
        ids[title] = event_id_of(response)
    assert "Priya's party" in html.unescape(dana.get(f"/c/{community['slug']}").text)

    priya = Browser(stack.wsgi())
    sign_in(priya, stack, "priya@example.org")
    page = html.unescape(priya.get(f"/c/{community['slug']}").text)
    assert "Open celebration" in page
    assert "Priya's party" not in page
    surprise, open_one = ids["Priya's party"], ids["Open celebration"]
    assert priya.get(f"/events/{surprise}").status_code == 404
    assert priya.get(f"/events/{open_one}").status_code == 200


# --- one date of a series, and whole days ------------------------------------------------------


def test_the_event_page_shows_a_moved_date_at_its_new_time(client, organizer, community, dana):
    # The page shows the dates to come: the series starts on the next Thursday, and its second
    # date moves to the Friday evening after it.
    first = datetime.combine(next_weekday(3), time(12), NEW_YORK)
    second = first + timedelta(weeks=1)
    friday = datetime.combine(second.date() + timedelta(days=1), time(18), NEW_YORK)
    series = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "consult_group",
            "title": "Thursday consult group",
            "starts_at": f"{first:%Y-%m-%dT%H:%M}",
            "ends_at": f"{first + timedelta(hours=1):%Y-%m-%dT%H:%M}",
            "rrule": "FREQ=WEEKLY;BYDAY=TH;COUNT=10",
        },
        headers=organizer,
    ).json
    moved = client.patch(
        f"/api/events/{series['id']}/occurrences/{second:%Y-%m-%dT%H:%M}",
        json={"starts_at": f"{friday:%Y-%m-%dT%H:%M}", "title": "Consult group: guest speaker"},
        headers=organizer,
    )
    assert moved.status_code == 200, moved.text

    page = html.unescape(dana.get(f"/events/{series['id']}").text)

    next_dates = page[page.index("Next dates") :]
    new_time = f"{day_words(friday)}, 18:00{DASH}19:00 {friday:%Z}"  # "Fri 15 Jan, 18:00-19:00 EST"
    assert new_time in next_dates
    assert "Consult group: guest speaker" in next_dates
    old_time = f"{day_words(second)}, 12:00"
    assert "Moved</span>" in next_dates and f"from {old_time} {second:%Z}" in next_dates
    assert next_dates.index(day_words(first)) < next_dates.index(new_time)
    assert f"{old_time}{DASH}" not in page, "nothing takes place at the old time"
    answer = page[page.index("Are you coming?") :]
    original = f"{second:%Y-%m-%dT%H:%M}"
    assert re.search(rf'value="{original}"[^>]*>\s*{re.escape(new_time)}', answer), (
        "the answer form names the date by its original start and shows its new time"
    )


def test_the_event_page_says_an_all_day_event_by_its_days(client, organizer, community, dana):
    retreat = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "social",
            "title": "Retreat",
            "all_day": True,
            "starts_at": "2027-05-01",
            "ends_at": "2027-05-03",
        },
        headers=organizer,
    ).json

    page = html.unescape(dana.get(f"/events/{retreat['id']}").text)

    assert f"Saturday 1 May 2027 {DASH} Monday 3 May 2027 (all day)" in page
    assert '<time datetime="2027-05-01">' in page
    assert "00:00" not in page

    saturday = next_weekday(5)
    soon = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "celebration",
            "title": "Maya's licensure",
            "all_day": True,
            "starts_at": saturday.isoformat(),
            "ends_at": saturday.isoformat(),
        },
        headers=organizer,
    )
    assert soon.status_code == 201, soon.text
    listing = html.unescape(dana.get(f"/c/{community['slug']}").text)
    assert f"{day_words(saturday)} (all day)</time>" in listing, listing


def test_the_form_schedules_an_all_day_event_from_its_days(client, organizer, community, dana):
    form = dana.get(f"/c/{community['slug']}/events/new")
    checkbox = re.search(r'<input type="checkbox" id="f-all_day"[^>]*>', form.text)
    assert checkbox and 'aria-describedby="h-all_day"' in checkbox.group(0)
    assert '<label for="f-all_day">All day</label>' in form.text
    assert '<label for="f-starts_on">First day' in form.text
    assert 'id="f-ends_on" name="ends_on" type="date"' in form.text

    response = schedule(
        dana, community, kind="celebration", title="Maya's licensure", capacity="",
        starts_at="", ends_at="", all_day="1", starts_on="2027-05-01", ends_on="2027-05-01",
        repeat="custom", rrule="FREQ=YEARLY",
    )  # fmt: skip

    event_id = event_id_of(response)
    event = event_api(client, organizer, event_id)
    assert (event["all_day"], event["starts_at"], event["ends_at"]) == (
        True,
        "2027-05-01",
        "2027-05-01",
    )
    assert event["rrule"] == "FREQ=YEARLY"
    edit = dana.get(f"/events/{event_id}/edit")
    assert re.search(r'id="f-all_day"[^>]*checked', edit.text)
    assert value_of(edit, "starts_on") == "2027-05-01"
    assert value_of(edit, "ends_on") == "2027-05-01"
    assert value_of(edit, "starts_at") == ""
    saved = dana.submit(f"/events/{event_id}/edit", {**form_values(edit), "ends_on": "2027-05-02"})
    assert saved.status_code == 302
    assert event_api(client, organizer, event_id)["ends_at"] == "2027-05-02"


def test_all_day_errors_are_shown_next_to_the_days(client, organizer, community, dana):
    missing = schedule(
        dana, community, all_day="1", starts_at="", ends_at="", starts_on="", ends_on="2027-05-01"
    )
    assert missing.status_code == 422
    assert field_error(missing, "starts_on") == "give the first day as a date, like 2027-05-01"
    assert 'href="#f-starts_on">First day:' in missing.text

    backwards = schedule(
        dana, community, all_day="1", starts_at="", ends_at="", starts_on="2027-05-03",
        ends_on="2027-05-01",
    )  # fmt: skip
    assert backwards.status_code == 422
    assert field_error(backwards, "ends_on") == "the last day must not be before the first"
    assert value_of(backwards, "starts_on") == "2027-05-03", "the input is kept"
    assert re.search(r'id="f-all_day"[^>]*checked', backwards.text)
