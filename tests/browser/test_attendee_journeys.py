"""Attendees' journeys of PRODUCT.md in a real browser, at a desktop and a phone size: four people
answer a peer lunch of three seats from its page, each on their own device and without an
account; the fourth waits, and gets the seat the first gives up."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from browsing import Site, fill_peer_lunch, new_community
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

COMMUNITY = {"desktop": "Westside Peer Lunches", "phone": "Southside Peer Lunches"}
PEOPLE = ["Amara Osei", "Ben Reyes", "Chloe Park", "Dev Mehta"]


def schedule_public_lunch(site: Site, community: str) -> str:
    """As its organizer: a public community, and a public peer lunch with 3 seats; the lunch's
    address."""
    page = site.page
    site.sign_in()
    new_community(site, community, public=True)  # its public events are open to anyone
    page.get_by_role("link", name="Schedule an event").click()
    expect(page.get_by_role("heading", name="Schedule an event")).to_be_visible()
    site.check()
    fill_peer_lunch(page, "Open peer lunch")
    page.get_by_role("group", name="Who can see it").get_by_label("Public", exact=True).check()
    page.get_by_role("button", name="Schedule the event").click()
    expect(page.get_by_role("heading", name="Open peer lunch")).to_be_visible()
    site.check()
    return page.url


def answer_yes(someone: Site, event_url: str, name: str) -> None:
    page = someone.page
    someone.visit(event_url)
    form = page.locator("form.rsvp")
    form.get_by_label("Yes, I'll come").check()
    form.get_by_label(re.compile(r"^Your name\b")).fill(name)
    form.get_by_label(re.compile(r"^Email\b")).fill(name.split()[0].lower() + "@example.org")
    form.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("heading", name="Change your answer")).to_be_visible()
    someone.check()


def test_the_fourth_person_waits_and_gets_the_seat_the_first_gives_up(
    site: Site, newcomer: Callable[[], Site]
):
    event_url = schedule_public_lunch(site, COMMUNITY[site.size])
    people = {name: newcomer() for name in PEOPLE}
    for name, someone in people.items():
        answer_yes(someone, event_url, name)

    status = {name: someone.page.locator(".card[role=status]") for name, someone in people.items()}
    for name in PEOPLE[:3]:
        expect(status[name]).to_contain_text("You're going.")
    expect(status["Dev Mehta"]).to_contain_text("You're number 1 on the waitlist")

    # Amara can't come after all: her seat goes to Dev, who sees it on his page.
    amara = people["Amara Osei"]
    amara.page.get_by_role("button", name="Cancel my RSVP").click()
    expect(status["Amara Osei"]).not_to_contain_text("You're going.")
    amara.check()
    dev = people["Dev Mehta"]
    dev.page.reload()
    expect(status["Dev Mehta"]).to_contain_text("You're going.")
    dev.check()

    # The organizer's list says the same.
    site.visit(event_url)
    expect(site.page.get_by_text("3 going", exact=False)).to_be_visible()
