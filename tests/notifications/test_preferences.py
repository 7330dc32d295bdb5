"""The preferences page and unsubscribing, reached from the links in every mail without an
account: choices round-trip, opening a link changes nothing (mail scanners open them all), a
mail provider's one-click POST unsubscribes and is announced on the bus, bad input is explained
without losing the rest, and opting a phone in to texts records consent and confirms it once."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import sqlalchemy as sa

from hearth.stack import Stack, catalogues
from services.notifications import store as stored
from services.notifications.model import (
    ANNOUNCEMENTS,
    CHOICES,
    DROPPED,
    EMAIL,
    REMINDERS,
    SMS,
    TEXT_OPT_IN,
    UPDATES,
    Member,
    NewDelivery,
    wanted_by_default,
)
from services.notifications.store import Store
from shared.asyncapi import document
from shared.config import Config
from shared.links import preferences_url, unsubscribe_url
from shared.testing import Browser, thursday

from .smtp_server import Handler

BOTH_DATABASES = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
ANA = "ana@example.org"
PHONE = "+14155552671"
ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def config(config: Config, smtp: tuple[Handler, str]) -> Config:
    """Mail goes to a real SMTP server on 127.0.0.1, as from a deployment."""
    return config.with_changes(smtp_url=smtp[1])


def notifications(stack: Stack) -> Store:
    service = stack.services["notifications"]
    return Store(service.engine, service.outbox)


def preferences_path(stack: Stack, address: str = ANA) -> str:
    return preferences_url(stack.config.secret_key, "", address)


def unsubscribe_path(stack: Stack, category: str = UPDATES, address: str = ANA) -> str:
    return unsubscribe_url(stack.config.secret_key, "", address, EMAIL, category)


def every_box(**changes: bool) -> dict[str, str]:
    """The form's boxes as the defaults tick them, with `changes` (email_updates=False, …)."""
    boxes = {
        f"{channel}_{category}": wanted_by_default(channel, category)
        for channel, categories in CHOICES.items()
        for category in categories
    }
    boxes.update(changes)
    return {name: "1" for name, ticked in boxes.items() if ticked}


def ticked(page: str) -> set[str]:
    """The names of the checkboxes the page shows ticked."""
    return set(
        re.findall(r'<input type="checkbox" id="[^"]+" name="([^"]+)" value="1" checked', page)
    )


def chosen_zone(page: str) -> str:
    [value] = re.findall(r'<option value="([^"]*)" selected>', page)
    return value


def phone_field(page: str) -> str:
    [value] = re.findall(r'<input id="f-phone" name="phone" type="tel" value="([^"]*)"', page)
    return value


def unsubscribed_messages(stack: Stack) -> list[dict[str, Any]]:
    with stack.services["notifications"].engine.connect() as conn:
        bodies = conn.execute(
            sa.select(stored.outbox.c.body)
            .where(stored.outbox.c.type == "notifications.unsubscribed")
            .order_by(stored.outbox.c.id)
        ).scalars()
        return [json.loads(body) for body in bodies]


def choices(stack: Stack, address: str = ANA) -> dict[tuple[str, str], bool]:
    with notifications(stack).begin() as uow:
        return uow.preferences_of(address)


def text_deliveries(stack: Stack) -> list[dict[str, Any]]:
    with notifications(stack).begin() as uow:
        return uow.deliveries(SMS)


def consent(stack: Stack, phone: str = PHONE) -> tuple[str, str] | None:
    with stack.services["notifications"].engine.connect() as conn:
        row = conn.execute(
            sa.select(stored.sms_consents.c.state, stored.sms_consents.c.source).where(
                stored.sms_consents.c.phone == phone
            )
        ).first()
    return (row.state, row.source) if row else None


def stranger(stack: Stack) -> Browser:
    """A client with no cookies and no page visited before: a mail provider."""
    return Browser(stack.wsgi())


# --- The preferences page -----------------------------------------------------------------


@BOTH_DATABASES
def test_the_page_shows_the_defaults(client, stack):
    page = client.get(preferences_path(stack))

    assert page.status_code == 200
    assert ANA in page.text
    assert ticked(page.text) == set(every_box()), "every email, and texts but announcements"
    assert 'name="sms_announcements"' not in page.text, "texts carry no announcements"
    assert chosen_zone(page.text) == "", "quiet hours follow the event's time zone"
    assert "The event's time zone" in page.text
    assert phone_field(page.text) == ""
    # Every control has a label, and each channel is a fieldset with a legend.
    for control in re.findall(r'<(?:input|select) id="([^"]+)"', page.text):
        assert f'<label for="{control}">' in page.text, control
    assert "<legend>Email</legend>" in page.text and "<legend>Texts</legend>" in page.text


@BOTH_DATABASES
def test_saved_choices_come_back(client, stack):
    path = preferences_path(stack)
    form = {
        **every_box(email_announcements=False, sms_reminders=False),
        "timezone": "Europe/Berlin",
    }

    response = client.submit(path, form)

    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == path
    page = client.get(path)
    assert "Saved." in page.text
    assert ticked(page.text) == set(form) - {"timezone"}
    assert chosen_zone(page.text) == "Europe/Berlin"
    assert choices(stack) == {(EMAIL, ANNOUNCEMENTS): False, (SMS, REMINDERS): False}
    assert sorted(
        (m["payload"]["channel"], m["payload"]["category"]) for m in unsubscribed_messages(stack)
    ) == [(EMAIL, ANNOUNCEMENTS), (SMS, REMINDERS)]
    assert all(m["payload"]["address"] == ANA for m in unsubscribed_messages(stack))

    # Back to the defaults and the event's zone: turning things back on announces nothing.
    assert client.submit(path, {**every_box(), "timezone": ""}).status_code == 303
    page = client.get(path)
    assert ticked(page.text) == set(every_box())
    assert chosen_zone(page.text) == ""
    assert len(unsubscribed_messages(stack)) == 2


def test_saving_the_defaults_records_and_announces_nothing(client, stack):
    assert client.submit(preferences_path(stack), every_box()).status_code == 303
    assert choices(stack) == {}
    assert unsubscribed_messages(stack) == []


def test_each_box_turned_off_is_announced(client, stack):
    form = every_box(email_updates=False, email_reminders=False, sms_updates=False)
    assert client.submit(preferences_path(stack), form).status_code == 303
    payloads = [m["payload"] for m in unsubscribed_messages(stack)]
    assert sorted((p["channel"], p["category"]) for p in payloads) == [
        (EMAIL, "reminders"),
        (EMAIL, UPDATES),
        (SMS, UPDATES),
    ]


def test_the_preferences_form_needs_its_csrf_token(client, stack):
    response = client.post(preferences_path(stack), data=every_box(email_updates=False))
    assert response.status_code == 400
    assert choices(stack) == {}


def test_the_address_is_the_token_s_whatever_its_case(client, stack):
    client.submit(preferences_path(stack, "Ana@Example.ORG"), every_box(email_updates=False))
    assert choices(stack, ANA) == {(EMAIL, UPDATES): False}
    assert ticked(client.get(preferences_path(stack, ANA)).text) == set(
        every_box(email_updates=False)
    )


# --- Bad input ------------------------------------------------------------------------------


def test_an_unknown_time_zone_is_explained_and_nothing_else_is_lost(client, stack):
    path = preferences_path(stack)
    form = {**every_box(email_updates=False), "timezone": "Mars/Olympus", "phone": "(415) 555-2671"}

    page = client.submit(path, form)

    assert page.status_code == 422
    assert "choose your time zone from the list" in page.text
    assert 'aria-describedby="h-timezone e-timezone" aria-invalid="true"' in page.text
    assert 'href="#f-timezone"' in page.text, "the error summary leads to the field"
    assert ticked(page.text) == set(every_box(email_updates=False)), "the boxes are kept"
    assert phone_field(page.text) == "(415) 555-2671", "the number is kept as typed"
    assert choices(stack) == {}, "nothing is saved until all of it can be"
    with notifications(stack).begin() as uow:
        assert uow.time_zone_of(ANA) is None


@pytest.mark.parametrize("typed", ["12345", "not a number", "+44 20"])
def test_a_number_that_cannot_be_texted_is_explained_and_nothing_else_is_lost(client, stack, typed):
    form = {**every_box(sms_reminders=False), "timezone": "America/Chicago", "phone": typed}
    page = client.submit(preferences_path(stack), {**form, "text_me": "1"})

    assert page.status_code == 422
    assert "give a mobile number we can text" in page.text
    assert 'aria-describedby="h-phone e-phone" aria-invalid="true"' in page.text
    assert phone_field(page.text) == typed
    assert ticked(page.text) == set(every_box(sms_reminders=False)) | {"text_me"}
    assert chosen_zone(page.text) == "America/Chicago"
    assert choices(stack) == {}
    assert text_deliveries(stack) == []


def test_text_me_without_a_number_asks_for_one(client, stack):
    page = client.submit(preferences_path(stack), {**every_box(), "text_me": "1"})
    assert page.status_code == 422
    assert "give the mobile number to text, or untick" in page.text
    assert text_deliveries(stack) == []


# --- Texts ----------------------------------------------------------------------------------


@BOTH_DATABASES
def test_opting_in_records_consent_and_queues_one_confirmation(client, stack):
    path = preferences_path(stack)
    form = {**every_box(), "phone": "(415) 555-2671", "text_me": "1", "timezone": "America/Chicago"}

    assert client.submit(path, form).status_code == 303

    assert consent(stack) == (stored.OPTED_IN, "preferences page")
    [delivery] = text_deliveries(stack)
    assert delivery["kind"] == TEXT_OPT_IN
    assert delivery["recipient"] == PHONE, "stored in E.164"
    assert delivery["address"] == ANA
    assert delivery["category"] is None, "the answer to what they just did: never held back"
    assert delivery["context"] == {"timezone": "America/Chicago"}
    page = client.get(path)
    assert phone_field(page.text) == PHONE
    assert "text_me" in ticked(page.text)

    # Saving again, still opted in, confirms nothing twice.
    assert client.submit(path, form).status_code == 303
    assert len(text_deliveries(stack)) == 1


def test_an_opt_in_without_a_zone_of_one_s_own_is_confirmed_in_utc(client, stack):
    client.submit(preferences_path(stack), {**every_box(), "phone": PHONE, "text_me": "1"})
    [delivery] = text_deliveries(stack)
    assert delivery["context"] == {"timezone": "UTC"}


def test_unticking_text_me_opts_the_number_out(client, stack):
    path = preferences_path(stack)
    client.submit(path, {**every_box(), "phone": PHONE, "text_me": "1"})

    assert client.submit(path, {**every_box(), "phone": PHONE}).status_code == 303

    assert consent(stack) == (stored.OPTED_OUT, "preferences page")
    assert len(text_deliveries(stack)) == 1, "no text confirms an opt-out made on the page"
    page = client.get(path)
    assert "text_me" not in ticked(page.text)
    assert phone_field(page.text) == PHONE


def test_the_number_the_community_knows_is_offered(client, stack):
    with notifications(stack).begin() as uow:
        uow.record_member(Member("m-1", "Ana@example.org", "Ana", PHONE), datetime.now(UTC))
    page = client.get(preferences_path(stack))
    assert phone_field(page.text) == PHONE
    assert "text_me" not in ticked(page.text), "knowing a number is not consent to text it"


# --- Unsubscribing --------------------------------------------------------------------------


@BOTH_DATABASES
def test_opening_the_unsubscribe_link_changes_nothing(client, stack):
    page = client.get(unsubscribe_path(stack))

    assert page.status_code == 200
    assert f"Unsubscribe {ANA} from updates emails?" in page.text
    assert re.search(r'<form method="post" action="/notifications/unsubscribe/[^"]+">', page.text)
    assert 'name="csrf_token"' in page.text
    assert f'href="{preferences_path(stack)}"' in page.text
    assert choices(stack) == {}
    assert unsubscribed_messages(stack) == []


@BOTH_DATABASES
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_one_click_post_as_gmail_sends_it_unsubscribes(stack, encoding):
    path = unsubscribe_path(stack)
    provider = stranger(stack)
    if encoding == "urlencoded":
        request = {"data": ONE_CLICK, "content_type": "application/x-www-form-urlencoded"}
    else:
        request = {"data": {"List-Unsubscribe": "One-Click"}, "content_type": "multipart/form-data"}

    response = provider.post(path, **request)

    assert response.status_code == 200
    assert "You're unsubscribed" in response.text
    assert f'href="{preferences_path(stack)}"' in response.text, "a way to undo it"
    assert choices(stack) == {(EMAIL, UPDATES): False}
    [message] = unsubscribed_messages(stack)
    assert message["type"] == "notifications.unsubscribed"
    assert message["producer"] == "notifications"
    assert message["payload"] == {"address": ANA, "channel": EMAIL, "category": UPDATES}
    spec = document(catalogues())
    channel = spec["channels"]["notifications.unsubscribed"]["subscribe"]["message"]
    jsonschema.validate(message, {**channel["payload"], "components": spec["components"]})

    # Providers retry; so do people. Once unsubscribed, again is the same page and no news.
    again = stranger(stack).post(path, **request)
    assert again.status_code == 200 and "You're unsubscribed" in again.text
    assert len(unsubscribed_messages(stack)) == 1


def test_the_confirm_page_s_button_unsubscribes(client, stack):
    path = unsubscribe_path(stack, ANNOUNCEMENTS)
    response = client.submit(path, {})
    assert response.status_code == 200
    assert "You're unsubscribed" in response.text
    assert choices(stack) == {(EMAIL, ANNOUNCEMENTS): False}
    # The link, opened afterwards, says so rather than asking again.
    assert "You're unsubscribed" in client.get(path).text


def test_only_the_one_click_view_goes_without_a_csrf_token(stack):
    """The exemption is narrow: the preferences form, posted the same way, is refused."""
    response = stranger(stack).post(
        preferences_path(stack), data=ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400


def tampered(path: str) -> str:
    head, _, token = path.rpartition("/")
    return f"{head}/{token[:-2]}{'AA' if token[-2:] != 'AA' else 'BB'}"


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_is_not_found(client, stack, method):
    for path in (tampered(preferences_path(stack)), tampered(unsubscribe_path(stack))):
        response = getattr(client, method)(path, data={"csrf_token": client.csrf_token("/sign-in")})
        assert response.status_code == 404, path
        assert "link" in response.text
    assert choices(stack) == {}
    assert unsubscribed_messages(stack) == []


def test_a_preferences_token_is_no_unsubscribe_token(client, stack):
    token = preferences_path(stack).rpartition("/")[2]
    response = stranger(stack).post(
        f"/notifications/unsubscribe/{token}",
        data=ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 404
    assert "This is not an unsubscribe link Hearth made" in response.text
    assert choices(stack) == {}


# --- End to end: a mail's own link, clicked by a mail provider ------------------------------

# On the first Thursday two weeks or more from today in the community's zone: an announcement
# goes out only until the event is over.
THURSDAY = thursday().date()
LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "description": "Bring a case you are stuck on.",
    "starts_at": f"{THURSDAY}T12:00",
    "ends_at": f"{THURSDAY}T13:00",
    "location": "Juniper Café",
}


def mail_to(inbox: Handler, address: str) -> list[EmailMessage]:
    return [r.message for r in inbox.received if r.rcpt_tos == [address]]


@BOTH_DATABASES
def test_one_click_from_an_announcement_drops_the_next_one(
    client, stack, organizer, community, schedule, inbox
):
    member = {"email": ANA, "name": "Ana"}
    added = client.post(
        f"/api/communities/{community['slug']}/members", json=member, headers=organizer
    )
    assert added.status_code == 201, added.text
    stack.flush()
    schedule()
    inbox.wait_for(2)  # Ana's announcement and the organizer's
    time.sleep(0.2)
    [announcement] = mail_to(inbox, ANA)
    assert announcement["List-Unsubscribe-Post"] == ONE_CLICK
    url = announcement["List-Unsubscribe"].removeprefix("<").removesuffix(">")
    assert url.startswith(f"{stack.config.base_url}/notifications/unsubscribe/")

    # The next announcement is already queued when Ana's mail provider posts the one click.
    with notifications(stack).begin() as uow:
        [first] = [d for d in uow.deliveries(EMAIL) if d["recipient"] == ANA]
        assert first["category"] == ANNOUNCEMENTS
        uow.queue_delivery(
            NewDelivery(
                "announce:next:ana:email",
                channel=EMAIL,
                kind=first["kind"],
                recipient=ANA,
                address=ANA,
                category=ANNOUNCEMENTS,
                context=first["context"],
            ),
            datetime.now(UTC),
        )
    response = stranger(stack).post(
        urlsplit(url).path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    stack.flush()

    with notifications(stack).begin() as uow:
        [held] = [d for d in uow.deliveries(EMAIL) if d["key"] == "announce:next:ana:email"]
    assert held["state"] == DROPPED
    assert held["last_error"] == "unsubscribed from announcements by email"
    time.sleep(0.2)
    assert len(mail_to(inbox, ANA)) == 1
    [message] = unsubscribed_messages(stack)
    assert message["payload"] == {"address": ANA, "channel": EMAIL, "category": ANNOUNCEMENTS}
