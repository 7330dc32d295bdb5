"""The menu's way to a signed-in member's preferences, `/notifications/me/preferences`: signed
out, it goes through sign-in and comes back; signed in, it leads to the member's own link, found
by id in what the events service has told this service; before that message has arrived, to the
address the sign-in link proved, or, for an older session without it, to a page that says to
try again. Saving there says what becomes of texts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.sessions import SecureCookieSessionInterface

from hearth.stack import Stack
from services.notifications import store as stored
from services.notifications.model import CHOICES, SMS, TEXT_OPT_IN, wanted_by_default
from services.notifications.store import Store
from shared.links import preferences_url
from shared.testing import Browser
from shared.web import SESSION_COOKIE

MINE = "/notifications/me/preferences"
ANA = "ana@example.org"
PHONE = "+14155550142"


@pytest.fixture
def member(client: Browser, stack: Stack, organizer: dict[str, str], community: dict[str, Any]):
    """Ana, added to the organizer's community; the notifications service has not heard yet."""
    added = client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": ANA, "name": "Ana"},
        headers=organizer,
    )
    assert added.status_code == 201, added.text
    body = added.json
    assert isinstance(body, dict)
    return body


def preferences_path(stack: Stack, address: str = ANA) -> str:
    return preferences_url(stack.config.secret_key, "", address)


def with_session(client: Browser, stack: Stack, **values: str) -> Browser:
    """The client holding a session cookie signed as the events service signs it."""
    app = stack.app("notifications")
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    client.set_cookie(SESSION_COOKIE, serializer.dumps(values), path="/")
    return client


def knows(stack: Stack, member_id: str) -> bool:
    service = stack.services["notifications"]
    with Store(service.engine, service.outbox).begin() as uow:
        return uow.member(member_id) is not None


def every_box() -> dict[str, str]:
    return {
        f"{channel}_{category}": "1"
        for channel, categories in CHOICES.items()
        for category in categories
        if wanted_by_default(channel, category)
    }


def notices(page: str) -> list[str]:
    """The page's status messages (what `flash` said), in order."""
    found = re.search(r'<div class="notice" role="status">(.*?)</div>', page, re.S)
    return re.findall(r"<p>(.*?)</p>", found.group(1), re.S) if found else []


# --- Signed out -----------------------------------------------------------------------------


def test_signed_out_it_asks_to_sign_in_and_comes_back(client, stack, member, sign_in):
    response = client.get(MINE)

    assert response.status_code == 303
    assert response.headers["Location"] == "/sign-in?next=/notifications/me/preferences"
    # The events service's sign-in page keeps that way back, and signing in takes it.
    page = client.get(response.headers["Location"])
    assert '<input type="hidden" name="next" value="/notifications/me/preferences">' in page.text
    signed_in = sign_in(client, ANA, next_url=MINE)
    assert signed_in.headers["Location"] == MINE


def test_a_session_without_a_member_is_signed_out(client, stack):
    with_session(client, stack, email=ANA)
    response = client.get(MINE)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in?")


# --- Signed in ------------------------------------------------------------------------------


def test_a_known_member_is_led_to_their_own_preferences(client, stack, member, sign_in):
    stack.flush()
    assert knows(stack, member["id"])
    sign_in(client, ANA)

    response = client.get(MINE)

    assert response.status_code == 303
    assert response.headers["Location"] == preferences_path(stack)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert f"Choices for <strong>{ANA}</strong>" in page.text
    assert 'href="/notifications/me/preferences"' in page.text, "the menu, signed in"


def test_the_address_comes_from_the_member_not_the_session(client, stack, member):
    """A session older than the address in it, or one whose address has since changed: the
    member's own address, as the events service last announced it, wins."""
    stack.flush()
    with_session(client, stack, member_id=member["id"], email="old@example.org")
    response = client.get(MINE)
    assert response.headers["Location"] == preferences_path(stack, ANA)

    with_session(client, stack, member_id=member["id"])  # before sessions kept an address
    assert client.get(MINE).headers["Location"] == preferences_path(stack, ANA)


def test_before_the_member_is_known_the_proven_address_will_do(client, stack, member, sign_in):
    sign_in(client, ANA)
    assert not knows(stack, member["id"]), "the events service's message has not arrived"

    response = client.get(MINE)

    assert response.status_code == 303
    assert response.headers["Location"] == preferences_path(stack)


def test_an_older_session_of_an_unknown_member_is_asked_to_try_again(client, stack, member):
    with_session(client, stack, member_id=member["id"])

    page = client.get(MINE)

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store", "trying again must ask again"
    assert "<h1>Your preferences are nearly ready</h1>" in page.text
    assert '<a href="/notifications/me/preferences">Try again</a> in a moment' in page.text
    assert '<nav aria-label="Main">' in page.text, "in the site's layout"
    assert "Sign out" in page.text

    # Once the message has arrived, the same link works.
    stack.flush()
    assert client.get(MINE).headers["Location"] == preferences_path(stack)


# --- Saving, and what it says about texts ---------------------------------------------------


def text_deliveries(stack: Stack) -> list[dict[str, Any]]:
    service = stack.services["notifications"]
    with Store(service.engine, service.outbox).begin() as uow:
        return uow.deliveries(SMS)


def consent(stack: Stack, phone: str = PHONE) -> str | None:
    service = stack.services["notifications"]
    with Store(service.engine, service.outbox).begin() as uow:
        return stored.sms_state(uow, phone)


def test_text_me_says_a_confirmation_is_on_its_way_once(
    client: Browser, stack: Stack, member: dict[str, Any], sign_in: Callable[..., Any]
):
    stack.flush()
    sign_in(client, ANA)
    path = client.get(MINE).headers["Location"]
    form = {**every_box(), "phone": "(415) 555-0142", "text_me": "1"}

    assert client.submit(path, form).status_code == 303

    page = client.get(path)
    assert notices(page.text) == [
        "Saved.",
        f"Texts to {PHONE} are on: a text saying so is on its way. If it does not come and you"
        " once replied STOP to Hearth, reply START to that text.",
    ]
    [delivery] = text_deliveries(stack)
    assert (delivery["kind"], delivery["recipient"]) == (TEXT_OPT_IN, PHONE)
    assert consent(stack) == stored.OPTED_IN

    # Saved again, still opted in: no second text, and none promised.
    assert client.submit(path, form).status_code == 303
    assert notices(client.get(path).text) == ["Saved."]
    assert len(text_deliveries(stack)) == 1

    # Unticked: the number stops getting texts, and the page says which.
    assert client.submit(path, {**every_box(), "phone": PHONE}).status_code == 303
    assert notices(client.get(path).text) == ["Saved.", f"Hearth sends no more texts to {PHONE}."]
    assert consent(stack) == stored.OPTED_OUT
    assert notices(client.get(path).text) == [], "said once"
