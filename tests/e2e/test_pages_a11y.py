"""Every page, at desktop and phone widths, checked by axe-core in Chromium (zero serious or
critical violations) and kept as a screenshot in ``test-artifacts/e2e/pages/``.

axe-core comes from npm through ``scripts/install-axe`` (cached outside the checkout, like the
PDS). The contexts bypass the hub's Content-Security-Policy only so that axe's script can be
injected; the pages themselves are served exactly as usual.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from hub.services.posts import Author, PostInput, submit_post
from hub.services.saved_drafts import DraftInput, save_draft
from hub.store.tables import AccountRow
from tests.conftest import ROOT
from tests.e2e.conftest import ARTIFACTS, DESKTOP, PASSWORD, PHONE

pytestmark = pytest.mark.integration
BAD = ("serious", "critical")
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def axe_script() -> Path:
    """axe.min.js from the cached install (installed on first use; fails with the reason)."""
    done = subprocess.run([str(ROOT / "scripts" / "install-axe")], capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(f"axe-core is not installed and scripts/install-axe failed:\n{done.stderr}")
    path = Path(done.stdout.strip().splitlines()[-1]) / "node_modules" / "axe-core" / "axe.min.js"
    assert path.is_file(), f"scripts/install-axe did not provide {path}"
    return path


def _pages(site) -> list[tuple[str, str]]:
    """(name, path) of every page, with a post, a person and a list to show."""
    hub = site.hub
    view = submit_post(hub, PostInput(text="Launch day 🚀: the new site is live!",
                                      audiences=["public", "friends"], tags=["news"]),
                       Author("owner"))
    ana = site.people["Ana Lima"]
    later = datetime.now(UTC) + timedelta(days=2)
    submit_post(hub, PostInput(text="Work news, held for a look", audiences=["public"],
                               tags=["work"]), Author("owner"))
    submit_post(hub, PostInput(text="Dinner on Friday?", audiences=["friends"],
                               schedule_at=later), Author("owner"))
    draft = save_draft(hub, DraftInput(text="Half an idea about the garden",
                                       audiences=["friends"], tags=["garden"]), Author())
    with hub.db.transaction() as s:   # an account whose token expires soon, for /accounts
        s.add(AccountRow(name="mastodon:work", platform="mastodon",
                         settings={"instance": "https://work.example",
                                   "expires_at": (hub.now() + timedelta(days=2)).isoformat()},
                         updated=hub.now()))
    return [("compose", "/compose"), ("queue", "/queue"), ("drafts", "/drafts"),
            ("draft", f"/drafts/{draft.id}"), ("deliveries", "/deliveries"),
            ("posts-held", "/posts?state=held"), ("posts", "/posts"),
            ("post", f"/posts/{view.post.id}"),
            ("audit", "/audit"), ("audit-search", "/audit/people?q=ana"),
            ("audit-post", f"/audit/posts/{view.post.id}"),
            ("audit-person", f"/audit/people/{ana}"), ("people", "/people"),
            ("person", f"/people/{ana}"), ("people-import", "/people/import"),
            ("lists", "/lists"), ("list", "/lists/friends"), ("tokens", "/tokens"),
            ("accounts", "/accounts"), ("policy", "/policy")]


@pytest.fixture
def contexts(browser) -> Iterator[dict[str, object]]:
    made = {"desktop": browser.new_context(viewport=DESKTOP, bypass_csp=True),
            "phone": browser.new_context(viewport=PHONE, bypass_csp=True, is_mobile=True,
                                         has_touch=True, device_scale_factor=2)}
    try:
        yield made
    finally:
        for context in made.values():
            context.close()


def _check(page, axe_script: Path, name: str, width: str) -> list[str]:
    page.add_script_tag(path=str(axe_script))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    folder = ARTIFACTS / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    return [f"{name} ({width}): {v['impact']} {v['id']}: {v['help']} — "
            + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:3])
            for v in result["violations"] if v["impact"] in BAD]


@pytest.mark.timeout(300)   # ~25 pages x 2 widths, each run through axe on a shared machine
def test_every_page_passes_axe_at_both_widths_and_is_photographed(site, contexts,
                                                                   axe_script):
    problems: list[str] = []
    pages = _pages(site)
    for width, context in contexts.items():
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(site.url + "/login")
        problems += _check(page, axe_script, "login", width)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url("**/compose")
        for name, path in pages:
            page.goto(site.url + path)
            problems += _check(page, axe_script, name, width)
        page.goto(site.url + "/compose")                  # the live preview, filled in
        page.fill("#text", "A long thought 🌱. " * 25)
        page.check("input[name=audiences][value=public]")
        expect(page.locator("[data-preview-body] article[data-target='bsky']")).to_be_visible()
        problems += _check(page, axe_script, "compose-preview", width)
        page.click("#send")
        expect(page.locator("#confirm-send")).to_be_visible()
        problems += _check(page, axe_script, "compose-confirm", width)
    assert problems == [], "axe-core found serious or critical problems:\n" + "\n".join(problems)
    shots = sorted(p.name for p in (ARTIFACTS / "pages").glob("*.png"))
    assert {f"{n}-{w}.png" for n, _ in pages for w in WIDTHS} <= set(shots)
