"""Before and after sending, the hub says which targets will not get a post and why: the API
answers ``warnings`` and a one-line ``summary``; ``hub post`` prints them and exits non-zero
when nothing can be delivered."""

from __future__ import annotations

import json

import httpx
import pytest

from hub.services.approvals import retry
from hub.services.posts import list_posts
from tests.integration import test_http
from tests.integration.test_cli import env, hub  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
live = test_http.live


def test_api_answers_warnings_and_a_summary_for_a_phone_shortcut(live):
    hub_, server, token = live
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth) as client:
        r = client.post("/api/posts", json={"text": "x" * 400, "audiences": ["public"]})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["deliverable"] is True
        assert body["summary"].startswith("Sending to 1 of 2 targets: masto-public")
        assert "bsky cannot carry it (bsky: text is 400 characters" in body["summary"]
        assert body["warnings"] == ["bsky: cannot carry it — bsky: text is 400 characters; "
                                    "bluesky:me takes 300"]

        r = client.post("/api/posts", json={"text": "home", "audiences": ["public"],
                                             "tags": ["private"]})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["deliverable"] is False and body["deliveries"] == []
        assert body["summary"].startswith("Nothing can be delivered: bsky stopped (")
        assert [w.split(":")[0] for w in body["warnings"]] == ["bsky", "masto-public"]
        assert all("stopped by the policy" in w for w in body["warnings"])

        r = client.post("/api/posts", json={"text": "hi", "audiences": ["friends"]})
        body = r.json()
        assert body["warnings"] == [] and body["deliverable"] is True
        assert body["summary"] == "Sending to 2 of 2 targets: friends-feed, friends-mail"
    assert len(list_posts(hub_)) == 3


def test_cli_prints_warnings_and_fails_when_nothing_can_be_delivered(env):  # noqa: F811
    hub("init")
    out = hub("post", "home", "--audience", "public", "--tag", "private", code=1)
    assert "! bsky: stopped by the policy" in out
    assert "! masto-public: stopped by the policy" in out
    assert "Nothing can be delivered: bsky stopped" in out
    data = json.loads(hub("post", "home", "--audience", "public", "--tag", "private", "--json",
                          code=1))
    assert data["deliverable"] is False and len(data["warnings"]) == 2
    out = hub("post", "dinner at 8", "--audience", "friends")
    assert "Sending to 2 of 2 targets" in out and "!" not in out


def test_cli_warns_while_hub_public_url_is_unset(env, monkeypatch):  # noqa: F811
    hub("init")
    out = hub("token", "create", "--name", "phone", "--scope", "post", "--audiences", "friends")
    assert "Phone shortcut: POST http://127.0.0.1:" in out
    assert "warning: HUB_PUBLIC_URL is not set" in out
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://hub.example.org")
    out = hub("token", "create", "--name", "phone2", "--scope", "post")
    assert "POST https://hub.example.org/api/posts" in out and "warning" not in out


def test_a_retried_delivery_drops_its_old_failure_reason(live):
    hub_, server, token = live
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/posts", json={"text": "try again", "audiences": ["friends"]},
                        headers={"Authorization": f"Bearer {token}"})
        done = test_http._wait_done(client, r.json()["id"], token)
    [failed] = [d for d in done["deliveries"] if d["status"] == "failed"]
    assert "hub accounts add email personal" in failed["reason"]
    again = next(d for d in retry(hub_, failed["id"]).deliveries if d.id == failed["id"])
    assert (again.status, again.reason) == ("pending", "")


def test_policy_check_names_every_problem_and_an_empty_account_list_says_so(env, policy_dir):  # noqa: F811
    hub("init")
    assert "no accounts connected yet: add one with `hub accounts add" in hub("accounts", "list")
    (policy_dir / "hub.yaml").write_text(
        "version: 1\naccounts: [email:personal]\ntargets:\n"
        "  a:\n    account: email:personal\n    list: friends\n    colour: red\n"
        "    size: 2\naudiences: {friends: {reach: recipients, targets: [a]}}\n")
    out = hub("policy", "check", code=1)
    assert "hub.yaml:7: target 'a': unknown key 'colour'" in out
    assert "(and 1 more problem)" in out
    assert "also policies/hub.yaml:8: target 'a': unknown key 'size'" in out
