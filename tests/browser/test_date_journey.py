"""Journey 10 of PRODUCT.md in a real browser, for one date: an organizer moves the second date of
a weekly consult group from the list of its dates, fixing a mistake on the way. Every page is
checked with axe-core at a desktop and a phone size (see conftest.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from browsing import Site
from playwright.sync_api import expect

from shared.testing import local, thursday

pytestmark = pytest.mark.browser

# Each size gets its own community: the server lives for the whole run.
COMMUNITY = {"desktop": "Harbor Consult Circle", "phone": "Valley Consult Circle"}
TITLE = "Thursday consult group"


def test_an_organizer_moves_one_date_of_a_weekly_consult_group(site: Site):
    site.sign_in()
    page = site.page
    site.visit("/")
    page.get_by_role("link", name="Start a community").click()
    expect(page.get_by_role("heading", name="Start a community")).to_be_visible()
    site.check()
    page.get_by_label(re.compile(r"^Name\b")).fill(COMMUNITY[site.size])
    page.get_by_label("Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Create the community").click()
    expect(page.get_by_role("heading", name=COMMUNITY[site.size], level=1)).to_be_visible()
    site.check()

    first = thursday()
    page.get_by_role("link", name="Schedule an event").click()
    expect(page.get_by_role("heading", name="Schedule an event")).to_be_visible()
    site.check()
    page.get_by_label("Kind of event").select_option(label="Consult group")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label(re.compile(r"^Starts\b")).fill(local(first))
    page.get_by_label(re.compile(r"^Ends\b")).fill(local(first + timedelta(hours=1)))
    page.get_by_role("group", name="Repeats").get_by_label(re.compile(r"^Every week")).check()
    page.get_by_label("Location (optional)").fill("Room 4")
    page.get_by_role("button", name="Schedule the event").click()
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    site.check()

    # The dates of the series, each with a link that says which date it changes.
    site.visit(page.url + "/dates")
    expect(page.get_by_role("heading", name=f"Change one date of “{TITLE}”")).to_be_visible()
    second = first + timedelta(weeks=1)
    page.get_by_role("link", name=re.compile(rf"^Change \w+ {second.day} ")).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Change one date: "))).to_be_visible()
    site.check()
    expect(page.get_by_label("Title")).to_have_value(TITLE)
    expect(page.get_by_label("Location (optional)")).to_have_value("Room 4")

    # Moved to the Friday evening, but the end forgotten: the form says so by the field.
    friday = (second + timedelta(days=1)).replace(hour=18)
    page.get_by_label(re.compile(r"^Starts\b")).fill(local(friday))
    page.get_by_label("Location (optional)").fill("Library, 2nd floor")
    page.get_by_role("button", name="Save this date").click()
    expect(page.get_by_role("alert")).to_contain_text("Please fix 1 thing")
    site.check()
    expect(page).to_have_title(re.compile(r"^Error: "))
    ends = page.get_by_label(re.compile(r"^Ends\b"))
    expect(ends).to_have_attribute("aria-invalid", "true")
    expect(ends).to_have_accessible_description(re.compile(r"Error: this date must end after"))
    expect(page.get_by_label("Location (optional)")).to_have_value("Library, 2nd floor")

    ends.fill(local(friday + timedelta(hours=1)))
    page.get_by_role("button", name="Save this date").click()
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile(rf"^Moved {TITLE} on \w+ {second.day} \w+.* to \w+ {friday.day} \w+.*18:00")
    )
    next_dates = page.locator("ul.occurrences")
    expect(next_dates).to_contain_text("Moved")
    site.check()
