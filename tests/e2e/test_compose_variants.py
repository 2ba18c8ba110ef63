"""In Chromium, at both widths: a text too long for Bluesky opens the "text for Bluesky only"
field with its note; the thread editor adds a part and shows each part's count, counted on the
server as each network counts; both pass axe-core; the post sends as the parts written."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hub.services.posts import list_posts
from tests.e2e.conftest import DESKTOP, PHONE, log_in
from tests.e2e.test_pages_a11y import _check, axe_script  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_variant_field_and_thread_editor_in_the_browser(browser, site, axe_script,  # noqa: F811
                                                        viewport):
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        log_in(page, site)
        page.goto(site.url + "/compose")
        note = page.locator("#variant_help_bluesky")
        expect(note).to_be_hidden()
        page.fill("#text", "A long thought 🌱. " * 25)
        page.check("input[name=audiences][value=public]")
        expect(note).to_be_visible()
        expect(page.locator("#variants")).to_have_attribute("open", "")
        expect(page.locator("#part_counter_1 .over")).to_contain_text("bsky")
        width = "desktop" if viewport is DESKTOP else "phone"
        problems = _check(page, axe_script, "compose-variant", width)

        page.fill("#variant_bluesky", "A short thought 🌱.")
        page.fill("#text", "Part one of a thought 🌱.")
        expect(note).to_be_hidden()
        page.locator("#thread summary").click()
        page.fill("#thread_part_2", "Part two 👩‍👩‍👧.")
        page.click("[data-add-part]")
        expect(page.locator("#thread_part_3")).to_be_focused()
        page.fill("#thread_part_3", "Part three.")
        # the counts are the publishers' own (here the fakes count code points: 15; the real
        # Bluesky and Mastodon publishers count graphemes, see tests/unit/test_variant_measure)
        expect(page.locator("#part_counter_2")).to_contain_text("masto-public 15/500")
        expect(page.locator("#part_counter_3")).to_contain_text("masto-public 11/500")
        expect(page.locator("#part_counter_2")).not_to_contain_text("bsky")   # it has a variant
        problems += _check(page, axe_script, "compose-thread", width)
        assert problems == [], "\n".join(problems)
        page.click("#send")
        page.wait_for_url("**/posts/*")
        newest = list_posts(site.hub)[0].post
        assert newest.thread == ("Part one of a thought 🌱.", "Part two 👩‍👩‍👧.", "Part three.")
        assert [(v.key, v.parts) for v in newest.variants] == [("bluesky",
                                                                ("A short thought 🌱.",))]
    finally:
        context.close()
