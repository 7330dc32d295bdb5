"""What the browser tests share: `hearth dev` started once, Debian's Chromium driven by Playwright
at a desktop and a phone size, and a `site` that checks every page a journey lands on with axe-core.

Playwright never downloads a browser here: it drives the Chromium that Debian installs (`.ci/run`
installs it when it is missing), and axe-core comes from tests/js (`npm ci --prefix tests/js`).
Without either, the tests skip on a laptop and fail under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import AXE, Site
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from shared.testing import HEARTH, free_port, process, unavailable

CHROMIUM = Path("/usr/bin/chromium")

# Where a journey is walked: a laptop, and a small phone held upright (the width the issue names).
SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 360, "height": 740},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}


_CALL_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test in this folder drives the browser, whatever its module says.
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # The `site` fixture reads whether the test body failed, so it adds no second failure then.
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


# --- The server ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`hearth dev` on a free port with its own data folder, SQLite and the in-process bus: the
    origin it serves. It starts without the demo community, so every page a journey sees was
    made by that journey; HEARTH_DEV_TOKEN makes the organizer who signs in."""
    data = tmp_path_factory.mktemp("hearth-dev")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")},
        "HEARTH_DATA": str(data / "var"),
        "HEARTH_PORT": str(port),
        "HEARTH_BASE_URL": f"http://127.0.0.1:{port}",
        "HEARTH_DEMO": "0",
        "HEARTH_DEV_TOKEN": "browser-tests",
        "AMQP_URL": "",
    }
    base = f"http://127.0.0.1:{port}"
    with process([*HEARTH, "dev"], env, f"{base}/healthz", log=data / "hearth-dev.log"):
        yield base


# --- The browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        unavailable(
            "Debian's Chromium (`apt-get install chromium`)", FileNotFoundError(str(CHROMIUM))
        )
    if not AXE.is_file():
        unavailable("axe-core (`npm ci --prefix tests/js` installs it)", FileNotFoundError(AXE))
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield browser
    browser.close()


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    """Each journey runs at every size: "desktop" and "phone"."""
    return str(request.param)


@pytest.fixture
def context(browser: Browser, server: str, size: str) -> Iterator[BrowserContext]:
    # bypass_csp lets the test inject axe-core into pages whose Content-Security-Policy would
    # refuse a script the site did not serve itself; the site's own behaviour is unchanged.
    context = browser.new_context(base_url=server, bypass_csp=True, **SIZES[size])
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def site(page: Page, size: str, request: pytest.FixtureRequest) -> Iterator[Site]:
    site = Site(page, size)
    yield site
    if site.unchecked and not request.node.stash.get(_CALL_FAILED, True):
        pytest.fail(f"pages loaded but not checked with axe: {site.unchecked}", pytrace=False)


@pytest.fixture
def newcomer(
    browser: Browser, server: str, size: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Site]]:
    """Someone else on their own device, at the journey's size: no session, no cookies."""
    sites: list[Site] = []
    contexts: list[BrowserContext] = []

    def arrive() -> Site:
        context = browser.new_context(base_url=server, bypass_csp=True, **SIZES[size])
        context.set_default_timeout(10_000)
        contexts.append(context)
        sites.append(Site(context.new_page(), size))
        return sites[-1]

    yield arrive
    for context in contexts:
        context.close()
    unchecked = [url for site in sites for url in site.unchecked]
    if unchecked and not request.node.stash.get(_CALL_FAILED, True):
        pytest.fail(f"pages loaded but not checked with axe: {unchecked}", pytrace=False)
