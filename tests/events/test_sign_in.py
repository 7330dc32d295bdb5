"""Sign-in by emailed link: single use, 15 minutes, stored hashed, safe from link scanners."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask.sessions import SecureCookieSessionInterface

from services.events import store as events_store
from shared.links import sign_in_url
from shared.web import SESSION_COOKIE

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def sign_in_links(stack):
    with stack.services["events"].engine.connect() as conn:
        bodies = conn.execute(
            sa.select(events_store.outbox.c.body).where(
                events_store.outbox.c.type == "events.sign_in_requested"
            )
        ).scalars()
        return [
            sign_in_url(
                stack.config.secret_key, "http://hearth.test", json.loads(b)["payload"]["link_id"]
            )
            for b in bodies
        ]


def request_link(client, stack, email="dana@example.org", next_url=None):
    data = {"email": email, **({"next": next_url} if next_url else {})}
    response = client.submit("/sign-in", data)
    assert response.status_code == 200
    assert "Check your email" in response.text
    return sign_in_links(stack)[-1] if sign_in_links(stack) else None


def stack_link_id(stack):
    with stack.services["events"].engine.connect() as conn:
        return conn.execute(sa.select(events_store.sign_in_links.c.id)).scalars().first()


def path_of(url):
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


@pytest.fixture
def member(stack, organizer):
    """Dana exists (the organizer fixture created her)."""
    return "dana@example.org"


def test_a_link_signs_in_once(client, stack, member):
    url = request_link(client, stack)
    path = path_of(url)
    # Opening the link (as a mail scanner would) shows a button and uses nothing up.
    for _ in range(2):
        page = client.get(path)
        assert page.status_code == 200
        assert "Sign in to Hearth" in page.text
    signed_in = client.submit(path, {})
    assert signed_in.status_code == 302
    assert "Hello, Dana Okafor" in client.get("/").text
    # The same link again, even in a fresh browser, is refused.
    client.post("/sign-out", data={"csrf_token": client.csrf_token("/")})
    again = client.submit(path, {}, form_page="/sign-in")
    assert again.status_code == 410
    assert "expired" in again.text


def test_an_expired_link_is_refused(client, stack, member):
    path = path_of(request_link(client, stack))
    with stack.services["events"].engine.begin() as conn:
        conn.execute(
            events_store.sign_in_links.update().values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    assert "This link has expired" in client.get(path).text
    assert client.submit(path, {}, form_page="/sign-in").status_code == 410


def test_links_live_fifteen_minutes_and_no_usable_token_is_stored(client, stack, member):
    url = request_link(client, stack)
    token = url.rsplit("/", 1)[1]
    engine = stack.services["events"].engine
    with engine.connect() as conn:
        row = conn.execute(sa.select(events_store.sign_in_links)).one()
        everything = [
            str(tuple(found))
            for table in events_store.meta.sorted_tables
            for found in conn.execute(sa.select(table))
        ]
    # Not in the links, not in the outbox, nowhere: a copy of the database signs no one in.
    assert not [text for text in everything if token in text]
    lifetime = row.expires_at - datetime.now(UTC)
    assert timedelta(minutes=14) < lifetime <= timedelta(minutes=15)


def test_a_token_made_with_another_key_is_refused(client, stack, member):
    request_link(client, stack)
    forged = sign_in_url("not-the-key", "", stack_link_id(stack))
    assert "This link has expired" in client.get(forged).text
    assert client.submit(forged, {}, form_page="/sign-in").status_code == 410


def test_a_member_gets_a_few_live_links_at_most(client, stack, member):
    for _ in range(5):
        request_link(client, stack)
    assert len(sign_in_links(stack)) == 3


def test_unknown_addresses_get_the_same_answer_and_no_link(client, stack, member):
    assert request_link(client, stack, email="stranger@example.org") is None
    assert sign_in_links(stack) == []


def test_an_invalid_address_is_explained(client):
    response = client.submit("/sign-in", {"email": "dana at example"})
    assert response.status_code == 422
    error = r'id="e-email"[^>]*>(<span[^>]*>Error: </span>)?Give the email address'
    assert re.search(error, response.text)
    assert 'value="dana at example"' in response.text


def test_after_sign_in_only_same_site_next_pages_are_followed(client, stack, member):
    for elsewhere in ("https://evil.example/steal", "/\\evil.example", "/\t/evil.example"):
        path = path_of(request_link(client, stack, next_url=elsewhere))
        assert client.submit(path, {}).headers["Location"] == "/", elsewhere
        client.post("/sign-out", data={"csrf_token": client.csrf_token("/")})
    path = path_of(request_link(client, stack, next_url="/c/somewhere"))
    assert client.submit(path, {}).headers["Location"] == "/c/somewhere"


def test_one_session_cookie_serves_all_three_services(client, stack, member):
    client.submit(path_of(request_link(client, stack)), {})
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert cookie.path == "/"
    for name in ("events", "rsvps", "notifications"):
        app = stack.app(name)
        serializer = SecureCookieSessionInterface().get_signing_serializer(app)
        assert serializer.loads(cookie.value)["member_id"]


def test_forms_without_a_csrf_token_are_refused(client, stack, member):
    response = client.post("/sign-in", data={"email": member})
    assert response.status_code == 400
    assert sign_in_links(stack) == []
