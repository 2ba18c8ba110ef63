"""The jobs pages in Chromium: an import uploaded through the form becomes a job whose page
shows a progress bar that a small script moves, reloading the page when the job ends; the
pages pass axe-core at desktop and phone widths (screenshots in test-artifacts/e2e)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hub.services.people import list_people
from tests.e2e import test_pages_a11y as a11y
from tests.e2e.conftest import ARTIFACTS, PASSWORD

pytestmark = pytest.mark.integration
axe_script, contexts, _check = a11y.axe_script, a11y.contexts, a11y._check   # its fixtures
ROWS = 400


def test_an_uploaded_import_shows_its_progress_and_ends_done(site, contexts, axe_script,
                                                             tmp_path):
    csv = tmp_path / "club.csv"
    csv.write_text("name,email,lists\n" + "".join(
        f"Member {i:04d},member{i:04d}@example.org,club\n" for i in range(ROWS)))
    problems: list[str] = []
    for n, (width, context) in enumerate(contexts.items()):
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(site.url + "/login")
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        page.wait_for_url("**/compose")
        page.goto(site.url + "/people/import")
        page.set_input_files("#file", str(csv))
        page.click("button:has-text('Import')")
        page.wait_for_url("**/jobs/j*")
        bar = page.locator("progress.job-bar")
        expect(bar).to_be_visible()
        expect(page.get_by_role("progressbar")).to_have_count(1)
        problems += _check(page, axe_script, f"job-{'running' if n == 0 else 'import'}", width)
        expect(page.locator("section[data-state='done']")).to_be_visible(timeout=240_000)
        expect(page.locator("section[data-state='done']")).to_contain_text(
            f"{ROWS:,} of {ROWS:,} (100%)")
        problems += _check(page, axe_script, "job-done", width)
        page.goto(site.url + "/jobs")
        expect(page.locator("article.job-card").first).to_contain_text("Import people")
        problems += _check(page, axe_script, "jobs", width)
    assert problems == [], "axe-core found serious or critical problems:\n" + "\n".join(problems)
    members = [p for p, _, lists in list_people(site.hub) if "club" in lists]
    assert len(members) == ROWS   # the second upload updated, it did not duplicate
    assert (ARTIFACTS / "pages" / "jobs-phone.png").is_file()
