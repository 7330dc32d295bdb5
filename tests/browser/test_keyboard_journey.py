"""With a keyboard alone, in a real browser at both sizes: a guest reaches a peer lunch's answer
form from the top of its page, answers and lands on their RSVP, and every control the Tab key
stops on shows where the focus is."""

from __future__ import annotations

import pytest
from browsing import Site
from playwright.sync_api import Page, expect
from test_attendee_journeys import schedule_public_lunch

pytestmark = pytest.mark.browser

COMMUNITY = {"desktop": "Keyboard Peer Lunches", "phone": "Keys-Only Peer Lunches"}
# More stops than the event page has before its answer form: a page that needs more is a
# page a keyboard user gives up on.
MOST_TABS = 40


def focused(page: Page) -> dict[str, str]:
    """The focused element: its id, label-ish name, and the outline that shows it."""
    return page.evaluate(
        """() => {
            const element = document.activeElement;
            const style = getComputedStyle(element);
            return {
                id: element.id,
                tag: element.tagName.toLowerCase(),
                text: (element.innerText || element.value || "").trim().slice(0, 40),
                outline: style.outlineStyle === "none" ? "" : style.outlineWidth,
            };
        }"""
    )


def tab_to(page: Page, element_id: str) -> None:
    """Press Tab until the element with `element_id` has the focus, checking on the way that
    every stop shows its focus."""
    for _ in range(MOST_TABS):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["outline"] not in ("", "0px"), f"no visible focus on {now}"
        if now["id"] == element_id:
            return
    pytest.fail(f"#{element_id} not reached in {MOST_TABS} presses of Tab")


def test_a_guest_answers_a_lunch_with_the_keyboard_alone(site: Site, newcomer):
    event_url = schedule_public_lunch(site, COMMUNITY[site.size])
    guest = newcomer()
    page = guest.visit(event_url)

    tab_to(page, "f-response-yes")
    page.keyboard.press("Space")
    expect(page.get_by_label("Yes, I'll come")).to_be_checked()
    tab_to(page, "f-name")
    page.keyboard.type("Kit Alvarez")
    tab_to(page, "f-email")
    page.keyboard.type("kit@example.org")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Change your answer")).to_be_visible()
    expect(page.get_by_text("You're going.", exact=True)).to_be_visible()
    guest.check()
