"""The queue, drafts and the first visit in Chromium (issue 17 items 2, 3 and 7): the password
chosen on /setup logs the owner in (no second login); a draft saved from the compose form is
resumed and sent once; the queue approves and cancels; on a 390 px phone every table is a stack
of cards whose cells say what they are, and nothing scrolls sideways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from hub.bootstrap import Mode
from hub.services.owner import setup_code
from hub.services.posts import Author, PostInput, get_post, submit_post
from hub.services.saved_drafts import list_drafts
from tests.e2e.conftest import PASSWORD, log_in, shot
from tests.integration.test_http import LiveServer
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh(make_runtime, sqlite_url) -> Iterator[tuple[object, LiveServer]]:
    """A hub without an owner password yet."""
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    with LiveServer(create_app(runtime.hub.settings, runtime=runtime)) as server:
        yield runtime.hub, server


def _fits(page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_the_password_chosen_on_setup_logs_the_owner_in(page, fresh):
    hub, server = fresh
    page.goto(server.url + f"/setup?code={setup_code(hub)}")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/compose")
    expect(page.locator(".flash")).to_contain_text("You are logged in")
    page.goto(server.url + "/queue")                 # a page that needs the login
    expect(page.locator("h1")).to_have_text("Queue")
    assert "/login" not in page.url


def test_a_draft_is_saved_resumed_and_sent_once(page, site):
    log_in(page, site)
    page.fill("#text", "Plant the tulips this weekend")
    page.check("input[name=audiences][value=friends]")
    page.fill("#tags", "garden")
    page.click("#save-draft")
    page.wait_for_url("**/drafts")
    expect(page.locator(".flash")).to_contain_text("Draft saved")
    [draft] = list_drafts(site.hub, Author())
    card = page.locator(f"[data-draft='{draft.id}']")
    expect(card).to_contain_text("Plant the tulips")
    card.locator("a:has-text('Open')").click()
    expect(page.locator("#text")).to_have_value("Plant the tulips this weekend")
    expect(page.locator("input[name=audiences][value=friends]")).to_be_checked()
    page.fill("#text", "Plant the tulips this weekend 🌷")
    page.click("#send")
    page.wait_for_url(re.compile(r"/posts/p\w+$"))
    assert list_drafts(site.hub, Author()) == []
    page.goto(site.url + "/drafts")
    expect(page.locator("[data-empty]")).to_be_visible()


def test_the_queue_approves_and_cancels_and_is_cards_on_a_phone(phone, site):
    hub = site.hub
    held = submit_post(hub, PostInput("Work news, for a second look", ["public"],
                                      tags=["work"]), Author())
    later = submit_post(hub, PostInput("Dinner on Friday?", ["friends"],
                                       schedule_at=datetime.now(UTC) + timedelta(days=2)),
                        Author())
    log_in(phone, site)
    phone.goto(site.url + "/queue")
    expect(phone.locator(".queue-item")).to_have_count(2)
    assert _fits(phone), "the queue scrolls sideways on a phone"
    shot(phone, "20-phone-queue")
    phone.locator(f"[data-post='{held.post.id}'] button:has-text('Approve')").click()
    expect(phone.locator(".flash")).to_contain_text("Approved")
    assert "held" not in {d.status for d in get_post(hub, held.post.id).deliveries}
    item = phone.locator(f"[data-post='{later.post.id}']")
    item.locator("button:has-text('Cancel friends-mail')").click()
    expect(phone.locator(".flash")).to_contain_text("Cancelled friends-mail")
    phone.locator(f"[data-post='{later.post.id}'] button:has-text('Cancel the post')").click()
    expect(phone.locator(".flash")).to_contain_text("Cancelled friends-feed")
    assert {d.status for d in get_post(hub, later.post.id).deliveries} == {"cancelled"}

    for path in ("/deliveries", f"/posts/{held.post.id}", "/tokens",
                 f"/audit/posts/{held.post.id}"):
        phone.goto(site.url + path)
        assert _fits(phone), f"{path} scrolls sideways on a phone"
        cells = phone.locator(".table-wrap td")
        for i in range(cells.count()):
            cell = cells.nth(i)
            label = cell.get_attribute("data-label")
            assert label, f"{path}: a table cell without data-label"
            before = cell.evaluate("c => getComputedStyle(c, '::before').content")
            assert label in before, (path, label, before)
            assert cell.evaluate("c => getComputedStyle(c).display") == "block"
    shot(phone, "21-phone-audit-post-cards")
