"""The jobs pages and API over real HTTP: only the owner's session sees the pages, every form
needs its CSRF token, a token sees and starts only the kinds its scope and audiences allow,
a page shows a progress bar (followed by a small script while the job runs) and a failed
job's reason."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub.bootstrap import Mode
from hub.services import jobs
from hub.services.owner import set_password
from hub.services.people import NewPerson, add_person
from hub.services.tokens import create_token
from hub.store.job_tables import JobRow
from tests.conftest import wait_until
from tests.integration.test_http import LiveServer
from tests.integration.test_jobs import GATE  # registers the test kinds
from tests.integration.test_ui_security import PASSWORD, csrf_of, log_in
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def site(make_runtime, sqlite_url) -> Iterator[tuple[Any, LiveServer, Any]]:
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    for i in range(3):
        add_person(hub, NewPerson(f"P{i}", [("email", f"p{i}@example.org")], ["friends"]))
    set_password(hub, PASSWORD)
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        yield hub, server, runtime


@pytest.fixture
def owner(site) -> Iterator[httpx.Client]:
    _, server, _ = site
    with httpx.Client(base_url=server.url) as client:
        assert log_in(client).status_code == 303
        yield client


def finished(hub, job_id: str) -> JobRow:
    wait_until(lambda: jobs.get(hub, job_id).state not in jobs.ACTIVE, timeout=60,
               what=f"job {job_id} to end")
    return jobs.get(hub, job_id)


def test_job_pages_and_forms_need_the_owner_and_a_csrf_token(site, owner):
    hub, server, runtime = site
    job = jobs.run_now(hub, "test-fails")
    pages = ["/jobs", f"/jobs/{job.id}", f"/jobs/{job.id}/status", f"/jobs/{job.id}/download"]
    forms = ["/jobs/audit-export", "/jobs/audit-verify", f"/jobs/{job.id}/rerun"]
    with httpx.Client(base_url=server.url) as stranger:
        for path in pages:
            r = stranger.get(path)
            assert r.status_code in (303, 401), path
            assert "P0" not in r.text and job.id not in r.text
        for path in forms:
            assert stranger.post(path, data={"format": "jsonl"}).status_code == 401, path
    before = len(jobs.recent(hub))
    for path in forms:
        r = owner.post(path, data={"format": "jsonl"})
        assert r.status_code == 403 and "reload the page" in r.text, path
    assert len(jobs.recent(hub)) == before   # nothing started


def test_a_failed_job_shows_its_reason_and_can_be_run_again(site, owner):
    hub, _, _ = site
    job = jobs.run_now(hub, "test-fails")
    page = owner.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    assert "CSV line 4: &#39;x&#39; is not a valid email" in page.text
    assert 'data-state="failed"' in page.text and "/static/jobs.js" not in page.text
    assert '<progress class="job-bar"' in page.text and 'max="10" value="3"' in page.text
    r = owner.post(f"/jobs/{job.id}/rerun", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    again = r.headers["location"].rsplit("/", 1)[1]
    assert finished(hub, again).rerun_of == job.id
    assert owner.get("/jobs/j_nope").status_code == 404


def test_a_running_job_page_reloads_itself_and_shows_its_bar(site, owner):
    hub, server, runtime = site
    GATE.update(at3=threading.Event(), go=threading.Event())
    job = runtime.jobs.submit("test-lists", {"n": 6})
    try:
        assert GATE["at3"].wait(30)
        page = owner.get(f"/jobs/{job.id}")
        assert 'data-state="running"' in page.text
        assert '<script src="/static/jobs.js" defer></script>' in page.text
        assert f'data-status-url="/jobs/{job.id}/status"' in page.text
        assert "Reload</a> to see how far it got" in page.text   # without the script
        assert 'max="6" value="3"' in page.text and "3 of 6 (50%)" in page.text
        listing = owner.get("/jobs")
        assert "/static/jobs.js" in listing.text and f'data-job="{job.id}"' in listing.text
    finally:
        GATE["go"].set()
    assert finished(hub, job.id).state == "done"
    assert "/static/jobs.js" not in owner.get(f"/jobs/{job.id}").text


def test_the_owner_exports_the_audit_log_as_a_job_and_downloads_it(site, owner):
    hub, _, _ = site
    page = owner.get("/jobs")
    r = owner.post("/jobs/audit-export", data={"csrf_token": csrf_of(page.text),
                                               "format": "csv"})
    assert r.status_code == 303
    job = finished(hub, r.headers["location"].rsplit("/", 1)[1])
    assert job.state == "done", job.error
    path = hub.settings.data_dir / "exports" / job.result["file"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    detail = owner.get(f"/jobs/{job.id}")
    assert "Download the export" in detail.text
    got = owner.get(f"/jobs/{job.id}/download")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.text.splitlines()[0].startswith("seq,name,")
    assert len(got.text.strip().splitlines()) == job.result["events"] + 1 == job.done + 1
    r = owner.post("/jobs/audit-export", data={"csrf_token": csrf_of(page.text),
                                               "format": "xml"})
    assert r.status_code == 303 and r.headers["location"] == "/jobs"   # refused, said why
    assert "unknown export format" in owner.get("/jobs").text


def test_tokens_see_and_start_only_what_their_scope_and_audiences_allow(site, owner):
    hub, server, runtime = site
    _, auditor = create_token(hub, "auditor", ["audit"])
    _, limited = create_token(hub, "limited", ["audit", "read"], ["friends"])
    _, poster = create_token(hub, "poster", ["post", "read"])
    importer = jobs.create(hub, "people-import", {"path": "/nowhere", "filename": "x.csv"})

    def api(token: str) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})

    with api(auditor) as a, api(limited) as lim, api(poster) as p:
        r = a.post("/api/jobs", json={"kind": "audit-verify"})
        assert r.status_code == 202, r.text
        verify = r.json()["id"]
        wait_until(lambda: a.get(f"/api/jobs/{verify}").json()["state"] == "done",
                   timeout=60, what="the verification")
        shown = a.get(f"/api/jobs/{verify}").json()
        assert shown["result"]["ok"] is True and shown["percent"] == 100
        assert a.get(f"/api/jobs/{verify}").headers["cache-control"] == "no-store"
        listed = {j["id"] for j in a.get("/api/jobs").json()["jobs"]}
        assert verify in listed and importer.id not in listed
        assert a.get(f"/api/jobs/{importer.id}").status_code == 404   # the owner's alone
        assert a.post("/api/jobs", json={"kind": "people-import"}).status_code == 422
        for client in (lim, p):
            refused = client.post("/api/jobs", json={"kind": "audit-export"})
            assert refused.status_code == 403, refused.text
            assert "audit" in refused.json()["detail"]
            assert client.get(f"/api/jobs/{verify}").status_code == 404
            assert client.get("/api/jobs").json()["jobs"] == []
            # paging after a job it may not see is answered as if there were no such job
            hidden = client.get("/api/jobs", params={"before": verify})
            missing = client.get("/api/jobs", params={"before": "j_nosuchjob"})
            assert hidden.status_code == missing.status_code == 400
            assert hidden.json()["detail"].replace(verify, "X") == \
                missing.json()["detail"].replace("j_nosuchjob", "X")
        r = a.post("/api/jobs", json={"kind": "audit-export", "format": "jsonl"})
        export = r.json()["id"]
        wait_until(lambda: a.get(f"/api/jobs/{export}").json()["state"] == "done",
                   timeout=60, what="the export")
        got = a.get(f"/api/jobs/{export}/download")
        assert got.status_code == 200 and got.text.count("\n") == got.text.count('"seq"')
        assert lim.get(f"/api/jobs/{export}/download").status_code == 404
    assert httpx.get(f"{server.url}/api/jobs").status_code == 401
