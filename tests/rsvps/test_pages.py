"""Answering from the event page or an emailed link, and the manage page behind each RSVP's
signed link: no account needed, and nothing changes on a GET."""

import html
import re
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.rsvps import store as rsvps_store
from shared.links import manage_rsvp_url
from shared.testing import COMMUNITY_ZONE, local, thursday
from shared.timewords import DASH

ZONE = COMMUNITY_ZONE  # the community's


def day_words(day: date) -> str:
    """A day as the pages say it, "Fri 11 Dec", with its year unless it is this year's (today as
    seen in the zone of a time, or here for a whole day)."""
    today = datetime.now(day.tzinfo if isinstance(day, datetime) else None).date()
    words = f"{day:%a} {day.day} {day:%b}"
    return words if day.year == today.year else f"{words} {day.year}"


LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": local(thursday()),
    "ends_at": local(thursday() + timedelta(hours=1)),
    "capacity": 2,
    "guest_limit": 1,
}


def answer(client, event, who, *, form_page=None, **fields):
    """Answer with the form, as a browser posts it."""
    data = {"name": who.title(), "email": f"{who}@example.org", "response": "yes", **fields}
    path = f"/rsvps/events/{event['id']}/answer"
    return client.submit(path, data, form_page or path)


def rsvps(stack):
    with stack.services["rsvps"].engine.connect() as conn:
        rows = conn.execute(sa.select(rsvps_store.rsvps).order_by(rsvps_store.rsvps.c.created_at))
        return [(row.email.split("@")[0], row.occurrence, row.status, row.guests) for row in rows]


def outbox_size(stack):
    with stack.services["rsvps"].engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(rsvps_store.outbox)).scalar()


def text(page):
    return html.unescape(re.sub(r"\s+", " ", page.text))


def test_a_member_answers_on_the_event_page_with_their_details_filled_in(
    client, stack, schedule, sign_in
):
    lunch = schedule()
    sign_in(client, "dana@example.org")
    page = client.get(f"/events/{lunch['id']}")
    assert page.status_code == 200
    assert f'action="/rsvps/events/{lunch["id"]}/answer"' in page.text
    assert 'value="dana@example.org"' in page.text
    assert 'value="Dana Okafor"' in page.text

    answered = client.submit(
        f"/rsvps/events/{lunch['id']}/answer",
        {"name": "Dana Okafor", "email": "dana@example.org", "response": "yes", "guests": "1"},
        form_page=f"/events/{lunch['id']}",
    )
    assert answered.status_code == 302
    manage = client.get(answered.headers["Location"])
    assert "Saved. You're going with 1 guest." in text(manage)
    assert rsvps(stack) == [("dana", "", "confirmed", 1)]


def test_anyone_answers_from_an_emailed_link_and_manages_it_with_no_account(
    client, stack, schedule
):
    lunch = schedule()
    path = f"/rsvps/events/{lunch['id']}/answer?response=maybe"
    form = client.get(path)
    assert form.status_code == 200
    assert 'value="maybe" checked' in form.text  # the email's button chose "maybe"; not saved yet
    assert rsvps(stack) == []

    answered = answer(client, lunch, "ana", response="maybe", form_page=path)
    manage_path = answered.headers["Location"]
    assert manage_path.startswith("http://127.0.0.1:8000/rsvps/manage/")
    assert "You said maybe." in text(client.get(manage_path))

    changed = client.submit(manage_path, {"response": "yes", "guests": "0", "name": "Ana"})
    assert changed.status_code == 302
    assert "Saved. You're going." in text(client.get(manage_path))
    assert rsvps(stack) == [("ana", "", "confirmed", 0)]


def test_opening_the_links_changes_nothing(client, stack, schedule):
    """Mail scanners open every link in an email: GETs only show forms."""
    lunch = schedule()
    manage_path = answer(client, lunch, "ana").headers["Location"]
    before = outbox_size(stack)
    for path in (manage_path, f"{manage_path}/cancel", f"/rsvps/events/{lunch['id']}/answer"):
        assert client.get(path).status_code in (200, 405)
    assert rsvps(stack) == [("ana", "", "confirmed", 0)]
    assert outbox_size(stack) == before


def test_cancelling_on_the_manage_page_gives_the_seat_to_the_next_in_line(client, stack, schedule):
    lunch = schedule()
    ana = answer(client, lunch, "ana").headers["Location"]
    answer(client, lunch, "ben")
    cy = answer(client, lunch, "cy").headers["Location"]
    assert "You're number 1 on the waitlist." in text(client.get(cy))

    assert client.submit(f"{ana}/cancel", {}, form_page=ana).status_code == 302
    page = text(client.get(ana))
    assert "Your RSVP is cancelled." in page
    assert "You cancelled this RSVP." in page
    assert "You're going." in text(client.get(cy))
    assert rsvps(stack) == [
        ("ana", "", "cancelled", 0),
        ("ben", "", "confirmed", 0),
        ("cy", "", "confirmed", 0),
    ]


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"email": "ana@"}, "email", "give a valid email address"),
        ({"phone": "12"}, "phone", "give a valid phone number"),
        ({"guests": "2"}, "guests", "at most 1 guest"),
        ({"guests": "two"}, "guests", "whole number"),
        ({"response": ""}, "response", "choose yes, no or maybe"),
        ({"name": ""}, "name", "give your name"),
    ],
)
def test_bad_answers_say_what_to_fix_next_to_the_field_and_keep_the_rest(
    client, stack, schedule, fields, field, words
):
    lunch = schedule()
    page = answer(client, lunch, "ana", **{"phone": "(415) 555-0100", **fields})
    assert page.status_code == 422
    assert f'id="e-{field}"' in page.text
    assert words in text(page)
    if field != "phone":
        assert 'value="(415) 555-0100"' in page.text
    assert rsvps(stack) == []


def test_a_forged_manage_link_is_a_404_that_says_what_to_do(client, stack, schedule):
    lunch = schedule()
    answer(client, lunch, "ana")
    for path in ("/rsvps/manage/not-a-token", manage_rsvp_url("another key", "", "x")):
        page = client.get(path)
        assert page.status_code == 404
        assert "copied the whole link" in text(page)
    unknown = manage_rsvp_url(stack.config.secret_key, "", "00000000-0000-0000-0000-000000000000")
    assert client.get(unknown).status_code == 404


def test_a_closed_event_takes_no_answers_on_its_pages(client, organizer, stack, schedule):
    lunch = schedule()
    manage_path = answer(client, lunch, "ana").headers["Location"]
    client.post(f"/api/events/{lunch['id']}/cancel", json={}, headers=organizer)
    stack.flush()

    form = client.get(f"/rsvps/events/{lunch['id']}/answer")
    assert "This event is cancelled, so it takes no answers." in text(form)
    page = client.get(manage_path)
    assert "can no longer change" in text(page)
    # The form is gone; a post made anyway (an old tab) is refused.
    refused = client.submit(manage_path, {"response": "no"}, form_page="/sign-in")
    assert refused.status_code == 409
    assert "cancelled" in text(refused)
    assert rsvps(stack) == [("ana", "", "confirmed", 0)]


def test_answering_again_in_a_known_emails_name_shows_no_manage_link(client, stack, schedule):
    lunch = schedule()
    answer(client, lunch, "ana")
    again = answer(client, lunch, "ana", response="no")
    assert again.status_code == 200
    assert "/rsvps/manage/" not in again.text
    assert "link in the confirmation email" in text(again)
    assert rsvps(stack) == [("ana", "", "declined", 0)]


def test_a_series_is_answered_for_one_date_or_all_upcoming(client, stack, schedule):
    series = schedule(rrule="FREQ=WEEKLY;COUNT=3", capacity=1, guest_limit=0)
    form = client.get(f"/rsvps/events/{series['id']}/answer")
    assert f'value="{local(thursday(1))}"' in form.text
    assert "All upcoming dates" in form.text

    answer(client, series, "ana", occurrence=local(thursday(1)))
    everything = answer(client, series, "ben", occurrence="all")
    assert everything.status_code == 302
    assert "Saved your answer for 3 dates: going to 2, on the waitlist for 1." in text(
        client.get(everything.headers["Location"])
    )
    first, second, third = (f"{local(thursday(weeks))}:00" for weeks in range(3))
    assert sorted(rsvps(stack)) == [
        ("ana", second, "confirmed", 0),
        ("ben", first, "confirmed", 0),
        ("ben", second, "waitlisted", 0),
        ("ben", third, "confirmed", 0),
    ]


def test_only_organizers_find_the_attendee_list_from_the_event_page(
    client, stack, schedule, sign_in, organizer, community
):
    lunch = schedule()
    client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "sam@example.org", "name": "Sam", "role": "member"},
        headers=organizer,
    )
    link = f'href="/rsvps/events/{lunch["id"]}/attendees"'
    sam = type(client)(stack.wsgi())
    sign_in(sam, "sam@example.org")
    assert link not in sam.get(f"/events/{lunch['id']}").text
    sign_in(client, "dana@example.org")
    assert link in client.get(f"/events/{lunch['id']}").text


def test_a_moved_date_and_a_whole_day_are_shown_as_they_take_place(
    client, stack, schedule, organizer
):
    series = schedule(rrule="FREQ=WEEKLY;COUNT=3", capacity=5)
    # The second date moves to the Friday afternoon after it.
    second, friday = thursday(1), thursday(1).replace(hour=15) + timedelta(days=1)
    moved = client.patch(
        f"/api/events/{series['id']}/occurrences/{local(second)}",
        json={"starts_at": local(friday), "ends_at": local(friday + timedelta(hours=1))},
        headers=organizer,
    )
    assert moved.status_code == 200, moved.text
    stack.flush()
    new_time = f"{day_words(friday)}, 15:00{DASH}16:00 {friday:%Z}"  # "Fri 11 Dec, 15:00-16:00 EST"
    form = text(client.get(f"/rsvps/events/{series['id']}/answer"))
    assert new_time in form  # offered at its new time ...
    answered = answer(client, series, "ana", occurrence=local(second))  # ... by its id
    assert new_time in text(client.get(answered.headers["Location"]))

    saturday = thursday().date() + timedelta(days=2)
    sunday = saturday + timedelta(days=1)
    party = schedule(
        kind="celebration", all_day=True, starts_at=saturday.isoformat(),
        ends_at=sunday.isoformat(), guest_limit=0, capacity=None,
    )  # fmt: skip
    answered = answer(client, party, "ben")
    days = f"{day_words(saturday)} {DASH} {day_words(sunday)} (all day)"  # "Sat 5 Dec - Sun 6 Dec"
    assert days in text(client.get(answered.headers["Location"]))


def add_member(client, community, organizer, who):
    response = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": f"{who}@example.org", "name": who.title(), "role": "member"},
        headers=organizer,
    )
    assert response.status_code == 201, response.text


def test_a_signed_in_member_finds_their_own_answer_and_place_in_line(
    client, stack, schedule, sign_in, community, organizer
):
    lunch = schedule(capacity=1, guest_limit=0)
    answer(client, lunch, "ana")
    mine = f"/rsvps/events/{lunch['id']}/mine"

    # Signed out, it asks for the sign-in that proves whose answers these are.
    asked = client.get(mine)
    assert asked.status_code == 302
    assert asked.headers["Location"] == f"/sign-in?next=%2Frsvps%2Fevents%2F{lunch['id']}%2Fmine"

    add_member(client, community, organizer, "ben")
    sign_in(client, "ben@example.org")
    not_yet = client.get(mine)
    assert not_yet.status_code == 302
    assert not_yet.headers["Location"] == f"/events/{lunch['id']}"
    assert "You have not answered this event yet." in text(client.get(not_yet.headers["Location"]))

    answer(client, lunch, "ben")
    found = client.get(mine)
    assert found.status_code == 302
    assert "/rsvps/manage/" in found.headers["Location"]
    manage = text(client.get(found.headers["Location"]))
    assert "You're number 1 on the waitlist." in manage
    assert "Answered as Ben (ben@example.org)." in manage


def test_a_member_who_answered_several_dates_sees_each_with_its_own_link(
    client, stack, schedule, sign_in, community, organizer
):
    series = schedule(rrule="FREQ=WEEKLY;COUNT=3", capacity=1, guest_limit=0)
    answer(client, series, "ana", occurrence=local(thursday(1)))
    answer(client, series, "ben", occurrence="all")
    add_member(client, community, organizer, "ben")
    sign_in(client, "ben@example.org")

    page = client.get(f"/rsvps/events/{series['id']}/mine")
    assert page.status_code == 200
    words = text(page)
    assert words.count("You're going.") == 2
    assert words.count("You're number 1 on the waitlist.") == 1
    links = re.findall(r'href="([^"]*/rsvps/manage/[^"]+)"', page.text)
    assert len(set(links)) == 3
    assert "You're number 1 on the waitlist." in text(client.get(links[1]))
