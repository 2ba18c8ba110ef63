"""A large contact import against a real ``hub serve`` (SQLite): it runs as a background job
in short transactions, so /healthz, the API and the delivery workers answer while it runs; a
hub killed halfway (SIGKILL) marks the job interrupted on restart, and running it again ends
with every row present exactly once."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.integration.served import HubServe, run_hub
from tests.integration.test_ui_security import csrf_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
PASSWORD = "correct horse battery staple"
ROWS = 1500   # many short batches: long enough to act while it runs, short enough for CI


@pytest.fixture
def served(tmp_path: Path, policy_dir: Path) -> tuple[dict[str, str], str]:
    env = {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir)}
    out = run_hub("init", "--password-stdin", env=env, input=PASSWORD + "\n").stdout
    token = re.search(r"\bhub_t[0-9a-f]+_\S+", out)   # not the test's own path
    assert token, out
    return env, token.group(0)


def big_csv(rows: int = ROWS, *, bad_line: int | None = None) -> bytes:
    lines = ["name,email,lists"]
    for i in range(rows):
        email = "not-an-email" if bad_line == i + 2 else f"person{i:06d}@example.org"
        lines.append(f"Person {i:06d},{email},club")
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def owner(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/login")
        r = client.post("/login", data={"password": PASSWORD, "next": "/jobs",
                                        "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303, r.text
        yield client


def upload(client: httpx.Client, data: bytes, name: str = "people.csv") -> httpx.Response:
    token = csrf_of(client.get("/people/import").text)
    return client.post("/people/import", data={"csrf_token": token},
                       files={"file": (name, data, "text/csv")})


def job_of(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:500]
    location = response.headers["location"]
    assert location.startswith("/jobs/j"), location
    return location.rsplit("/", 1)[1]


def status(client: httpx.Client, job_id: str) -> dict[str, Any]:
    r = client.get(f"/jobs/{job_id}/status")
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_state(client: httpx.Client, job_id: str, *states: str, timeout: float = 600
               ) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(status(client, job_id))
        return seen["state"] in states

    wait_until(reached, timeout=timeout, what=f"job {job_id} to be {' or '.join(states)}")
    return seen


def book(env: dict[str, str]) -> tuple[int, int, int, int]:
    """(people, identities, distinct emails, club members) straight from the database."""
    db = sqlite3.connect(Path(env["HUB_DATA_DIR"]) / "hub.db")
    try:
        return db.execute(
            "SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM identity), "
            "(SELECT count(DISTINCT value) FROM identity), "
            "(SELECT count(*) FROM list_member WHERE list_name = 'club')").fetchone()
    finally:
        db.close()


def test_a_malformed_row_in_the_middle_is_named_and_nothing_is_written(served, tmp_path):
    env, _ = served
    with HubServe(env, tmp_path / "serve.log") as hub, owner(hub.url) as client:
        job = job_of(upload(client, big_csv(bad_line=801)))
        failed = wait_state(client, job, "failed", "done")
        assert failed["state"] == "failed"
        assert failed["error"].startswith("CSV line 801:")
        assert "not-an-email" in failed["error"]
        page = client.get(f"/jobs/{job}")
        assert page.status_code == 200 and "CSV line 801" in page.text
        assert 'data-state="failed"' in page.text and "Run it again" in page.text
    assert book(env) == (0, 0, 0, 0)   # checked whole before the first write


def test_killed_halfway_then_rerun_gives_every_row_exactly_once(served, tmp_path):
    env, _ = served
    serve = HubServe(env, tmp_path / "serve.log")
    with serve as hub, owner(hub.url) as client:
        job = job_of(upload(client, big_csv()))
        wait_until(lambda: status(client, job)["done"] > 0, timeout=300,
                   what="the first batch to be committed")
        assert serve.proc is not None
        serve.proc.kill()   # SIGKILL: no shutdown, no chance to mark anything
        serve.proc.wait(10)
    people, *_ = book(env)
    assert 0 < people < ROWS
    with HubServe(env, tmp_path / "serve2.log") as hub, owner(hub.url) as client:
        cut = status(client, job)
        assert cut["state"] == "interrupted"
        assert cut["done"] == people             # the count was committed with the rows
        assert "stopped while this job was running" in cut["error"] and "re-run" in cut["error"]
        page = client.get(f"/jobs/{job}")
        assert "Run it again" in page.text and "interrupted" in page.text
        r = client.post(f"/jobs/{job}/rerun", data={"csrf_token": csrf_of(page.text)})
        again = job_of(r)
        done = wait_state(client, again, "done", "failed")
        assert done["state"] == "done", done["error"]
        assert done["result"]["updated"] == people
        assert done["result"]["added"] == ROWS - people
        assert status(client, job)["state"] == "interrupted"   # the old one stays as it was
    assert book(env) == (ROWS, ROWS, ROWS, ROWS)
    assert not list((Path(env["HUB_DATA_DIR"]) / "uploads").iterdir())   # upload removed


def test_the_hub_keeps_serving_while_a_big_import_runs(served, tmp_path):
    env, token = served
    api = {"Authorization": f"Bearer {token}"}
    with HubServe(env, tmp_path / "serve.log") as hub, owner(hub.url) as client:
        job = job_of(upload(client, big_csv()))
        wait_until(lambda: status(client, job)["done"] > 0, timeout=300,
                   what="the import to be under way")
        answered_during = []
        for i in range(5):
            health = httpx.get(f"{hub.url}/healthz", timeout=60)
            assert health.status_code == 200 and health.json()["database"] == "ok"
            post = httpx.post(f"{hub.url}/api/posts", headers=api, timeout=60,
                              json={"text": f"still here {i}", "audiences": ["friends"]})
            assert post.status_code in (200, 201, 202), post.text
            answered_during.append(status(client, job)["state"] == "running")
        post_id = post.json()["id"]

        def feed_published() -> bool:
            shown = httpx.get(f"{hub.url}/api/posts/{post_id}", headers=api, timeout=60).json()
            return any(d["target"] == "friends-feed" and d["status"] == "published"
                       for d in shown["deliveries"])

        wait_until(feed_published, timeout=120, what="the worker to publish to the feed")
        worker_during = status(client, job)["state"] == "running"
        assert answered_during == [True] * 5   # each answered before the import finished
        assert worker_during
        done = wait_state(client, job, "done", "failed")
        assert done["state"] == "done", done["error"]
        assert (done["done"], done["total"], done["result"]["added"]) == (ROWS, ROWS, ROWS)
        listing = client.get("/jobs")
        assert listing.status_code == 200 and f'data-job="{job}"' in listing.text
    assert book(env) == (ROWS, ROWS, ROWS, ROWS)
