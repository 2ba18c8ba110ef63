"""Audience-limited tokens over real HTTP (issue 11 items 1 and 5): a token allowed only some
audiences can neither release, retry nor read posts that reach others, and the audit answers
it gets are limited the same way; an unlimited token sees everything."""

from __future__ import annotations

import pytest

from hub.bootstrap import Mode
from hub.services.tokens import create_token
from tests.integration.conftest import bearer as _client
from tests.integration.test_http import LiveServer
from web.app import create_app

pytestmark = pytest.mark.integration


def test_a_friends_token_cannot_release_a_held_public_post(api):
    _, server, tokens = api
    with _client(server, tokens["owner"]) as owner, _client(server, tokens["friends"]) as phone:
        held = owner.post("/api/posts", json={"text": "work news", "audiences": ["public"],
                                              "tags": ["work"]}).json()
        assert {d["status"] for d in held["deliveries"]} == {"held"}
        r = phone.post(f"/api/posts/{held['id']}/approve")
        assert r.status_code == 403 and "friends only" in r.json()["detail"]
        assert {d["status"] for d in owner.get(f"/api/posts/{held['id']}").json()
                ["deliveries"]} == {"held"}                      # it did not go out
        released = owner.post(f"/api/posts/{held['id']}/approve")
        assert released.status_code == 200


def test_a_friends_token_reads_only_friends_posts_and_their_audit(api):
    _, server, tokens = api
    with _client(server, tokens["owner"]) as owner, _client(server, tokens["friends"]) as phone:
        clients = owner.post("/api/posts", json={"text": "for clients",
                                                 "audiences": ["clients"]}).json()
        mine = phone.post("/api/posts", json={"text": "for friends",
                                              "audiences": ["friends"]}).json()
        assert phone.get(f"/api/posts/{clients['id']}").status_code == 403
        assert phone.get(f"/api/posts/{mine['id']}").status_code == 200
        assert [p["id"] for p in phone.get("/api/posts").json()] == [mine["id"]]
        assert {p["id"] for p in owner.get("/api/posts").json()} == {mine["id"], clients["id"]}
        r = phone.get(f"/api/audit/posts/{clients['id']}")
        assert r.status_code == 403 and "cy@clients.example" not in r.text
        assert phone.get(f"/api/audit/posts/{mine['id']}").status_code == 200
        refused = phone.get("/api/audit/export")
        assert refused.status_code == 403 and "cy@clients.example" not in refused.text
        assert owner.get("/api/audit/export").status_code == 200
        cy = phone.get("/api/audit/people/Cy")          # filtered: nothing of the clients post
        assert cy.status_code == 200 and "cy@clients.example" not in cy.text
        assert clients["id"] not in cy.text and cy.json()["posts"] == []
        delivery = clients["deliveries"][0]["id"]
        for path in (f"/api/deliveries/{delivery}/retry", f"/api/deliveries/{delivery}/cancel"):
            assert phone.post(path).status_code == 403
        assert phone.delete(f"/api/posts/{clients['id']}").status_code == 403
        assert owner.get(f"/api/posts/{clients['id']}").json()["status"] != "deleted"


def test_the_token_that_wrote_a_held_post_cannot_release_it_under_the_shipped_rule(
        make_runtime, sqlite_url, policy_dir):
    """``approval: {separate_approver: tokens}`` (the shipped policy's choice): the owner or
    another token releases a token's held post, never the token that wrote it."""
    from adapters import TARGET_SPECS
    from hub.policy.loader import load_policy
    from tests.conftest import ROOT

    assert load_policy(ROOT / "policies", TARGET_SPECS).separate_approver == "tokens"
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text() + "approval: {separate_approver: tokens}\n")
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    writer = create_token(hub, "writer", ["post", "read", "approve"])[1]
    other = create_token(hub, "other", ["read", "approve"])[1]
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server, \
            _client(server, writer) as phone, _client(server, other) as second:
        held = phone.post("/api/posts", json={"text": "work news", "audiences": ["public"],
                                              "tags": ["work"]}).json()
        r = phone.post(f"/api/posts/{held['id']}/approve")
        assert r.status_code == 403 and "someone other than its author" in r.json()["detail"]
        assert {d["status"] for d in phone.get(f"/api/posts/{held['id']}").json()
                ["deliveries"]} == {"held"}
        assert second.post(f"/api/posts/{held['id']}/approve").status_code == 200
