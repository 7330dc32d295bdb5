"""The event form's preview of a series' next dates: built as saving would build the series,
shown with everything typed kept, and never saved."""

import html
import json
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from services.events import store as events_store
from shared.testing import form_values

NEW_YORK = ZoneInfo("America/New_York")
DASH = "\u2013"

FORM = {
    "kind": "consult_group",
    "title": "Tuesday consult group",
    "description": "Cases, in confidence.",
    "starts_at": "",
    "ends_at": "",
    "timezone": "America/New_York",
    "repeat": "weekly",
    "interval": "2",
    "rrule": "",
    "ends": "never",
    "count": "",
    "until": "",
    "location": "",
    "online_url": "https://video.example.org/consult",
    "capacity": "8",
    "guest_limit": "",
    "rsvp_deadline": "",
    "visibility": "private",
    "honoree_email": "",
    "ce_hours": "",
    "presenter": "",
}


@pytest.fixture
def dana(client, sign_in, organizer, community):
    """The browser, signed in as the organizer of the `community`."""
    sign_in(client, "dana@example.org")
    return client


@pytest.fixture
def tuesday():
    """Noon on the next Tuesday in New York: the series' first date."""
    today = datetime.now(NEW_YORK).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 or 7)
    return datetime.combine(day, time(12), NEW_YORK)


def series_form(first, **changes):
    return {
        **FORM,
        "starts_at": f"{first:%Y-%m-%dT%H:%M}",
        "ends_at": f"{first + timedelta(hours=1):%Y-%m-%dT%H:%M}",
        **changes,
    }


def words(local, hours=1):
    """A date as the event page lists it: "Tue 9 Jun 2027, 12:00-13:00 EDT" (the year only when
    it is not this year's)."""
    today = datetime.now(NEW_YORK).date()
    day = f"{local:%a} {local.day} {local:%b}"
    day = day if local.year == today.year else f"{day} {local.year}"
    end = local + timedelta(hours=hours)
    return f"{day}, {local:%H:%M}{DASH}{end:%H:%M} {local:%Z}"


def weekly(first, weeks):
    """The dates of a weekly series at the same wall time, across any change of the clocks."""
    return [
        datetime.combine(first.date() + timedelta(weeks=n), first.time(), NEW_YORK)
        for n in range(weeks)
    ]


def preview_of(page):
    """The preview section's text, or None if the page has none."""
    match = re.search(r'<section id="preview".*?</section>', page.text, re.S)
    return html.unescape(match.group(0)) if match else None


def listed(section):
    """The dates the preview lists, in order, as their words."""
    return re.findall(r"<time[^>]*>([^<]*)</time>", section.split('class="occurrences"')[1])


def value_of(page, name):
    match = re.search(rf'<input id="f-{name}" name="{name}"[^>]*value="([^"]*)"', page.text)
    assert match, f"no input {name}"
    return html.unescape(match.group(1))


def field_error(page, name):
    """The error shown next to field `name`, checking it is tied to the control."""
    match = re.search(rf'<p class="error" id="e-{name}">(.*?)</p>', page.text, re.S)
    assert match, f"no error next to {name}"
    control = re.search(rf'<[^>]*\bid="f-{name}"[^>]*>', page.text)
    assert control and re.search(rf'aria-describedby="[^"]*\be-{name}\b', control.group(0))
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).removeprefix("Error: ")


def stored(stack):
    """How many events the store holds, and the types of the messages in its outbox."""
    engine = stack.services["events"].engine
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(events_store.events)).scalar()
        bodies = conn.execute(sa.select(events_store.outbox.c.body)).scalars()
        types = [json.loads(body)["type"] for body in bodies]
    return count, [kind for kind in types if kind.startswith("events.event_")]


def event_page_dates(client, event_id):
    page = html.unescape(client.get(f"/events/{event_id}").text)
    section = page[page.index("<h2>Next dates</h2>") :]
    section = section[: section.index("</ul>")]
    return re.findall(r"<time[^>]*>([^<]*)</time>", section)


# --- a new series ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ends", "weeks"),
    [
        ({"ends": "count", "count": "10"}, 6),
        ({"ends": "count", "count": "4"}, 4),
        # The last date is the Tuesday eight weeks on, so the series has more than six.
        ({"ends": "until", "until": 8}, 6),
        ({"ends": "until", "until": 2}, 3),
    ],
)
def test_the_preview_lists_the_next_dates_keeps_the_input_and_saves_nothing(
    client, stack, community, dana, tuesday, ends, weeks
):
    path = f"/c/{community['slug']}/events/new"
    if ends["ends"] == "until":
        ends = {**ends, "until": f"{tuesday.date() + timedelta(weeks=ends['until'])}"}
    before = stored(stack)
    page = dana.submit(path, {**series_form(tuesday, **ends), "preview": "1"})

    assert page.status_code == 200, page.text
    section = preview_of(page)
    assert section is not None
    assert 'aria-labelledby="preview-heading"' in section
    assert '<h2 id="preview-heading">Next dates</h2>' in section
    assert [words(local) for local in weekly(tuesday, weeks)] == listed(section)
    intro = "The next 6 dates:" if weeks == 6 else f"The {weeks} dates still to come:"
    assert intro in section
    assert "Every week on Tuesday" in section and "Times in America/New_York." in section
    assert "Nothing is saved until you press “Schedule the event”." in section

    for name in ("title", "starts_at", "ends_at", "capacity", "online_url", ends["ends"]):
        assert value_of(page, name) == series_form(tuesday, **ends)[name]
    assert ">Cases, in confidence.</textarea>" in page.text
    assert 'id="f-repeat-weekly" name="repeat" value="weekly" checked' in page.text
    assert f'id="f-ends-{ends["ends"]}" name="ends" value="{ends["ends"]}" checked' in page.text
    assert 'id="f-visibility-private" name="visibility" value="private" checked' in page.text
    assert stored(stack) == before == (0, [])


def test_saving_what_was_previewed_gives_the_dates_the_preview_listed(
    client, stack, community, dana, tuesday
):
    path = f"/c/{community['slug']}/events/new"
    values = series_form(tuesday, repeat="weeks", interval="2", ends="count", count="12")
    section = preview_of(dana.submit(path, {**values, "preview": "1"}))
    assert "Every 2 weeks on Tuesday, 12 times" in section
    previewed = listed(section)
    assert previewed == [words(local) for local in weekly(tuesday, 11)[::2]]

    response = dana.submit(path, values)
    assert response.status_code == 302, response.text
    event_id = response.location.rsplit("/", 1)[1]
    assert event_page_dates(client, event_id) == previewed
    assert stored(stack) == (1, ["events.event_scheduled"])


def test_errors_are_shown_next_to_their_fields_and_in_the_preview(
    client, stack, community, dana, tuesday
):
    path = f"/c/{community['slug']}/events/new"
    values = series_form(tuesday, title="", ends="count", count="ten")
    page = dana.submit(path, {**values, "preview": "1"})

    assert page.status_code == 422
    assert field_error(page, "title") == "give the event a title"
    assert "whole number" in field_error(page, "count")
    section = preview_of(page)
    assert "The dates can be shown once these are fixed:" in section
    assert '<a href="#f-title">' in section and '<a href="#f-count">' in section
    assert 'class="occurrences"' not in section
    assert value_of(page, "count") == "ten"
    assert value_of(page, "starts_at") == values["starts_at"]
    assert stored(stack) == (0, [])


def test_the_rules_of_the_model_are_checked_as_saving_checks_them(
    client, stack, community, dana, tuesday
):
    # A custom rule whose dates do not include the start: only the model can tell.
    path = f"/c/{community['slug']}/events/new"
    values = series_form(tuesday, repeat="custom", rrule="FREQ=WEEKLY;BYDAY=WE")
    preview = dana.submit(path, {**values, "preview": "1"})
    saved = dana.submit(path, values)
    assert preview.status_code == saved.status_code == 422
    assert field_error(preview, "rrule") == field_error(saved, "rrule")
    assert stored(stack) == (0, [])


def test_a_one_off_event_states_its_date(client, stack, community, dana, tuesday):
    path = f"/c/{community['slug']}/events/new"
    page = dana.submit(path, {**series_form(tuesday, repeat="none"), "preview": "1"})
    assert page.status_code == 200
    section = preview_of(page)
    long = f"{tuesday:%A} {tuesday.day} {tuesday:%B} {tuesday.year}, 12:00{DASH}13:00"
    assert re.search(
        rf"It does not repeat: it takes place on <time[^>]*>{long} {tuesday:%Z}</time>.",
        section,
    )
    assert stored(stack) == (0, [])


def test_the_form_saves_when_enter_is_pressed_and_the_preview_is_a_second_button(
    client, community, dana
):
    page = dana.get(f"/c/{community['slug']}/events/new")
    assert preview_of(page) is None  # nothing typed yet: nothing to preview
    form = re.search(r"<form method=\"post\" novalidate.*?</form>", page.text, re.S).group(0)
    buttons = re.findall(r"<button[^>]*>[^<]*</button>", form)
    # Enter in a text field presses the form's first submit button.
    assert buttons[0] == '<button type="submit">Schedule the event</button>'
    assert 'name="preview"' in buttons[1] and ">Show the next dates<" in buttons[1]
    path = f"/c/{community['slug']}/events/new"
    assert f'formaction="{path}#preview"' in buttons[1]


# --- an existing series ------------------------------------------------------------------------


def test_the_edit_form_shows_the_series_next_dates_from_the_start(
    client, stack, community, dana, tuesday
):
    response = dana.submit(
        f"/c/{community['slug']}/events/new", series_form(tuesday, ends="count", count="20")
    )
    event_id = response.location.rsplit("/", 1)[1]
    dates = weekly(tuesday, 7)
    cancelled = dana.submit(
        f"/events/{event_id}/cancel",
        {"scope": "occurrence", "occurrence": f"{dates[1]:%Y-%m-%dT%H:%M}"},
    )
    assert cancelled.status_code == 302

    edit = dana.get(f"/events/{event_id}/edit")
    section = preview_of(edit)
    assert [words(local) for local in dates[:6]] == listed(section)
    assert re.search(r'<li class="cancelled">\s*<s><time[^>]*>' + words(dates[1]), section)
    assert "Every week on Tuesday, 20 times" in section
    assert "Nothing is saved" not in section  # nothing was changed yet
    assert event_page_dates(client, event_id) == listed(section)


def test_previewing_a_change_moves_the_cancelled_date_with_the_series_and_saves_nothing(
    client, stack, organizer, community, dana, tuesday
):
    response = dana.submit(f"/c/{community['slug']}/events/new", series_form(tuesday))
    event_id = response.location.rsplit("/", 1)[1]
    dates = weekly(tuesday, 7)
    dana.submit(
        f"/events/{event_id}/cancel",
        {"scope": "occurrence", "occurrence": f"{dates[2]:%Y-%m-%dT%H:%M}"},
    )
    before = stored(stack)
    sequence = client.get(f"/api/events/{event_id}", headers=organizer).json["sequence"]

    # Every Tuesday an hour later, and 90 minutes long.
    later = tuesday + timedelta(hours=1)
    values = form_values(dana.get(f"/events/{event_id}/edit"))
    values.update(
        starts_at=f"{later:%Y-%m-%dT%H:%M}",
        ends_at=f"{later + timedelta(minutes=90):%Y-%m-%dT%H:%M}",
    )
    page = dana.submit(f"/events/{event_id}/edit", {**values, "preview": "1"})
    assert page.status_code == 200, page.text
    section = preview_of(page)
    moved = [local + timedelta(hours=1) for local in dates[:6]]
    assert listed(section) == [words(local, hours=1.5) for local in moved]
    assert re.search(r'<li class="cancelled">\s*<s><time[^>]*>' + words(moved[2], 1.5), section)
    assert "Nothing is saved until you press “Save changes”." in section
    assert value_of(page, "starts_at") == f"{later:%Y-%m-%dT%H:%M}"
    assert form_values(page)["sequence"] == values["sequence"]
    assert stored(stack) == before
    event = client.get(f"/api/events/{event_id}", headers=organizer).json
    assert (event["starts_at"][11:16], event["sequence"]) == ("12:00", sequence)

    saved = dana.submit(f"/events/{event_id}/edit", values)
    assert saved.status_code == 302, saved.text
    assert event_page_dates(client, event_id) == listed(section)


def test_a_moved_date_stays_where_it_was_moved_in_the_preview_as_when_saved(
    client, stack, organizer, community, dana, tuesday
):
    response = dana.submit(f"/c/{community['slug']}/events/new", series_form(tuesday))
    event_id = response.location.rsplit("/", 1)[1]
    second = weekly(tuesday, 2)[1]
    wednesday = second + timedelta(days=1, hours=6)
    moved = client.patch(
        f"/api/events/{event_id}/occurrences/{second:%Y-%m-%dT%H:%M}",
        json={"starts_at": f"{wednesday:%Y-%m-%dT%H:%M}", "title": "With a guest speaker"},
        headers=organizer,
    )
    assert moved.status_code == 200, moved.text
    before = stored(stack)

    # The series starts half an hour later; the date moved on its own stays where it was put.
    values = form_values(dana.get(f"/events/{event_id}/edit"))
    values.update(starts_at=f"{tuesday:%Y-%m-%d}T12:30", ends_at=f"{tuesday:%Y-%m-%d}T13:30")
    section = preview_of(dana.submit(f"/events/{event_id}/edit", {**values, "preview": "1"}))
    dates = listed(section)
    assert dates[1] == words(wednesday)
    assert "With a guest speaker" in section and "Moved</span>" in section
    assert dates[0] == words(tuesday + timedelta(minutes=30))
    assert len(dates) == 6
    assert stored(stack) == before

    assert dana.submit(f"/events/{event_id}/edit", values).status_code == 302
    assert event_page_dates(client, event_id) == dates
