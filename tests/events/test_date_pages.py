"""Changing one date of a series from the web form: an organizer chooses a date, moves it or
gives it its own title and place, and attendees hear about it as they do from the API."""

import html
import json
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from services.events import store as events_store
from shared.testing import form_values, local, thursday

DASH = "\u2013"  # time ranges are written with an en dash
FIRST = thursday()  # noon on a Thursday two weeks or more from today, New York time
SECOND = FIRST + timedelta(weeks=1)
# The second Thursday, moved to the Friday evening after it.
FRIDAY = (SECOND + timedelta(days=1)).replace(hour=18)

SERIES = {
    "kind": "consult_group",
    "title": "Thursday consult group",
    "starts_at": local(FIRST),
    "ends_at": local(FIRST + timedelta(hours=1)),
    "rrule": "FREQ=WEEKLY;BYDAY=TH;COUNT=20",
    "location": "Room 4",
}


# --- helpers ---------------------------------------------------------------------------------


def published(stack, type_):
    engine = stack.services["events"].engine
    query = sa.select(events_store.outbox.c.body).order_by(events_store.outbox.c.id)
    with engine.connect() as conn:
        bodies = [json.loads(body) for body in conn.execute(query).scalars()]
    return [body for body in bodies if body["type"] == type_]


def day_words(moment):
    """A day as pages write it in short, "Thu 3 Dec", with its year unless it is this year's."""
    words = f"{moment:%a} {moment.day} {moment:%b}"
    this_year = datetime.now(getattr(moment, "tzinfo", None)).year
    return words if moment.year == this_year else f"{words} {moment.year}"


def field_error(page, name):
    """The error shown next to field `name`, checking it is tied to the control."""
    match = re.search(rf'<p class="error" id="e-{name}">(.*?)</p>', page.text, re.S)
    assert match, f"no error next to {name}"
    control = re.search(rf'<[^>]*\bid="f-{name}"[^>]*>', page.text)
    assert control, f"no control for {name}"
    assert re.search(rf'aria-describedby="[^"]*\be-{name}\b', control.group(0)), control.group(0)
    assert 'aria-invalid="true"' in control.group(0)
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).removeprefix("Error: ")


def value_of(page, name):
    if name == "description":
        match = re.search(r'<textarea id="f-description"[^>]*>(.*?)</textarea>', page.text, re.S)
    else:
        match = re.search(rf'<input id="f-{name}" name="{name}"[^>]*value="([^"]*)"', page.text)
    assert match, f"no field {name}"
    return html.unescape(match.group(1))


def path_of(event, original):
    return f"/events/{event['id']}/dates/{local(original)}/edit"


def event_api(client, organizer, event):
    response = client.get(f"/api/events/{event['id']}", headers=organizer)
    assert response.status_code == 200, response.text
    return response.json


def on_the_day(client, organizer, community, day):
    response = client.get(
        f"/api/communities/{community['slug']}/occurrences?start={day:%Y-%m-%d}&end={day:%Y-%m-%d}",
        headers=organizer,
    )
    assert response.status_code == 200, response.text
    return response.json


def flashed(page):
    match = re.search(r'<div class="notice" role="status">(.*?)</div>', page.text, re.S)
    assert match, "no notice on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


@pytest.fixture
def series(client, organizer, community):
    response = client.post(
        f"/api/communities/{community['slug']}/events", json=SERIES, headers=organizer
    )
    assert response.status_code == 201, response.text
    return response.json


@pytest.fixture
def dana(client, sign_in, organizer, community):
    """The browser, signed in as the organizer of the `community`."""
    sign_in(client, "dana@example.org")
    return client


# --- the form --------------------------------------------------------------------------------


def test_the_form_shows_the_date_as_it_is_now(client, organizer, series, dana):
    page = dana.get(path_of(series, SECOND))

    assert page.status_code == 200
    assert value_of(page, "starts_at") == local(SECOND)
    assert value_of(page, "ends_at") == local(SECOND + timedelta(hours=1))
    assert value_of(page, "title") == "Thursday consult group"
    assert value_of(page, "location") == "Room 4"
    assert value_of(page, "online_url") == ""
    assert form_values(page)["sequence"] == "0"
    text = html.unescape(page.text)
    assert f"Change one date: {day_words(SECOND)}" in text
    assert f"{day_words(SECOND)}, 12:00{DASH}13:00 {SECOND:%Z}" in text

    # A date changed before shows its own values, and where it was.
    client.patch(
        f"/api/events/{series['id']}/occurrences/{local(SECOND)}",
        json={"starts_at": local(FRIDAY), "title": "Guest speaker"},
        headers=organizer,
    )
    page = dana.get(path_of(series, SECOND))
    assert value_of(page, "starts_at") == local(FRIDAY)
    assert value_of(page, "ends_at") == local(FRIDAY + timedelta(hours=1))
    assert value_of(page, "title") == "Guest speaker"
    assert form_values(page)["sequence"] == "1"
    assert f"from {day_words(SECOND)}, 12:00 {SECOND:%Z}" in html.unescape(page.text)


def test_saving_moves_the_date_and_tells_the_attendees(
    client, stack, organizer, community, series, dana
):
    values = form_values(dana.get(path_of(series, SECOND)))
    values.update(starts_at=local(FRIDAY), ends_at=local(FRIDAY + timedelta(hours=1)))

    response = dana.submit(path_of(series, SECOND), values)

    assert response.status_code == 302, response.text
    assert urlsplit(response.location).path == f"/events/{series['id']}"
    event_page = dana.get(f"/events/{series['id']}")
    new_time = f"{day_words(FRIDAY)}, 18:00{DASH}19:00 {FRIDAY:%Z}"
    assert flashed(event_page) == (
        f"Moved Thursday consult group on {day_words(SECOND)} to {new_time}."
    )
    next_dates = html.unescape(event_page.text)
    next_dates = next_dates[next_dates.index("Next dates") :]
    assert new_time in next_dates
    assert f"from {day_words(SECOND)}, 12:00 {SECOND:%Z}" in next_dates, "where it was"

    assert on_the_day(client, organizer, community, SECOND) == []
    [moved] = on_the_day(client, organizer, community, FRIDAY)
    assert moved["original_start"] == local(SECOND)
    assert moved["starts_at"] == FRIDAY.isoformat()
    assert moved["moved"] is True

    [message] = published(stack, "events.occurrence_updated")
    payload = message["payload"]
    assert payload["occurrence"] == f"{local(SECOND)}:00"
    assert payload["changed"] == ["starts_at", "ends_at"]
    assert payload["event"]["sequence"] == 1
    [override] = payload["event"]["overrides"]
    assert (override["local_start"], override["location"]) == (f"{local(FRIDAY)}:00", None)
    assert published(stack, "events.event_updated") == [], "the series itself did not change"


def test_a_date_gets_its_own_title_place_and_description(
    client, stack, organizer, community, series, dana
):
    values = form_values(dana.get(path_of(series, SECOND)))
    values.update(
        title="Consult group: guest speaker",
        location="",  # none this time: it is online only
        online_url="https://video.example.org/guest",
        description="Dr. Chen joins us.\r\nBring one case.",
    )

    response = dana.submit(path_of(series, SECOND), values)

    assert response.status_code == 302, response.text
    assert flashed(dana.get(f"/events/{series['id']}")) == (
        "Changed the title, place, online link and description of Thursday consult group on "
        f"{day_words(SECOND)}."
    )
    [override] = event_api(client, organizer, series)["overrides"]
    assert override["title"] == "Consult group: guest speaker"
    assert override["location"] == "", "no place on this date, though the series has one"
    assert override["online_url"] == "https://video.example.org/guest"
    assert override["description"] == "Dr. Chen joins us.\nBring one case."
    assert override["starts_at"] == SECOND.isoformat(), "not moved"
    payload = published(stack, "events.occurrence_updated")[-1]["payload"]
    assert payload["changed"] == ["title", "description", "location", "online_url"]

    page = dana.get(path_of(series, SECOND))
    assert value_of(page, "location") == ""
    assert value_of(page, "description") == "Dr. Chen joins us.\nBring one case."

    # Given the series' values again, the date follows the series once more.
    values = form_values(page)
    values.update(title="Thursday consult group", location="Room 4", online_url="", description="")
    assert dana.submit(path_of(series, SECOND), values).status_code == 302
    event = event_api(client, organizer, series)
    assert (event["overrides"], event["sequence"]) == ([], 2)


def test_saving_the_form_unchanged_tells_nobody(client, stack, organizer, series, dana):
    values = form_values(dana.get(path_of(series, SECOND)))
    response = dana.submit(path_of(series, SECOND), values)
    assert response.status_code == 302
    assert flashed(dana.get(f"/events/{series['id']}")) == "Nothing changed."
    assert event_api(client, organizer, series)["sequence"] == 0
    assert published(stack, "events.occurrence_updated") == []


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"ends_at": local(SECOND - timedelta(hours=1))},
            {"ends_at": "this date must end after it starts"},
        ),
        (
            {"title": "  ", "online_url": "zoom"},
            {
                "title": "give this date a title; the series is called “Thursday consult group”",
                "online_url": "give a full link starting with https://",
            },
        ),
        (
            {"starts_at": "next Friday", "location": "x" * 501},
            {
                "starts_at": "give a local date and time like 2026-12-03T12:00, or a date like "
                "2027-05-01 for an all-day event",
                "location": "keep this to 500 characters",
            },
        ),
        ({"starts_at": ""}, {"starts_at": "give when this date starts, like 2027-01-14 12:00"}),
        (
            {"starts_at": "2027-03-14T02:30", "ends_at": "2027-03-14T03:30"},
            {"starts_at": "2027-03-14 02:30 does not exist in America/New_York"},
        ),
    ],
)
def test_errors_are_shown_next_to_their_fields_and_the_input_is_kept(
    client, stack, organizer, series, dana, changes, errors
):
    values = {**form_values(dana.get(path_of(series, SECOND))), **changes}

    response = dana.submit(path_of(series, SECOND), values)

    assert response.status_code == 422
    for name, message in errors.items():
        assert field_error(response, name).startswith(message), name
    summary = re.search(r'<div class="error-summary".*?</div>', response.text, re.S).group(0)
    assert len(re.findall(r'<li><a href="#f-', summary)) == len(errors)
    for name, value in changes.items():
        assert value_of(response, name) == value, "kept as typed"
    assert "<title>Error: " in response.text
    event = event_api(client, organizer, series)
    assert (event["sequence"], event["overrides"]) == (0, [])
    assert published(stack, "events.occurrence_updated") == []


def test_a_form_opened_before_another_change_is_not_saved(client, organizer, series, dana):
    stale = form_values(dana.get(path_of(series, SECOND)))
    client.patch(f"/api/events/{series['id']}", json={"capacity": 10}, headers=organizer)

    response = dana.submit(path_of(series, SECOND), {**stale, "title": "Case review"})

    assert response.status_code == 409
    assert "Someone else changed this series since you opened this form" in response.text
    assert value_of(response, "title") == "Case review"
    assert event_api(client, organizer, series)["overrides"] == []
    again = dana.submit(path_of(series, SECOND), form_values(response))
    assert again.status_code == 302
    [override] = event_api(client, organizer, series)["overrides"]
    assert override["title"] == "Case review"


# --- which dates, and who ----------------------------------------------------------------------


def test_the_dates_page_links_each_date_still_on_to_its_form(client, organizer, series, dana):
    third = SECOND + timedelta(weeks=1)
    client.post(
        f"/api/events/{series['id']}/cancel", json={"occurrence": local(third)}, headers=organizer
    )

    page = dana.get(f"/events/{series['id']}/dates")

    assert page.status_code == 200
    items = re.findall(r"<li[^>]*>(.*?)</li>", page.text, re.S)
    assert len(items) == 12
    links = re.findall(r'href="(/events/[^"]+/dates/[^"]+/edit)"', page.text)
    assert len(links) == 11, "a cancelled date has no form"
    assert links[:2] == [path_of(series, FIRST), path_of(series, SECOND)]
    assert path_of(series, third) not in page.text
    first_link = re.search(r'<a class="change"[^>]*>(.*?)</a>', page.text, re.S).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", first_link)) == (
        f"Change {day_words(FIRST)}, 12:00{DASH}13:00 {FIRST:%Z}"
    ), "each link says which date it changes"
    assert dana.get(links[1]).status_code == 200


def test_a_cancelled_date_or_series_cannot_be_changed(client, organizer, series, dana):
    client.post(
        f"/api/events/{series['id']}/cancel", json={"occurrence": local(SECOND)}, headers=organizer
    )
    response = dana.get(path_of(series, SECOND))
    assert response.status_code == 302
    assert urlsplit(response.location).path == f"/events/{series['id']}"
    assert flashed(dana.get(response.location)) == (
        "This date is cancelled, so it can no longer be changed."
    )

    values = form_values(dana.get(path_of(series, FIRST)))
    client.post(f"/api/events/{series['id']}/cancel", json={}, headers=organizer)
    response = dana.submit(path_of(series, FIRST), {**values, "title": "Too late"}, "/")
    assert response.status_code == 302
    assert flashed(dana.get(response.location)) == (
        "This series is cancelled, so its dates can no longer be changed."
    )
    for path in (path_of(series, FIRST), f"/events/{series['id']}/dates"):
        assert dana.get(path).status_code == 302, path
    assert event_api(client, organizer, series)["overrides"] == []


def test_an_unknown_date_is_a_404_that_says_so(client, series, dana):
    not_a_thursday = FRIDAY.replace(hour=12)
    response = dana.get(path_of(series, not_a_thursday))
    assert response.status_code == 404
    text = html.unescape(response.text)
    on = f"{not_a_thursday:%A} {not_a_thursday.day} {not_a_thursday:%B} {not_a_thursday.year}"
    assert f"Thursday consult group has no date on {on} at 12:00." in text
    assert path_of(series, FIRST) in text, "the dates it does have are offered"

    response = dana.get(f"/events/{series['id']}/dates/next-week/edit")
    assert response.status_code == 404
    assert "“next-week” does not name a date" in html.unescape(response.text)
    assert dana.get(f"/events/no-such-event/dates/{local(SECOND)}/edit").status_code == 404


def test_a_one_off_event_is_changed_with_the_event_form(client, organizer, community, dana):
    one_off = {key: value for key, value in SERIES.items() if key != "rrule"}
    event = client.post(
        f"/api/communities/{community['slug']}/events", json=one_off, headers=organizer
    ).json
    for path in (path_of(event, FIRST), f"/events/{event['id']}/dates"):
        response = dana.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response.location).path == f"/events/{event['id']}/edit"


def test_only_organizers_change_a_date(
    client, stack, sign_in, issue_token, organizer, community, series
):
    signed_out = client.get(path_of(series, SECOND))
    assert signed_out.status_code == 302
    assert signed_out.location.startswith("/sign-in?next=")

    client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "sam@example.org", "name": "Sam Rivera"},
        headers=organizer,
    )
    sign_in(client, "sam@example.org")
    for path in (path_of(series, SECOND), f"/events/{series['id']}/dates"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "only the organizers of riverside clinicians" in response.text.lower()
    token = client.csrf_token("/")
    posted = client.post(
        path_of(series, SECOND),
        data={
            "starts_at": local(FRIDAY),
            "title": "Mine now",
            "sequence": "0",
            "csrf_token": token,
        },
    )
    assert posted.status_code == 403
    assert event_api(client, organizer, series)["overrides"] == []
    assert published(stack, "events.occurrence_updated") == []

    issue_token("outsider@example.org")
    sign_in(client, "outsider@example.org")
    assert client.get(path_of(series, SECOND)).status_code == 404


def test_an_all_day_series_changes_a_date_by_its_days(client, organizer, community, dana):
    first = FIRST.date()
    event = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "social",
            "title": "Walking day",
            "all_day": True,
            "starts_at": f"{first}",
            "ends_at": f"{first}",
            "rrule": "FREQ=WEEKLY;COUNT=5",
        },
        headers=organizer,
    ).json
    second = first + timedelta(weeks=1)
    path = f"/events/{event['id']}/dates/{second}T00:00/edit"
    page = dana.get(path)
    assert page.status_code == 200
    assert re.search(r'<input id="f-starts_at" name="starts_at" type="date"', page.text)
    assert "First day" in page.text and "Last day" in page.text
    assert (value_of(page, "starts_at"), value_of(page, "ends_at")) == (f"{second}", f"{second}")

    saturday = second + timedelta(days=2)
    values = {**form_values(page), "starts_at": f"{saturday}", "ends_at": f"{saturday}"}
    assert dana.submit(path, values).status_code == 302
    [override] = event_api(client, organizer, event)["overrides"]
    assert (override["starts_at"], override["ends_at"]) == (f"{saturday}", f"{saturday}")
    assert flashed(dana.get(f"/events/{event['id']}")) == (
        f"Moved Walking day on {day_words(second)} to {day_words(saturday)} (all day)."
    )


def test_the_pages_are_in_the_layout_with_labelled_controls(client, series, dana):
    for path in (f"/events/{series['id']}/dates", path_of(series, SECOND)):
        page = dana.get(path)
        assert page.status_code == 200, path
        assert '<meta name="viewport"' in page.text
        # No inline script or style: the Content-Security-Policy allows neither.
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), path
        assert " style=" not in page.text and not re.search(r"<[^>]+\son[a-z]+=", page.text), path
        for form in re.findall(r'<form method="post".*?</form>', page.text, re.S):
            assert 'name="csrf_token"' in form, path
        for control in re.findall(r'<(?:input|select|textarea)[^>]*id="(f-[^"]+)"', page.text):
            assert f'for="{control}"' in page.text, (path, control)
