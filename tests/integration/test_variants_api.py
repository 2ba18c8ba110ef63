"""Per-network variants and threads through the real HTTP API: each target is judged on, and
gets, exactly the text written for it; the audit records each copy's text digest; a bad variant
is a 400 with its reason; an edit of a post written as a thread is refused with a 409 (posts with
one-text variants can be edited: ``test_edits_variants.py``)."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from sqlmodel import select

from hub.audit.sequencer import sequence_pending
from hub.store.tables import AuditRow
from tests.integration import test_http

pytestmark = pytest.mark.integration
live = test_http.live


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _events(hub, name: str) -> list[dict]:
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        rows = s.exec(select(AuditRow).where(AuditRow.name == name)).all()
        return [dict(r.payload) for r in rows]


def test_a_private_tag_only_in_the_bluesky_variant_denies_bluesky_only(live, fakes):
    hub, server, token = live
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth) as client:
        r = client.post("/api/posts", json={
            "text": "a clean walk", "audiences": ["public"],
            "variants": {"bluesky": "a walk #private"}})
        assert r.status_code == 202, r.text
        body = r.json()
        outcomes = {d["target"]: d["outcome"] for d in body["decisions"]}
        assert outcomes["bsky"] == "deny" and outcomes["masto-public"] == "allow"
        assert body["variants"] == ["bluesky"]
        test_http._wait_done(client, body["id"], token)
    assert fakes["bluesky:me"].published == {}
    [sent] = fakes["mastodon:main"].published.values()
    assert sent.parts == ("a clean walk",)


def test_a_clean_variant_goes_where_it_was_written_and_the_audit_says_which(live, fakes):
    hub, server, token = live
    auth = {"Authorization": f"Bearer {token}"}
    long_text = "A longer text for Mastodon. " * 12
    with httpx.Client(base_url=server.url, headers=auth) as client:
        r = client.post("/api/posts", json={
            "text": "the main text", "audiences": ["public"],
            "variants": {"bluesky": "short for Bluesky", "masto-public": long_text}})
        assert r.status_code == 202, r.text
        done = test_http._wait_done(client, r.json()["id"], token)
    assert {d["status"] for d in done["deliveries"]} == {"published"}
    [bsky] = fakes["bluesky:me"].published.values()
    [masto] = fakes["mastodon:main"].published.values()
    assert bsky.parts == ("short for Bluesky",)
    assert masto.parts == (long_text.strip(),)
    [submitted] = _events(hub, "PostSubmitted")
    assert submitted["variants"] == {"bluesky": _sha("short for Bluesky"),
                                     "masto-public": _sha(long_text.strip())}
    carried = {e["target"]: (e["text_sha256"], e["variant"])
               for e in _events(hub, "DeliverySucceeded")}
    assert carried == {"bsky": (_sha("short for Bluesky"), "bluesky"),
                       "masto-public": (_sha(long_text.strip()), "masto-public")}


def test_a_thread_is_judged_part_by_part_and_sent_as_parts(live, fakes):
    hub, server, token = live
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth) as client:
        r = client.post("/api/posts", json={"thread": ["part one", "part two #private"],
                                             "audiences": ["public", "friends"]})
        assert r.status_code == 202, r.text
        outcomes = {d["target"]: d["outcome"] for d in r.json()["decisions"]}
        assert outcomes["bsky"] == outcomes["masto-public"] == "deny"
        assert outcomes["friends-mail"] == "allow"
        r = client.post("/api/posts", json={"thread": ["part one", "part two"],
                                             "audiences": ["public"]})
        assert r.status_code == 202, r.text
        assert r.json()["thread_parts"] == 2
        test_http._wait_done(client, r.json()["id"], token)
    [bsky] = fakes["bluesky:me"].published.values()
    assert bsky.parts == ("part one", "part two")


@pytest.mark.parametrize(("body", "words"), [
    ({"text": "x", "audiences": ["public"], "variants": {"blusky": "typo"}},
     "variant for 'blusky': the policy has no target or network of that name"),
    ({"text": "x", "audiences": ["public"], "variants": {"bluesky": "  "}},
     "the bluesky variant part 1 is empty"),
    ({"text": "x", "audiences": ["public"], "thread": ["a", ""]},
     "the thread part 2 is empty"),
    ({"text": "other", "audiences": ["public"], "thread": ["a", "b"]},
     "give the text or its thread, not both"),
    ({"text": "x", "audiences": ["public"], "variants": {"bluesky": "a\x00b"}},
     "NUL"),
    ({"audiences": ["public"], "thread": [f"p{i}" for i in range(26)]},
     "thread"),
])
def test_a_bad_variant_or_thread_is_a_400_with_its_reason(live, body, words):
    hub, server, token = live
    r = httpx.post(f"{server.url}/api/posts", json=body,
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (400, 422), r.text
    assert words in r.json()["detail"], r.json()


def test_a_form_encoded_post_carries_variants_and_a_thread(live, fakes):
    """A phone shortcut's form: ``thread`` repeated, ``variants[bluesky]`` for one network."""
    hub, server, token = live
    r = httpx.post(f"{server.url}/api/posts", headers={"Authorization": f"Bearer {token}"},
                   data={"audiences": "public", "thread": ["one", "two #private"],
                         "variants[bluesky]": "clean for bluesky"})
    assert r.status_code == 202, r.text
    outcomes = {d["target"]: d["outcome"] for d in r.json()["decisions"]}
    assert outcomes == {**outcomes, "bsky": "allow", "masto-public": "deny"}
    with httpx.Client(base_url=server.url) as client:
        test_http._wait_done(client, r.json()["id"], token)
    [bsky] = fakes["bluesky:me"].published.values()
    assert bsky.parts == ("clean for bluesky",)
    assert fakes["mastodon:main"].published == {}


def test_editing_a_post_with_a_thread_variant_is_refused_with_the_reason(live):
    hub, server, token = live
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth) as client:
        r = client.post("/api/posts", json={"text": "main", "audiences": ["friends"],
                                             "variants": {"email": ["part 1", "part 2"]}})
        assert r.status_code == 202, r.text
        post_id = r.json()["id"]
        edit = client.patch(f"/api/posts/{post_id}", content=json.dumps({"text": "changed"}),
                            headers={"Content-Type": "application/json"})
    assert edit.status_code == 409, edit.text
    assert "cannot edit threads" in edit.json()["detail"]
