"""How a browser test walks the site: `Site` goes to pages, checks each with axe-core, saves
screenshots when asked, and signs in the way a person does, through the dev mailbox."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from shared.calendar_readers import JS_DIR
from shared.testing import local, thursday

AXE = JS_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"

# The member `hearth dev` creates for HEARTH_DEV_TOKEN: the one person who can sign in on a
# fresh start without the demo community.
ORGANIZER = "organizer@example.org"
ORGANIZER_NAME = "Dana Okafor"


def axe(page: Page) -> None:
    """Run axe-core on the page as it is; fail on any serious or critical violation, naming the
    rule, what it asks and the elements that break it."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    serious = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    if serious:
        lines = [f"axe-core found {len(serious)} serious or critical violation(s) on {page.url}:"]
        for violation in serious:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            for node in violation["nodes"][:5]:
                lines.append(
                    f"    at {json.dumps(node['target'])}: {node.get('failureSummary', '')}"
                )
        pytest.fail("\n".join(lines), pytrace=False)


def fits(page: Page) -> None:
    """Fail if the page is wider than the window: on a phone, a page that scrolls sideways is
    hard to read, and the browser zooms it out until every word is small."""
    wider = page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            return [...document.querySelectorAll("body *")]
                .filter((element) => element.getBoundingClientRect().right > width + 1)
                .filter((element) => !element.closest(".table-scroll, .visually-hidden, .skip"))
                .slice(0, 5)
                .map((element) => element.outerHTML.slice(0, 120));
        }"""
    )
    if wider:
        pytest.fail(
            f"{page.url} is wider than the {page.viewport_size} window; these stick out:\n"
            + "\n".join(wider),
            pytrace=False,
        )


@dataclass
class Site:
    """The pages of one journey, in one browser context at one size. A journey goes to a page
    with `visit` or lands on one after a click; then `check` runs axe on it (and saves its
    screenshot when HEARTH_SCREENSHOTS=1). A page that loaded but was never checked fails the
    test, so no page of a journey escapes axe."""

    page: Page
    size: str
    unchecked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("load", lambda loaded: self.unchecked.append(loaded.url))

    def visit(self, path: str, screenshot: str | None = None) -> Page:
        self.page.goto(path)
        self.check(screenshot)
        return self.page

    def check(self, screenshot: str | None = None) -> None:
        """Check the page the journey is on now. Call it once the journey has seen that the
        page it expects is there (an `expect`), so the check is not of the page before."""
        self.page.wait_for_load_state("load")
        axe(self.page)
        fits(self.page)
        self.unchecked.clear()
        if screenshot and os.environ.get("HEARTH_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=SCREENSHOTS / f"{screenshot}-{self.size}.png")

    def sign_in(self, email: str = ORGANIZER, screenshots: bool = False) -> None:
        """Sign in as a person would: ask for a link, find its mail in the dev mailbox, open the
        link and confirm. Earlier tests' sign-in mails are in the mailbox too, so the new one is
        the one that was not there before asking."""
        page = self.page
        mails = (
            page.get_by_role("row")
            .filter(has_text=email)
            .get_by_role("link", name="Your sign-in link for Hearth")
        )
        self.visit("/notifications/dev/mailbox")
        before = mails.count()

        self.visit("/sign-in", screenshot="sign-in" if screenshots else None)
        page.get_by_label("Email address").fill(email)
        page.get_by_role("button", name="Email me a sign-in link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        self.check()

        # The notifications service writes the mail once it has handled the request's message.
        deadline = time.monotonic() + 10
        while True:
            self.visit("/notifications/dev/mailbox", screenshot="mailbox" if screenshots else None)
            if mails.count() > before:
                break
            assert time.monotonic() < deadline, f"no new sign-in mail for {email} within 10 s"
            page.wait_for_timeout(200)
        mails.first.click()  # newest first
        expect(page.get_by_role("heading", name="Your sign-in link for Hearth")).to_be_visible()
        self.check()
        text = page.get_by_role("heading", name="Text", exact=True).locator(
            "xpath=following-sibling::pre[1]"
        )
        found = re.search(r"https?://\S+/sign-in/\S+", text.inner_text())
        assert found, f"no sign-in link in the mail:\n{text.inner_text()}"

        page.goto(found.group(0))
        expect(page.get_by_role("heading", name="Sign in to Hearth")).to_be_visible()
        self.check()
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        self.check()


def new_community(site: Site, name: str, public: bool = False) -> None:
    """As a signed-in organizer, start a community of only a name (and public, if asked), and
    land on its page."""
    page = site.page
    site.visit("/communities/new")
    page.get_by_label(re.compile(r"^Name\b")).fill(name)
    if public:
        page.get_by_label("Public", exact=True).check()
    page.get_by_role("button", name="Create the community").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    site.check()


def fill_peer_lunch(page: Page, title: str, location: str | None = None) -> None:
    """The event form, as an organizer fills it for a peer lunch of 3 seats next Thursday."""
    lunch = thursday()
    page.get_by_label("Kind of event").select_option(label="Peer lunch")
    page.get_by_label("Title").fill(title)
    page.get_by_label(re.compile(r"^Starts\b")).fill(local(lunch))
    page.get_by_label(re.compile(r"^Ends\b")).fill(local(lunch.replace(hour=13)))
    if location:
        page.get_by_label("Location (optional)").fill(location)
    page.get_by_label("Capacity (optional)").fill("3")


def fill_weekly_consult_group(page: Page, times: int) -> datetime:
    """The event form, as an organizer fills it for a consult group every Thursday from next
    Thursday, `times` times; its first date."""
    first = thursday()
    page.get_by_label("Kind of event").select_option(label="Consult group")
    page.get_by_label("Title").fill("Thursday consult group")
    page.get_by_label(re.compile(r"^Starts\b")).fill(local(first))
    page.get_by_label(re.compile(r"^Ends\b")).fill(local(first.replace(hour=13)))
    page.get_by_role("group", name="Repeats").get_by_label(re.compile(r"^Every week")).check()
    ends = page.get_by_role("group", name="A series ends")
    ends.get_by_label("After a number of times").check()
    ends.get_by_label("Number of times", exact=True).fill(str(times))
    return first
