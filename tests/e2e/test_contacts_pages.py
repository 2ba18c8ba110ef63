"""The Contacts pages in Chromium at desktop and phone width: axe-core finds nothing serious
or critical, nothing scrolls sideways at 390 px, each identity to sort is a card with its
buttons in reach, and filing one from its card works without JavaScript."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hub.domain.model import IdentityKind
from hub.ports import Contact, ContactDirection, ContactPage
from hub.services.contacts import sync_account
from hub.services.contacts_inbox import inbox
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_pages_a11y import _check, axe_script, contexts  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


class Followers:
    """A ContactReader (the port) with a few followers, one of them followed back."""

    platform = "mastodon"

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        who = [("@ana@lima.example", "Ana Lima"), ("@someone.with.a.very.long.name@"
                                                  "a-very-long-instance-name.example", ""),
               ("@bo@b.social", "Bo")]
        if direction is ContactDirection.FOLLOWING:
            who = who[:1]
        return ContactPage(tuple(Contact(IdentityKind.MASTODON, a, a, n) for a, n in who), None)

    async def aclose(self) -> None:
        return None


@pytest.mark.timeout(240)
def test_contacts_pages_pass_axe_and_are_cards_at_phone_width(site, contexts,  # noqa: F811
                                                              axe_script: Path):  # noqa: F811
    with ThreadPoolExecutor(1) as pool:   # Playwright's loop runs on this thread
        pool.submit(asyncio.run, sync_account(site.hub, "mastodon:main", Followers())).result()
    problems: list[str] = []
    for width, context in contexts.items():
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(site.url + "/login")
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url("**/compose")
        for name, path in (("contacts", "/contacts"), ("contacts-inbox", "/contacts/inbox")):
            page.goto(site.url + path)
            problems += _check(page, axe_script, name, width)
            wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth")
            assert not wide, f"{path} scrolls sideways at {width} width"
        cards = page.locator("article[data-unsorted]")
        assert cards.count() == 3
        if width == "phone":
            box = cards.first.bounding_box()
            assert box is not None and box["width"] <= 390
            button = cards.first.locator("button:has-text('File on Ana Lima')")
            assert button.is_visible() and button.bounding_box()["height"] >= 32
            button.click()
            page.wait_for_url("**/contacts/inbox")
            assert page.locator("article[data-unsorted]").count() == 2
    assert problems == [], "axe-core found serious or critical problems:\n" + "\n".join(problems)
    assert "mastodon:@ana@lima.example" not in [u.identity for u in inbox(site.hub)]
