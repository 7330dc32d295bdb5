"""A member's preferences journey of PRODUCT.md in a real browser, at a desktop and a phone size:
signed in, the menu leads to the preferences page; the member gives a mobile number, opts in to
texts, turns one kind of mail off and saves; the page says so and keeps it, and the text that
confirms the opt-in is in the dev mailbox.

The member is the organizer `hearth dev` makes, at both sizes, so each size has a number and a
kind of mail of its own, and expects nothing of what the other left."""

from __future__ import annotations

import re
import time

import pytest
from browsing import Site
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Fictional numbers (555-0100 to 555-0199 are for fiction), as typed and as stored.
PHONE = {"desktop": ("(415) 555-0142", "+14155550142"), "phone": ("415 555 0173", "+14155550173")}
# The kind of mail each size turns off.
MAIL_KIND = {"desktop": "Announcements", "phone": "Reminders"}


def test_a_member_opts_in_to_texts_and_turns_one_kind_of_mail_off(site: Site):
    typed, e164 = PHONE[site.size]
    kind = MAIL_KIND[site.size]
    page = site.page
    site.sign_in()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Preferences").click()
    expect(page.get_by_role("heading", name="What Hearth sends you")).to_be_visible()
    site.check()

    texts = page.get_by_role("group", name="Texts", exact=True)
    texts.get_by_label("Mobile number").fill(typed)
    texts.get_by_label("Text me").check()
    mail = page.get_by_role("group", name="Email", exact=True).get_by_label(kind, exact=True)
    mail.uncheck()
    page.get_by_role("button", name="Save my choices").click()

    status = page.get_by_role("status")
    expect(status).to_contain_text("Saved.")
    expect(status).to_contain_text(f"Texts to {e164} are on: a text saying so is on its way.")
    site.check(screenshot="preferences")

    # Kept: the page as it is now, not as the form was sent.
    page.reload()
    expect(page.get_by_role("heading", name="What Hearth sends you")).to_be_visible()
    site.check()
    expect(page.get_by_role("status")).to_have_count(0)
    expect(texts.get_by_label("Mobile number")).to_have_value(e164)
    expect(texts.get_by_label("Text me")).to_be_checked()
    expect(mail).not_to_be_checked()
    for other in {"Announcements", "Updates", "Reminders"} - set(MAIL_KIND.values()):
        expect(
            page.get_by_role("group", name="Email", exact=True).get_by_label(other, exact=True)
        ).to_be_checked()

    # The confirmation is sent at once, quiet hours or not; the worker keeps it in the mailbox.
    confirmation = (
        page.get_by_role("row")
        .filter(has_text=e164)
        .get_by_role("link", name=re.compile(r"^You're subscribed to Hearth texts"))
    )
    deadline = time.monotonic() + 10
    while True:
        site.visit("/notifications/dev/mailbox")
        if confirmation.count():
            break
        assert time.monotonic() < deadline, f"no confirmation text to {e164} within 10 s"
        page.wait_for_timeout(200)
    expect(confirmation).to_have_count(1)
    confirmation.click()
    expect(page.get_by_role("heading", name=re.compile(r"^You're subscribed"))).to_be_visible()
    expect(page.get_by_text(f"Text to {e164}", exact=True)).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"Reply HELP for help, STOP to unsubscribe\.$"))
    ).to_be_visible()
    site.check()
