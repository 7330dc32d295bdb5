"""The organizer's first journeys of PRODUCT.md in a real browser, at a desktop and a phone size:
signing in from the mailbox, starting a community, fixing a form, scheduling a peer lunch.

Controls are found by their role and label, as assistive technology finds them, so a missing
label fails the journey; axe-core checks every page it lands on (see conftest.py)."""

from __future__ import annotations

import re

import pytest
from browsing import ORGANIZER_NAME, Site, fill_peer_lunch, fill_weekly_consult_group
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Each size gets its own communities: the server, and so every slug, lives for the whole run.
COMMUNITY = {"desktop": "Lakeside Clinicians", "phone": "Hillside Counselors"}
LUNCH_COMMUNITY = {"desktop": "Northside Peer Network", "phone": "Eastside Solo Practitioners"}
CONSULT_COMMUNITY = {"desktop": "Uptown Consult Circle", "phone": "Midtown Consult Circle"}
# A required field's label ends in an asterisk, hidden from screen readers but not from its text.
REQUIRED_NAME = re.compile(r"^Name\b")


def start_community(site: Site, name: str, screenshots: bool = False) -> None:
    """From the home page, through the new-community form, to the community's page."""
    page = site.page
    site.visit("/")
    page.get_by_role("link", name="Start a community").click()
    expect(page.get_by_role("heading", name="Start a community")).to_be_visible()
    site.check(screenshot="community-new" if screenshots else None)
    page.get_by_label(REQUIRED_NAME).fill(name)
    page.get_by_label("Time zone").select_option("America/Chicago")
    page.get_by_label("Description (optional)").fill(
        "Therapists in private practice who meet to eat, talk shop and not feel alone."
    )
    page.get_by_label("Private", exact=True).check()
    page.get_by_role("button", name="Create the community").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def test_an_organizer_signs_in_through_the_link_in_the_dev_mailbox(site: Site):
    site.sign_in(screenshots=True)

    page = site.page
    expect(page.get_by_role("heading", name=f"Hello, {ORGANIZER_NAME}")).to_be_visible()
    expect(page.get_by_role("link", name="Start a community")).to_be_visible()
    site.check(screenshot="home")


def test_an_organizer_starts_a_community_and_sees_how_to_subscribe(site: Site):
    name = COMMUNITY[site.size]
    site.sign_in()
    start_community(site, name, screenshots=True)

    page = site.page
    expect(page.get_by_role("status")).to_contain_text(f"{name} is ready")
    expect(page.get_by_text("America/Chicago")).to_be_visible()
    subscribe = page.get_by_role("region", name=f"Subscribe to {name}'s calendar")
    expect(subscribe.get_by_role("link", name="Subscribe in my calendar app")).to_have_attribute(
        "href", re.compile(r"^webcal://")
    )
    address = subscribe.get_by_label("Calendar address")
    expect(address).to_have_value(re.compile(r"^https?://.*/feed\.ics"))
    subscribe.get_by_role("button", name="Copy the calendar address").click()
    expect(subscribe.get_by_text("Copied.")).to_be_visible()
    subscribe.get_by_text("How to add it to Google, Outlook or Apple Calendar").click()
    expect(subscribe.get_by_text("Subscribe from web")).to_be_visible()
    expect(page.get_by_role("heading", name="Invite a member")).to_be_visible()
    site.check(screenshot="community")


def test_a_form_with_errors_shows_each_next_to_its_field_and_keeps_the_input(site: Site):
    site.sign_in()
    page = site.page
    site.visit("/communities/new")
    page.get_by_label("Web address (optional)").fill("Not A Web Address!")
    page.get_by_label("Description (optional)").fill("Kept while the rest is fixed.")
    page.get_by_role("button", name="Create the community").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Please fix 2 things")
    site.check(screenshot="form-errors")
    expect(page).to_have_title(re.compile(r"^Error: "))

    # Each error is shown by its field and read out with it, and the summary links to it.
    name = page.get_by_label(REQUIRED_NAME)
    slug = page.get_by_label("Web address (optional)")
    for control in (name, slug):
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(control).to_have_accessible_description(re.compile(r"Error: \S"))
    expect(slug).to_have_value("Not A Web Address!")
    expect(page.get_by_label("Description (optional)")).to_have_value(
        "Kept while the rest is fixed."
    )
    summary.get_by_role("link", name=re.compile(r"^Name")).click()
    expect(name).to_be_focused()

    # Fixed, the same form goes through.
    name.fill("Riverbend Consult Circle")
    slug.fill("riverbend-" + site.size)
    page.get_by_role("button", name="Create the community").click()
    expect(page.get_by_role("heading", name="Riverbend Consult Circle", level=1)).to_be_visible()
    site.check()


def test_an_organizer_schedules_a_peer_lunch_with_three_seats(site: Site):
    site.sign_in()
    community = LUNCH_COMMUNITY[site.size]
    start_community(site, community)
    site.check()

    page = site.page
    page.get_by_role("link", name="Schedule an event").click()
    expect(page.get_by_role("heading", name="Schedule an event")).to_be_visible()
    site.check(screenshot="event-form")

    fill_peer_lunch(page, "First-Thursday peer lunch", "Juniper Café, 14 Mill Street")
    page.get_by_role("button", name="Schedule the event").click()

    expect(page.get_by_role("heading", name="First-Thursday peer lunch")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Scheduled First-Thursday peer lunch")
    expect(page.get_by_text("Peer lunch", exact=True)).to_be_visible()
    expect(page.get_by_text("3 people", exact=True)).to_be_visible()
    expect(page.get_by_text("Juniper Café, 14 Mill Street")).to_be_visible()
    expect(page.get_by_role("heading", name="Are you coming?")).to_be_visible()
    site.check(screenshot="event")

    page.get_by_role("link", name=community, exact=True).click()
    expect(page.get_by_role("link", name="First-Thursday peer lunch")).to_be_visible()
    site.check()


def test_an_organizer_invites_a_member_and_schedules_a_weekly_consult_group(site: Site):
    site.sign_in()
    community = CONSULT_COMMUNITY[site.size]
    start_community(site, community)
    site.check()

    page = site.page
    invite = page.locator("form").filter(has=page.get_by_role("button", name="Invite"))
    invite.get_by_label(re.compile(r"^Email\b")).fill(f"noor-{site.size}@example.org")
    invite.get_by_label(REQUIRED_NAME).fill("Noor Haddad")
    invite.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("cell", name="Noor Haddad")).to_be_visible()
    site.check()

    page.get_by_role("link", name="Schedule an event").click()
    expect(page.get_by_role("heading", name="Schedule an event")).to_be_visible()
    site.check()
    first = fill_weekly_consult_group(page, times=6)
    page.get_by_role("button", name="Schedule the event").click()

    expect(page.get_by_role("heading", name="Thursday consult group")).to_be_visible()
    site.check()
    # The page lists the series' dates: six Thursdays, a week apart.
    dates = page.locator("ul.occurrences li")
    expect(dates).to_have_count(6)
    expect(dates.first).to_contain_text(f"{first:%a}")
