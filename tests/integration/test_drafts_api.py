"""Drafts and the queue's changes over real HTTP (issue 17 item 2, issue 14 item 3): a token
limited to one audience cannot edit, approve or cancel posts of another (403), nor see another's
drafts; a draft is never routed before it is sent, and a draft holding a denied tag is denied
when sent exactly as the same post would be; bad draft input is a 4xx with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from hub.services.tokens import create_token
from hub.store.tables import DeliveryRow, PostRow
from tests.integration.conftest import bearer as _client

pytestmark = pytest.mark.integration


def _counts(hub) -> tuple[int, int]:
    with hub.db.read() as s:
        return (s.exec(select(func.count()).select_from(PostRow)).one(),
                s.exec(select(func.count()).select_from(DeliveryRow)).one())


def test_a_friends_token_cannot_edit_approve_or_cancel_a_public_post(api):
    hub, server, tokens = api
    later = (hub.now() + timedelta(days=2)).isoformat()
    with _client(server, tokens["owner"]) as owner, _client(server, tokens["friends"]) as phone:
        held = owner.post("/api/posts", json={"text": "work news", "audiences": ["public"],
                                              "tags": ["work"], "schedule_at": later}).json()
        assert {d["status"] for d in held["deliveries"]} == {"held"}
        pid = held["id"]
        edit = phone.patch(f"/api/posts/{pid}", json={"text": "changed by the phone"})
        assert edit.status_code == 403 and "friends only" in edit.json()["detail"]
        moved = phone.patch(f"/api/posts/{pid}", json={"schedule_at": later})
        assert moved.status_code == 403
        assert phone.post(f"/api/posts/{pid}/approve").status_code == 403
        for d in held["deliveries"]:
            assert phone.post(f"/api/deliveries/{d['id']}/cancel").status_code == 403
        after = owner.get(f"/api/posts/{pid}").json()
        assert {d["status"] for d in after["deliveries"]} == {"held"}      # nothing changed
        assert owner.get(f"/api/posts/{pid}").json()["schedule_at"] == held["schedule_at"]


def test_drafts_stay_with_their_token_and_inside_its_audiences(api):
    _, server, tokens = api
    with _client(server, tokens["owner"]) as owner, _client(server, tokens["friends"]) as phone:
        mine = owner.post("/api/drafts", json={"text": "owner's plans",
                                               "audiences": ["clients"]})
        assert mine.status_code == 201
        did = mine.json()["id"]
        for r in (phone.get(f"/api/drafts/{did}"), phone.patch(f"/api/drafts/{did}", json={
                "text": "x"}), phone.delete(f"/api/drafts/{did}"),
                phone.post(f"/api/drafts/{did}/send")):
            assert r.status_code == 404 and "owner's plans" not in r.text
        assert did not in phone.get("/api/drafts").text
        wide = phone.post("/api/drafts", json={"text": "hi", "audiences": ["clients"]})
        assert wide.status_code == 403 and "not to clients" in wide.json()["detail"]
        own = phone.post("/api/drafts", json={"text": "hi", "audiences": ["friends"]})
        assert own.status_code == 201
        widen = phone.patch(f"/api/drafts/{own.json()['id']}", json={"audiences": ["public"]})
        assert widen.status_code == 403
        assert owner.get(f"/api/drafts/{did}").json()["text"] == "owner's plans"


def test_a_draft_is_not_routed_until_sent_and_a_denied_tag_is_denied_like_a_post(api):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as owner:
        before = _counts(hub)
        draft = owner.post("/api/drafts", json={"text": "secret garden",
                                                "audiences": ["public", "friends"],
                                                "tags": ["private"]}).json()
        assert draft["sent"] is False and draft["tags"] == ["private"]
        patched = owner.patch(f"/api/drafts/{draft['id']}", json={"text": "secret garden!"})
        assert patched.json()["tags"] == ["private"]          # absent fields are kept
        assert _counts(hub) == before                         # no post, no delivery yet
        sent = owner.post(f"/api/drafts/{draft['id']}/send")
        assert sent.status_code == 202
        body = sent.json()
        direct = owner.post("/api/posts", json={"text": "secret garden!",
                                                "audiences": ["public", "friends"],
                                                "tags": ["private"]}).json()
        outcome = {d["target"]: d["outcome"] for d in body["decisions"]}
        assert outcome == {d["target"]: d["outcome"] for d in direct["decisions"]}
        assert outcome["bsky"] == "deny" and outcome["masto-public"] == "deny"
        assert {d["target"] for d in body["deliveries"]} == {"friends-mail", "friends-feed"}
        assert body["warnings"] == direct["warnings"] and body["warnings"]
        assert owner.get(f"/api/drafts/{draft['id']}").status_code == 404   # sent: gone
        assert owner.post(f"/api/drafts/{draft['id']}/send").status_code == 404


def test_a_draft_refused_when_sent_stays_a_draft(api):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as owner:
        empty = owner.post("/api/drafts", json={"audiences": ["friends"]}).json()
        r = owner.post(f"/api/drafts/{empty['id']}/send")
        assert r.status_code == 400 and "text is empty" in r.json()["detail"]
        assert owner.get(f"/api/drafts/{empty['id']}").status_code == 200
        nowhere = owner.post("/api/drafts", json={"text": "hello"}).json()
        r = owner.post(f"/api/drafts/{nowhere['id']}/send")
        assert r.status_code == 400 and "audience" in r.json()["detail"]
        assert owner.get(f"/api/drafts/{nowhere['id']}").status_code == 200


@pytest.mark.parametrize("body,word", [
    ({"text": "bell \x07 here"}, "U+0007"),
    ({"text": "x" * 50_001}, "50000"),
    ({"tags": ["bad!tag"]}, "tag"),
    ({"schedule_at": "2026-12-24T09:00:00"}, "time zone"),
    ({"media": [{"sha256": "z" * 64}]}, "sha256"),
    ({"audiences": ["a"] * 31}, "audiences"),
    ({"unknown": 1}, "unknown"),
])
def test_bad_drafts_are_refused_with_a_reason(api, body, word):
    _, server, tokens = api
    with _client(server, tokens["owner"]) as owner:
        r = owner.post("/api/drafts", json=body)
        assert 400 <= r.status_code < 500, r.text
        assert word in r.json()["detail"]
        assert owner.get("/api/drafts").json()["drafts"] == []


def test_a_draft_keeps_its_thread_and_variants_and_sending_judges_each_text(api):
    """Saved with a thread and a Bluesky text, read back whole, and sent: a #private typed only
    in the Bluesky variant denies Bluesky alone, as the same post would be."""
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as owner:
        draft = owner.post("/api/drafts", json={
            "thread": ["Part one of the news", "", "Part two of the news"],
            "variants": {"bluesky": "Short news #private",
                         "mastodon": ["Long part one", "Long part two"]},
            "audiences": ["public", "friends"]}).json()
        assert draft["thread"] == ["Part one of the news", "Part two of the news"]  # empty dropped
        assert draft["variants"] == {"bluesky": "Short news #private",
                                     "mastodon": ["Long part one", "Long part two"]}
        changed = owner.patch(f"/api/drafts/{draft['id']}", json={"tags": ["news"]}).json()
        assert changed["thread"] == draft["thread"] and changed["variants"] == draft["variants"]
        again = owner.get(f"/api/drafts/{draft['id']}").json()
        assert again["thread"] == draft["thread"] and again["variants"] == draft["variants"]
        sent = owner.post(f"/api/drafts/{draft['id']}/send")
        assert sent.status_code == 202
        outcome = {d["target"]: d["outcome"] for d in sent.json()["decisions"]}
        assert outcome["bsky"] == "deny"
        assert outcome["masto-public"] == "allow" and outcome["friends-mail"] == "allow"
        post = owner.get(f"/api/posts/{sent.json()['id']}").json()
        assert post["thread_parts"] == 2 and sorted(post["variants"]) == ["bluesky", "mastodon"]


@pytest.mark.parametrize("body,word", [
    ({"thread": ["ok", "bell \x07"]}, "U+0007"),
    ({"thread": ["x"] * 26}, "thread"),
    ({"variants": {" ": "text"}}, "variant"),
    ({"variants": {"bluesky": ["fine", "nul \x00"]}}, "NUL"),
])
def test_bad_draft_threads_and_variants_are_refused_with_a_reason(api, body, word):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as owner:
        r = owner.post("/api/drafts", json=body)
        assert 400 <= r.status_code < 500 and word in r.text, r.text
        assert owner.get("/api/drafts").json()["drafts"] == []


def test_two_live_tokens_cannot_share_a_name_so_they_cannot_share_drafts(api):
    """A token's drafts are its own by name: a second live token of the same name (which would
    read and send the first one's drafts) is refused; once the first is revoked, the name may
    be used again."""
    from hub.errors import Conflict
    from hub.services.tokens import revoke_token

    hub, _, _ = api
    first, _ = create_token(hub, "phone", ["post", "read"])
    with pytest.raises(Conflict, match="a token named 'phone' already exists"):
        create_token(hub, " phone ", ["post"], ["friends"])
    assert revoke_token(hub, " Phone ").id == first.id   # by name, as a duplicate is found
    again, _ = create_token(hub, "phone", ["post"])
    assert again.id != first.id
