"""End-to-end fixtures: Debian's Chromium driven by Playwright against a hub on 127.0.0.1.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (installed by
``scripts/install-chromium``) with flags that keep it off the network. Screenshots of the main
pages go to ``test-artifacts/e2e/`` (not committed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from adapters.fake import FakePublisher
from hub.bootstrap import Mode
from hub.runtime import Hub
from hub.services.owner import set_password
from hub.services.people import NewPerson, add_person
from tests.conftest import ROOT
from tests.integration.test_http import LiveServer
from web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
PASSWORD = "correct horse battery staple"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")   # sync Playwright runs a loop: end it with the module
def browser() -> Iterator[object]:
    """One Chromium for the session; Playwright gives each launch a fresh profile directory."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run scripts/install-chromium "
                    "(it installs Debian's chromium package), then run the tests again")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Site:
    hub: Hub
    server: LiveServer
    fakes: dict[str, FakePublisher]
    people: dict[str, str] = field(default_factory=dict)   # name -> person id

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def site(make_runtime, sqlite_url, fakes) -> Iterator[Site]:
    """A hub with fake networks (email too), three people, and the owner's password set."""
    fakes["email:personal"] = FakePublisher("email:personal", limit=10_000)
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    site_people = {}
    for name, email, lists in [("Ana Lima", "ana@example.org", ["friends"]),
                               ("Bo Chen", "bo@example.org", ["friends", "clients"]),
                               ("Cy Okafor", "cy@example.org", ["clients"])]:
        site_people[name] = add_person(hub, NewPerson(name, [("email", email)], lists)).id
    set_password(hub, PASSWORD)
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield Site(hub, server, fakes, site_people)


def _context(browser, viewport: dict[str, int], **extra: object) -> Iterator[object]:
    context = browser.new_context(viewport=viewport, **extra)
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A desktop-sized page in a fresh context; JavaScript dialogs are recorded (and fail
    the XSS checks) instead of blocking."""
    yield from _page(browser, DESKTOP)


@pytest.fixture
def phone(browser) -> Iterator[object]:
    yield from _page(browser, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


def _page(browser, viewport: dict[str, int], **extra: object) -> Iterator[object]:
    for context in _context(browser, viewport, **extra):
        pg = context.new_page()
        pg.dialogs = []

        def on_dialog(dialog, pg=pg) -> None:
            pg.dialogs.append(dialog.message)
            dialog.dismiss()

        pg.on("dialog", on_dialog)
        yield pg


def shot(page, name: str) -> Path:
    """Keep a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, site: Site) -> None:
    page.goto(site.url + "/")
    page.wait_for_url(re.compile(r"/login\?next=/"))
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url("**/compose")
