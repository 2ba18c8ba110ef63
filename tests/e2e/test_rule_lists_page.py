"""A list that keeps itself, made on the Lists page in Chromium: the preview names who the rule
reaches now and why without saving anything, saving writes the hub-managed policy file and
loads it, and the list is there with its rule; the form passes axe-core at desktop and phone
width and does not scroll sideways at 390 px."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hub.services.rule_list_edit import UI_FILE
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_pages_a11y import _check, axe_script, contexts  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
def test_a_rule_list_is_previewed_then_saved_from_the_lists_page(site, contexts,  # noqa: F811
                                                                 axe_script: Path):  # noqa: F811
    ui_file = site.hub.policies.directory / UI_FILE
    problems: list[str] = []
    for width, context in contexts.items():
        name = f"close-{width}"
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(site.url + "/login")
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url("**/compose")
        page.goto(site.url + "/lists")
        page.fill("#rule-name", name)
        page.fill("#rule-text", "friends and not clients")
        page.fill("#rule-description", 'my "close" ones: #1')
        page.click("button:has-text('Preview')")
        preview = page.locator("#rule-preview")
        preview.wait_for()
        assert "1 person" in page.locator("#preview-count").inner_text()
        assert "Ana Lima" in preview.inner_text() and "Bo Chen" not in preview.inner_text()
        assert "why: in friends; not in clients" in preview.inner_text()
        assert page.input_value("#rule-text") == "friends and not clients"   # still typed
        assert name not in site.hub.policies.current.lists                  # nothing saved
        problems += _check(page, axe_script, "lists-rule-preview", width)
        wide = page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth")
        assert not wide, f"/lists with a preview scrolls sideways at {width} width"

        page.click("button:has-text('Save list')")
        page.wait_for_url(re.compile(rf"/lists/{name}(#.*)?$"))
        assert "friends and not clients" in page.locator("main").inner_text()
        assert "Ana Lima" in page.locator("ul.members").inner_text()
        assert page.locator("#edit-rule").is_visible()
        page.goto(site.url + "/lists")
        row = page.locator("#all-lists li", has_text=name)
        assert "rule: friends and not clients" in row.inner_text()
        assert "made here" in row.inner_text()
    assert problems == [], "axe-core found serious or critical problems:\n" + "\n".join(problems)
    lists = yaml.safe_load(ui_file.read_text())["lists"]
    assert lists["close-desktop"] == {"rule": "friends and not clients",
                                      "description": 'my "close" ones: #1'}
    assert set(site.hub.policies.current.lists) == {"close-desktop", "close-phone"}
