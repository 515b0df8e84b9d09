"""A real browser (Debian's Chromium, driven by Playwright) against a real scalehook.

No browser is ever downloaded: Playwright launches ``/usr/bin/chromium`` (``apt-get
install chromium``; ``scripts/deps`` does it). Every test gets a fresh browser context
(its own cookies), and ``shots`` saves a screenshot of each page it is asked to, into
the test's tmp dir (``docs/screenshots/`` holds a few chosen ones).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from scalehook.testing import ServerProcess
from tests.ui.browser_net import browser_network

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}

expect.set_options(timeout=20_000)


# Module scope, not session: Playwright's sync API keeps an event loop running on this
# thread while it is open, and tests elsewhere call asyncio.run().
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(
    playwright: Playwright, server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    """Chromium in a network namespace of its own (``browser_net.py``), reaching the
    module's ``server`` at its own URL."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/deps)")
    with browser_network(tmp_path_factory.mktemp("browser"), CHROMIUM) as network:
        executable = CHROMIUM
        if network is not None:
            network.expose(server.port)
            executable = str(network.chromium)
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
    )
    page.errors = errors  # type: ignore[attr-defined]
    failed: list[str] = []
    page.on(
        "requestfailed",
        lambda request: failed.append(f"{request.method} {request.url}: {request.failure}"),
    )
    page.failed_requests = failed  # type: ignore[attr-defined]
    return page


class Shots:
    """Screenshots of pages, named by what they show, in one directory per test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def take(self, page: Page, name: str, *, full_page: bool = True) -> Path:
        path = self.directory / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        return path


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path / "screenshots")


def sign_in(page: Page, server: ServerProcess, path: str = "") -> None:
    """Open the UI and sign in with the admin token through the form."""
    page.goto(f"{server.url}/ui/{path}")
    token = page.get_by_label("Admin token")
    try:
        token.wait_for(timeout=30_000)
    except PlaywrightError as exc:
        raise AssertionError(never_drawn(page, server)) from exc
    token.fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def never_drawn(page: Page, server: ServerProcess) -> str:
    """What a page that never drew its form was left with: its errors, its DOM, and
    the end of scalehook's log (a page that loads but never renders is otherwise a bare
    timeout)."""
    errors: list[str] = page.errors  # type: ignore[attr-defined]
    failed: list[str] = page.failed_requests  # type: ignore[attr-defined]
    log = server.log().splitlines()[-40:]
    return "\n".join(
        [
            f"the sign-in form of {page.url} never appeared",
            "page errors:",
            *(f"  {e}" for e in errors or ["(none)"]),
            "requests that failed:",
            *(f"  {f}" for f in failed or ["(none)"]),
            "the page:",
            "  " + _content(page),
            "scalehook's log, last lines:",
            *(f"  {line}" for line in log),
        ]
    )


def _content(page: Page) -> str:
    try:
        return page.content()[:3_000]
    except PlaywrightError as exc:
        return f"(cannot be read: {exc.message})"


def no_page_errors(page: Page) -> None:
    errors: list[str] = page.errors  # type: ignore[attr-defined]
    # an API answering 4xx on purpose (a wrong token, a bad value) is logged by Chromium
    # as a failed resource: that is the API's error shown on the page, not the page's
    real = [e for e in errors if not e.startswith("Failed to load resource")]
    assert not real, real
