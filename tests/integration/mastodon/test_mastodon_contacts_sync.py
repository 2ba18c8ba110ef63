"""Contact sync from Mastodon as the owner runs it: ``hub contacts sync`` killed with SIGKILL
halfway and run again (no duplicates, no false losses), a 429 waited out by itself (the
double's ``X-RateLimit-Reset``, as the contract declares it), and profile fields (rel=me)
feeding the people-to-sort inbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import adapters.mastodon
from adapters.mastodon import connect
from adapters.mastodon.contacts import build
from hub.ports import Connection, ContactDirection
from hub.services import jobs
from hub.services.accounts import connect_account
from hub.services.contacts import relationships, sync_account, sync_states
from hub.services.contacts_inbox import inbox
from hub.services.people import NewPerson, add_person
from tests.conftest import ROOT, wait_until
from tests.integration.mastodon.conftest import Acct

pytestmark = pytest.mark.integration
FOLLOWERS = "/api/v1/accounts/*/followers"


def _account(double: Any, username: str, domain: str, **extra: Any) -> Acct:
    data = double.http.post("/_double/accounts", json={
        "username": username, "domain": domain, **extra}).json()
    return Acct(data["id"], data["acct"], data["token"])


async def _connected(hub: Any, double: Any, owner: Acct) -> None:
    await connect_account(hub, "mastodon:main", {"instance": double.base,
                                                 "request_timeout": 5.0},
                          str(owner.token), adapters.mastodon.connect)


def _state(hub: Any) -> Any:
    return next((s for s in sync_states(hub) if s.direction == "followers"), None)


async def test_hub_contacts_sync_killed_mid_sync_resumes_without_duplicates(
        database_url, make_hub, double, hub_scopes, tmp_path, policy_dir):
    """The CLI writes page one, blocks on page two (the double holds it), gets SIGKILL; the
    second run asks for page two with the kept cursor and ends with each follower once."""
    hub = make_hub(database_url)
    owner = double.local("hub", scopes=hub_scopes)
    fans = [double.account(f"fan{i}", "example.social") for i in range(170)]
    for fan in fans:
        double.follow(fan, owner)
    await _connected(hub, double, owner)
    double.fault("delay", path=FOLLOWERS, seconds=20.0, query="max_id")
    env = {**os.environ, "HUB_DATA_DIR": str(tmp_path / "var"), "HUB_DATABASE_URL":
           database_url, "HUB_POLICY_DIR": str(policy_dir),
           "HUB_SECRET_KEY": "test-secret-key-not-for-production"}
    cmd = [sys.executable, "-m", "hub.entrypoints.cli", "contacts", "sync", "mastodon:main"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: (_state(hub) is not None and _state(hub).pages == 1
                            and any("max_id" in r["query"] for r in double.requests())),
                   timeout=60, what="page one written and page two asked for")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    half = _state(hub)
    assert (half.status, half.pages, half.seen) == ("running", 1, 80)
    cursor = half.cursor
    assert cursor is not None and len(relationships(hub, "mastodon:main")) == 80

    before = len(double.requests())
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "followers: done, 170 seen, 170 new, 0 gone" in done.stdout
    first = next(r for r in double.requests()[before:] if r["path"].endswith("/followers"))
    assert first["query"]["max_id"] == cursor
    rows = relationships(hub, "mastodon:main")
    assert sorted(r.address for r in rows) == sorted(f.address for f in fans)
    state = _state(hub)
    assert (state.status, state.pages, state.seen, state.new, state.lost) == \
        ("done", 3, 170, 170, 0)
    assert relationships(hub, "mastodon:main", lost=True) == []
    second, killed = jobs.recent(hub, kinds=["contacts-sync"])      # newest first
    assert (second.state, second.done) == ("done", 170)
    assert killed.state == "interrupted" and "re-run it to finish" in (killed.error or "")


async def test_a_429_is_waited_out_until_the_reset_and_the_page_asked_again(
        database_url, make_hub, double, hub_scopes):
    hub = make_hub(database_url)
    owner = double.local("hub", scopes=hub_scopes)
    for i in range(100):
        double.follow(double.account(f"fan{i}", "example.social"), owner)
    settings, secret = await connect({"instance": double.base, "request_timeout": 5.0},
                                     str(owner.token))
    reader = build(Connection("mastodon:main", settings, secret))
    double.fault("ratelimit", path=FOLLOWERS, query="max_id", reset_in=1.0)
    seen: list[Any] = []
    try:
        [result] = await sync_account(hub, "mastodon:main", reader, progress=seen.append,
                                      directions=[ContactDirection.FOLLOWERS])
    finally:
        await reader.aclose()
    assert (result.done, result.seen, result.pages) == (True, 100, 2)
    waits = [p for p in seen if p.waiting_until is not None]
    assert len(waits) == 1 and waits[0].seen == 80
    pages = [r for r in double.requests() if r["path"].endswith("/followers")]
    assert [r["status"] for r in pages] == [200, 429, 200]
    assert pages[1]["query"]["max_id"] == pages[2]["query"]["max_id"]
    assert pages[2]["at"] - pages[1]["at"] >= 0.9        # asked again only after the reset
    assert len(relationships(hub, "mastodon:main")) == 100


def test_the_double_sends_the_rate_limit_headers_on_a_429(double, hub_scopes):
    """Mastodon answers a throttled call with X-RateLimit-Limit/-Remaining/-Reset (ISO 8601):
    the reset the hub waits for."""
    owner = double.local("hub", scopes=hub_scopes)
    double.fault("ratelimit", path=FOLLOWERS, reset_in=5.0)
    answer = httpx.get(f"{double.base}/api/v1/accounts/{owner.id}/followers",
                       headers={"Authorization": f"Bearer {owner.token}"})
    assert answer.status_code == 429 and answer.headers["X-RateLimit-Remaining"] == "0"
    reset = datetime.fromisoformat(answer.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    assert 3 < (reset - datetime.now(UTC)).total_seconds() <= 5.5


async def test_profile_fields_linking_to_a_known_identity_are_suggestions(
        database_url, make_hub, double, hub_scopes):
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana Lima", [("bluesky", "ana.example.org")]))
    add_person(hub, NewPerson("Bo Brand", [("email", "bo@brand.example")]))
    owner = double.local("hub", scopes=hub_scopes)
    ana = _account(double, "ana", "other.social", display_name="A. L.", fields=[
        {"name": "Bluesky", "verified_at": "2026-11-01T10:00:00.000Z",
         "value": '<a href="https://bsky.app/profile/ana.example.org" rel="me nofollow '
                  'noopener" target="_blank">bsky.app/profile/ana.example.org</a>'}])
    bo = _account(double, "bo", "other.social", fields=[
        {"name": "Web", "value": '<a href="https://www.brand.example/" rel="me">brand</a>',
         "verified_at": None}])
    cy = _account(double, "cy", "other.social", fields=[
        {"name": "Pronouns", "value": "they/them", "verified_at": None}])
    for who in (ana, bo, cy):
        double.follow(who, owner)
    settings, secret = await connect({"instance": double.base}, str(owner.token))
    reader = build(Connection("mastodon:main", settings, secret))
    try:
        await sync_account(hub, "mastodon:main", reader)
    finally:
        await reader.aclose()
    box = {u.address: u for u in inbox(hub)}
    [by_link] = box[ana.address].suggestions
    assert by_link.name == "Ana Lima"
    assert by_link.reason == ("verified profile link to bluesky:ana.example.org, "
                              "which is theirs")
    [by_site] = box[bo.address].suggestions
    assert by_site.name == "Bo Brand" and "email domain" in by_site.reason
    assert "verified" not in by_site.reason
    assert box[cy.address].suggestions == ()
