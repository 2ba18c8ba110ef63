"""The audit API over real HTTP: pages that continue with a cursor, filters, a bad cursor or
date refused with 400, a streamed export with who could see each delivery, a checkpoint and a
proof that the standalone verifier accepts."""

from __future__ import annotations

import json

import httpx
import pytest

from hub.audit import verifier
from hub.services.tokens import create_token
from tests.integration.test_http import _wait_done, live  # noqa: F401  (the running hub)

pytestmark = pytest.mark.integration


def test_audit_api_pages_filters_exports_and_proves(live):  # noqa: F811
    hub, server, _ = live
    # the whole log spans every audience: only a token without an audience list pages a
    # person's total, exports and proves (tests/integration/test_token_scope.py: limited ones)
    _, token = create_token(hub, "auditor", ["post", "read", "audit"])
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth) as client:
        ids = []
        for i in range(3):
            post = client.post("/api/posts", json={"text": f"hi {i}", "audiences": ["friends"]})
            ids.append(post.json()["id"])
            _wait_done(client, ids[-1], token)
        first = client.get("/api/audit/people/Ana", params={"limit": 2}).json()
        assert first["count"] == 3 and len(first["posts"]) == 2 and first["next_cursor"]
        assert first["public"] == {"count": 0, "posts": [], "next_cursor": None}
        rest = client.get("/api/audit/people/Ana", params={"limit": 2,
                                                          "cursor": first["next_cursor"]})
        assert [p["post_id"] for p in first["posts"] + rest.json()["posts"]] == ids[::-1]
        none = client.get("/api/audit/people/Ana", params={"account": "mastodon:main"}).json()
        assert none["count"] == 0 and none["posts"] == []
        bad = client.get("/api/audit/people/Ana", params={"cursor": "garbage"})
        assert bad.status_code == 400 and bad.json()["field"] == "cursor"
        assert client.get("/api/audit/people/Ana", params={"since": "yesterday"}
                          ).status_code == 422
        assert client.get("/api/audit/people/Ana", params={"limit": 0}).status_code == 422

        with client.stream("GET", "/api/audit/export", params={"post": ids[0]}) as r:
            assert r.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(x) for x in r.iter_lines() if x]
        assert {e["post_id"] for e in lines} == {ids[0]}
        sent = next(e for e in lines if e["name"] == "DeliverySucceeded")
        assert sorted(p["name"] for p in sent["could_see"]) == ["Ana", "Bo"]   # in id order

        note = client.get("/api/audit/checkpoint").text
        proof = client.get(f"/api/audit/proofs/{ids[0]}").json()
        assert proof["checkpoint"] == note
        key = verifier.VerifierKey.parse(proof["verifier_key"])
        (event,) = verifier.verify_proof(proof, key)
        assert event["post_id"] == ids[0] and event["name"] == "DeliverySucceeded"
        assert client.get("/api/audit/proofs/nope").status_code == 404
        verify = client.get("/api/audit/verify").json()
        assert verify["ok"] and verify["checkpoints_checked"] >= 1


def test_a_limited_tokens_person_pages_and_counts_only_its_audiences(live):  # noqa: F811
    """The newest posts Ana got reach an audience outside the token's: its first page still
    fills with posts inside it, and the count is every such post, not what one page kept."""
    hub, server, _ = live
    _, owner = create_token(hub, "owner", ["post", "read", "audit"])
    _, friends = create_token(hub, "friends only", ["read", "audit"], ["friends"])
    with httpx.Client(base_url=server.url) as client:
        def send(audiences: list[str]) -> str:
            r = client.post("/api/posts", json={"text": f"to {audiences}",
                                                "audiences": audiences},
                            headers={"Authorization": f"Bearer {owner}"})
            assert r.status_code == 202, r.text
            _wait_done(client, r.json()["id"], owner)
            return str(r.json()["id"])

        inside = [send(["friends"]) for _ in range(3)]
        outside = [send(["friends", "clients"]) for _ in range(2)] + [send(["public"])]
        limited = {"Authorization": f"Bearer {friends}"}
        first = client.get("/api/audit/people/Ana", params={"limit": 2}, headers=limited).json()
        assert [p["post_id"] for p in first["posts"]] == inside[:0:-1]
        assert first["count"] == 3 and first["next_cursor"]
        assert first["public"]["count"] == 0 and first["public"]["posts"] == []
        rest = client.get("/api/audit/people/Ana", params={"limit": 2,
                                                          "cursor": first["next_cursor"]},
                          headers=limited).json()
        assert [p["post_id"] for p in rest["posts"]] == inside[:1] and rest["count"] == 3
        assert rest["next_cursor"] is None
        everything = client.get("/api/audit/people/Ana",
                                headers={"Authorization": f"Bearer {owner}"}).json()
        assert everything["count"] == 5 and everything["public"]["count"] == 2   # bsky, masto
        assert not set(outside) & {p["post_id"] for p in first["posts"] + rest["posts"]}
