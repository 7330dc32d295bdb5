"""PRODUCT.md's journeys 4 and 5 end to end, as people live them: on PostgreSQL and RabbitMQ,
with every service's worker consuming in the background, members signed in by their emailed link
and everyone else answering with no account.

The emails and texts of these journeys (the announcement, "you're in" when promoted) are the
notifications service's; here the facts they are sent from must reach the broker, each once.
"""

import html
import json
import re
import time
from collections.abc import Callable, Iterator

import kombu
import pytest

from shared.testing import Browser, thursday

pytestmark = [
    pytest.mark.broker,
    pytest.mark.postgres,
    pytest.mark.parametrize(("database", "bus_url"), [("postgres", "rabbitmq")], indirect=True),
]

# The event is on the first Thursday two weeks or more from today in the community's zone: the
# rsvps service takes answers only for what has not begun.
THURSDAY = thursday().date()
EVENT = {
    "kind": "consult_group",
    "title": "Trauma consult group",
    "starts_at": f"{THURSDAY}T18:00",
    "ends_at": f"{THURSDAY}T19:30",
    "capacity": 3,
    "guest_limit": 1,
    "visibility": "community",
}


def text(page) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for the workers to carry the messages through."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.fixture
def running(stack):
    """The stack with its workers relaying outboxes and consuming queues, as `hearth worker`."""
    stack.start_workers()
    yield stack
    stack.stop()


@pytest.fixture
def watch(stack) -> Iterator[Callable[[], list[dict]]]:
    """What the rsvps service tells the world, read off the exchange by a queue of our own
    (exclusive: the broker drops it when the test ends)."""
    with kombu.Connection(stack.config.amqp_url) as connection:
        channel = connection.channel()
        exchange = kombu.Exchange(stack.config.exchange, type="topic", durable=True)
        queue = kombu.Queue(
            f"{stack.config.queue_prefix}journey.watch",
            exchange,
            routing_key="rsvps.#",
            exclusive=True,
        )(channel)
        queue.declare()
        seen: list[dict] = []

        def messages() -> list[dict]:
            while (message := queue.get(no_ack=True)) is not None:
                seen.append(json.loads(message.body))
            return seen

        yield messages


@pytest.fixture
def organizer_setup(client, organizer, community):
    def invite(email: str, name: str) -> None:
        response = client.post(
            f"/api/communities/{community['slug']}/members",
            json={"email": email, "name": name, "role": "member"},
            headers=organizer,
        )
        assert response.status_code == 201, response.text

    def schedule(**fields) -> dict:
        response = client.post(
            f"/api/communities/{community['slug']}/events",
            json={**EVENT, **fields},
            headers=organizer,
        )
        assert response.status_code == 201, response.text
        return response.json

    return invite, schedule


def answer_page(event: dict) -> str:
    return f"/rsvps/events/{event['id']}/answer"


def test_journey_4_members_and_guests_answer_from_the_page_or_the_email(
    running, watch, organizer_setup, sign_in
):
    stack = running
    invite, schedule = organizer_setup
    invite("sam@example.org", "Sam Rivera")
    event = schedule()
    path = answer_page(event)
    eventually(lambda: Browser(stack.wsgi()).get(path).status_code == 200, "rsvps knows the event")

    # Sam, a member, answers on the event page: signed in, the form knows who Sam is.
    sam = Browser(stack.wsgi())
    sign_in(sam, "sam@example.org")
    page = sam.get(f"/events/{event['id']}")
    assert 'value="Sam Rivera"' in page.text and 'value="sam@example.org"' in page.text
    done = sam.submit(
        path,
        {"name": "Sam Rivera", "email": "sam@example.org", "response": "yes", "guests": "1"},
        form_page=f"/events/{event['id']}",
    )
    assert done.status_code == 302
    assert "You're going with 1 guest." in text(sam.get(done.headers["Location"]))

    # Priya follows the "Maybe" button of the announcement email: no account, no sign-in.
    priya = Browser(stack.wsgi())
    from_email = f"{path}?response=maybe"
    assert 'value="maybe" checked' in priya.get(from_email).text
    done = priya.submit(
        path,
        {"name": "Priya Shah", "email": "priya@example.org", "response": "maybe"},
        form_page=from_email,
    )
    manage = done.headers["Location"]
    assert "You said maybe." in text(priya.get(manage))

    # Lee can't come, and says so from the "No" button.
    lee = Browser(stack.wsgi())
    lee.submit(path, {"name": "Lee", "email": "lee@example.org", "response": "no"}, form_page=path)

    # Priya makes up her mind on her manage page.
    assert priya.submit(manage, {"response": "yes", "name": "Priya Shah"}).status_code == 302

    # Everyone sees the counts, never the names, once the messages have flowed.
    eventually(
        lambda: "3 going" in text(sam.get(f"/events/{event['id']}")), "the event page counts 3"
    )
    page = text(sam.get(f"/events/{event['id']}"))
    assert "Priya" not in page and "Lee" not in page
    facts = [(m["type"], m["payload"]["rsvp"]["email"]) for m in watch()]
    assert facts == [
        ("rsvps.rsvp_confirmed", "sam@example.org"),
        ("rsvps.rsvp_marked_maybe", "priya@example.org"),
        ("rsvps.rsvp_declined", "lee@example.org"),
        ("rsvps.rsvp_confirmed", "priya@example.org"),
    ]
    assert all(m["payload"]["rsvp"]["manage_url"].startswith("http") for m in watch())


def test_journey_5_the_waitlist_moves_up_in_order_when_seats_free_up(
    running, watch, client, organizer, organizer_setup
):
    stack = running
    _, schedule = organizer_setup
    event = schedule()
    path = answer_page(event)
    eventually(lambda: client.get(path).status_code == 200, "rsvps knows the event")

    people = {}
    for who, guests in (("ana", 1), ("ben", 0), ("cy", 0), ("dee", 1)):
        browser = Browser(stack.wsgi())
        data = {"name": who.title(), "email": f"{who}@example.org", "response": "yes"}
        done = browser.submit(path, {**data, "guests": str(guests)}, form_page=path)
        people[who] = (browser, done.headers["Location"])

    def status(who: str) -> str:
        browser, manage = people[who]
        return text(browser.get(manage))

    # Three seats: Ana and her guest, then Ben. Cy and Dee (with a guest) wait, in that order.
    assert "You're going with 1 guest." in status("ana")
    assert "You're going." in status("ben")
    assert "You're number 1 on the waitlist." in status("cy")
    assert "You're number 2 on the waitlist with 1 guest." in status("dee")

    # Ben drops out: his seat goes to Cy at once. Dee's party of two does not fit the one seat.
    browser, manage = people["ben"]
    assert browser.submit(f"{manage}/cancel", {}, form_page=manage).status_code == 302
    assert "You're going." in status("cy")
    assert "You're number 1 on the waitlist with 1 guest." in status("dee")

    # Ana comes alone after all: one seat frees, still not enough for Dee's party.
    browser, manage = people["ana"]
    assert browser.submit(manage, {"response": "yes", "guests": "0", "name": "Ana"}).status_code
    assert "You're number 1 on the waitlist with 1 guest." in status("dee")

    # The organizer adds a seat: the rsvps service learns it from the event's message and
    # seats Dee's party, with nobody confirmed turned away.
    raised = client.patch(f"/api/events/{event['id']}", json={"capacity": 4}, headers=organizer)
    assert raised.status_code == 200, raised.text
    eventually(lambda: "You're going with 1 guest." in status("dee"), "Dee is promoted")

    eventually(
        lambda: (
            client.get(f"/api/events/{event['id']}", headers=organizer).json["attendance"][
                "confirmed_seats"
            ]
            == 4
        ),
        "the events service counts 4 seats",
    )
    promoted = [m["payload"]["rsvp"]["email"] for m in watch() if m["type"].endswith("promoted")]
    assert promoted == ["cy@example.org", "dee@example.org"]  # each once, in line order
