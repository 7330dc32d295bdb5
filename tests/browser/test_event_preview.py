"""The event form's preview in a real browser, at a desktop and a phone size: an organizer asks
for a series' next dates, sees them above the buttons with the form as typed, saves with Enter,
and finds the same dates on the edit form. axe-core checks every page (see conftest.py)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from browsing import Site, fill_weekly_consult_group, new_community
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Each size gets its own community: the server, and so every slug, lives for the whole run.
COMMUNITY = {"desktop": "Preview Consult Circle", "phone": "Preview Peer Circle"}


def test_an_organizer_previews_a_series_then_saves_it_with_enter(site: Site):
    site.sign_in()
    page = site.page
    new_community(site, COMMUNITY[site.size])

    page.get_by_role("link", name="Schedule an event").click()
    expect(page.get_by_role("heading", name="Schedule an event")).to_be_visible()
    site.check()
    first = fill_weekly_consult_group(page, times=10)
    page.get_by_role("button", name="Show the next dates").click()

    preview = page.get_by_role("region", name="Next dates")
    expect(preview).to_be_visible()
    site.check(screenshot="event-preview")
    assert page.url.endswith("#preview")  # the page opens at the preview, by the buttons
    dates = preview.locator("li")
    expect(dates).to_have_count(6)
    for n in (0, 5):
        day = first + timedelta(weeks=n)
        expect(dates.nth(n)).to_contain_text(f"{day:%a} {day.day} {day:%b}")
    expect(page.get_by_label("Title")).to_have_value("Thursday consult group")
    ends = page.get_by_role("group", name="A series ends")
    expect(ends.get_by_label("Number of times", exact=True)).to_have_value("10")

    # Enter in a text field saves: the preview is the form's second button, not its first.
    page.get_by_label("Title").press("Enter")
    expect(page.get_by_role("heading", name="Thursday consult group", level=1)).to_be_visible()
    site.check()
    shown = page.locator("ul.occurrences li time").all_inner_texts()

    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Edit"))).to_be_visible()
    site.check()
    on_edit = page.get_by_role("region", name="Next dates").locator("li time")
    assert on_edit.all_inner_texts() == shown

    # A custom rule is said as it is: one long word, which must not widen a phone's page.
    repeats = page.get_by_role("group", name="Repeats")
    repeats.get_by_label("Custom rule (RRULE)").check()
    rule = "FREQ=MONTHLY;BYDAY=TH;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;WKST=MO"
    repeats.get_by_label("Rule (for “custom”)").fill(rule)
    page.get_by_role("button", name="Show the next dates").click()
    preview = page.get_by_role("region", name="Next dates")
    expect(preview).to_contain_text(f"Repeats by the rule {rule}")
    expect(preview.locator("li")).to_have_count(6)
    site.check()
