"""My events in a real browser, at a desktop and a phone size: an organizer answers her own lunch
from its page, finds it on My events from the menu, and replaces her calendar address there."""

from __future__ import annotations

import pytest
from browsing import Site, fill_peer_lunch, new_community
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

COMMUNITY = {"desktop": "Northside Consult Circle", "phone": "Eastside Consult Circle"}


def test_my_events_lists_what_i_answered_and_holds_my_calendar_address(site: Site) -> None:
    page = site.page
    title = f"Lunch on My events ({site.size})"
    site.sign_in()
    new_community(site, COMMUNITY[site.size])
    page.get_by_role("link", name="Schedule an event").click()
    expect(page.get_by_role("heading", name="Schedule an event")).to_be_visible()
    fill_peer_lunch(page, title)
    page.get_by_role("button", name="Schedule the event").click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    site.check()

    form = page.locator("form.rsvp")
    form.get_by_label("Yes, I'll come").check()
    form.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("heading", name="Change your answer")).to_be_visible()
    site.check()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My events").click()
    expect(page.get_by_role("heading", name="My events", level=1)).to_be_visible()
    site.check(screenshot="my-events")
    item = page.locator("ul.my-events li").filter(has_text=title)
    expect(item).to_contain_text("You're going")
    expect(item).to_contain_text(COMMUNITY[site.size])

    address = page.get_by_label("Calendar address")
    before = address.input_value()
    page.get_by_role("button", name="Get a new address").click()
    expect(page.get_by_role("status").filter(has_text="You have a new address")).to_be_visible()
    site.check()
    assert address.input_value() != before
    assert page.url.endswith("#calendar")
