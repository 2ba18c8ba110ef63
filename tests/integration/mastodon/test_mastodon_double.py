"""The double earns trust: it catches contract violations, and it behaves like Mastodon where
the hub depends on it (idempotency, visibility, length, rate limits, paging, media)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
import pytest

from tests.mastodon_double.contract import DEFAULT_SPEC, PATCHES, Contract, _get

pytestmark = pytest.mark.integration


def _api(double, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=double.base, headers=headers, timeout=10)


def test_requests_outside_the_contract_are_recorded_as_violations(double):
    owner = double.local("hub", scopes=("write:statuses",))
    with _api(double, owner.token) as api:
        api.post("/api/v1/statuses", data={"status": "x", "visibility": "secret", "color": "red"})
        api.get("/api/v1/accounts/1/followers", params={"limit": "many"})
        api.get("/api/v1/no/such/thing")
    found = double.violations()
    assert any("body field 'color' is not in the spec" in v for v in found)
    assert any("visibility: 'secret' is not one of" in v for v in found)
    assert any("query limit: (root): 'many' is not of type 'integer'" in v for v in found)
    assert any("GET /api/v1/no/such/thing: no such operation" in v for v in found)


def test_responses_outside_the_contract_are_caught():
    """The same checker rejects a response that breaks the schema or the declared codes."""
    contract = Contract()
    op = contract.operation("GET", "/api/v1/statuses/1")
    bad = contract.check_response(op, 200, {"X-RateLimit-Reset": "tomorrow"},
                                  json.dumps({"id": 1}).encode(), "application/json",
                                  injected=False)
    assert any("X-RateLimit-Reset: 'tomorrow' is not a 'date-time'" in v for v in bad)
    assert any("'account' is a required property" in v for v in bad)
    assert contract.check_response(op, 418, {}, b"{}", "application/json", injected=False)


def test_every_spec_patch_still_fixes_a_defect_of_the_published_spec():
    """When upstream fixes one, its patch must go (and this test says which)."""
    raw = json.loads(DEFAULT_SPEC.read_text())
    for pointer, replacement, reason in PATCHES:
        parent, _, last = pointer.rpartition("/")
        holder = _get(raw, parent)
        current = holder.get(last.replace("~1", "/"))
        assert current != replacement, f"fixed upstream, drop the patch: {reason}"


def test_idempotency_key_replays_per_account_and_only_after_success(double):
    a = double.local("alice", scopes=("write",))
    b = double.local("bob", scopes=("write",))
    with _api(double, a.token) as alice, _api(double, b.token) as bob:
        key = {"Idempotency-Key": "k1"}
        refused = alice.post("/api/v1/statuses", headers=key,
                             data={"status": "x" * 501, "visibility": "public"})
        assert refused.status_code == 422
        first = alice.post("/api/v1/statuses", headers=key,
                           data={"status": "first", "visibility": "public"}).json()
        again = alice.post("/api/v1/statuses", headers=key,
                           data={"status": "different", "visibility": "public"}).json()
        other = bob.post("/api/v1/statuses", headers=key,
                         data={"status": "bob's", "visibility": "public"}).json()
    assert again["id"] == first["id"] and again["content"] == "<p>first</p>"
    assert other["id"] != first["id"]
    assert len(double.live()) == 2


def test_visibility_decides_who_can_read(double):
    owner = double.local("hub", scopes=("write", "read"))
    fan = double.local("fan", scopes=("read",))
    pal = double.local("pal", scopes=("read",))
    stranger = double.local("stranger", scopes=("read",))
    double.follow(fan, owner)
    with _api(double, owner.token) as api:
        ids = {v: api.post("/api/v1/statuses", data={"status": f"{v} @pal", "visibility": v}
                           ).json()["id"] for v in ("public", "unlisted", "private", "direct")}
    readable = {}
    for who in (fan, pal, stranger):
        with _api(double, who.token) as api:
            readable[who.acct.split("@")[0]] = sorted(
                v for v, i in ids.items() if api.get(f"/api/v1/statuses/{i}").status_code == 200)
    assert readable == {"fan": ["private", "public", "unlisted"],
                        "pal": ["direct", "private", "public", "unlisted"],
                        "stranger": ["public", "unlisted"]}


def test_length_counts_links_as_23_and_mentions_without_domain(double):
    owner = double.local("hub", scopes=("write",))
    double.account("someone_far", "very.long.domain.example")
    text = "@someone_far@very.long.domain.example " + "https://example.org/" + "x" * 200
    with _api(double, owner.token) as api:
        ok = api.post("/api/v1/statuses", data={"status": text, "visibility": "direct"})
    assert ok.status_code == 200
    assert double.live()[0]["length"] == len("@someone_far ") + 23


def test_rate_limit_headers_on_every_response_and_429_when_spent(double):
    owner = double.local("hub", scopes=("read",))
    double.configure(ratelimit_limit=2, ratelimit_window=60)
    with _api(double, owner.token) as api:
        answers = [api.get("/api/v1/accounts/verify_credentials") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["1", "0", "0"]
    reset = answers[2].headers["X-RateLimit-Reset"]
    assert reset.endswith("Z") and len(reset.split(".")[1]) == 7   # microseconds
    assert datetime.fromisoformat(reset.replace("Z", "+00:00"))
    assert answers[2].json() == {"error": "Too many requests"}


def test_followers_page_through_link_headers_at_most_80(double):
    owner = double.local("hub", scopes=("read",))
    for i in range(81):
        double.follow(double.account(f"f{i}", "example.social"), owner)
    with _api(double, owner.token) as api:
        first = api.get(f"/api/v1/accounts/{owner.id}/followers", params={"limit": 200})
        second = api.get(first.links["next"]["url"])
        third = api.get(second.links["next"]["url"]) if "next" in second.links else None
    assert len(first.json()) == 80 and len(second.json()) == 1 and third is None
    assert {a["acct"] for a in first.json() + second.json()} == \
        {f"f{i}@example.social" for i in range(81)}


def test_media_is_accepted_with_202_and_refused_in_a_post_until_processed(double):
    owner = double.local("hub", scopes=("write",))
    double.configure(media_processing_polls=1)
    with _api(double, owner.token) as api:
        upload = api.post("/api/v2/media", files={"file": ("a.png", b"png", "image/png")},
                          data={"description": "alt"})
        media_id = upload.json()["id"]
        early = api.post("/api/v1/statuses", data={"media_ids[]": media_id,
                                                   "visibility": "public"})
        polls = [api.get(f"/api/v1/media/{media_id}").status_code for _ in range(2)]
        late = api.post("/api/v1/statuses", data={"media_ids[]": media_id,
                                                  "visibility": "public"})
    assert upload.status_code == 202 and upload.json()["url"] is None
    assert early.status_code == 422 and "not finished processing" in early.json()["error"]
    assert polls == [206, 200]
    assert late.status_code == 200


def test_idempotency_keys_expire_after_the_window(double):
    """Mastodon keeps a key for an hour; past the window the same key posts again."""
    owner = double.local("hub", scopes=("write",))
    double.configure(idempotency_ttl=0.3)
    with _api(double, owner.token) as api:
        key = {"Idempotency-Key": "k2"}
        first = api.post("/api/v1/statuses", headers=key, data={"status": "a",
                                                                "visibility": "public"})
        time.sleep(0.4)
        later = api.post("/api/v1/statuses", headers=key, data={"status": "a",
                                                                "visibility": "public"})
    assert first.json()["id"] != later.json()["id"]


def test_quote_policy_is_kept_forced_to_nobody_when_private_and_changed_by_its_endpoint(double):
    """``quote_approval_policy`` on create, edit and ``PUT …/interaction_policy`` (Mastodon
    4.5): private and direct posts are always ``nobody`` whatever was asked."""
    owner = double.local("hub", scopes=("write",))
    with _api(double, owner.token) as api:
        public = api.post("/api/v1/statuses", data={"status": "a", "visibility": "public",
                                                     "quote_approval_policy": "followers"})
        private = api.post("/api/v1/statuses", data={"status": "b", "visibility": "private",
                                                      "quote_approval_policy": "public"})
        opened = api.put(f"/api/v1/statuses/{private.json()['id']}/interaction_policy",
                         json={"quote_approval_policy": "public"})
        closed = api.put(f"/api/v1/statuses/{public.json()['id']}/interaction_policy",
                         json={"quote_approval_policy": "nobody"})
        edited = api.put(f"/api/v1/statuses/{public.json()['id']}",
                         json={"status": "a2", "quote_approval_policy": "public"})
        bad = api.put(f"/api/v1/statuses/{public.json()['id']}/interaction_policy",
                      json={"quote_approval_policy": "everyone"})
    assert public.json()["quote_approval"]["automatic"] == ["followers"]
    assert private.json()["quote_approval"]["automatic"] == []
    assert opened.status_code == 200 and opened.json()["quote_approval"]["automatic"] == []
    assert closed.json()["quote_approval"]["automatic"] == []
    assert edited.json()["quote_approval"]["automatic"] == ["public"]
    assert bad.status_code == 422
    stored = {s["text"]: s["quote_approval_policy"] for s in double.statuses()}
    assert stored == {"a2": "public", "b": "nobody"}


def test_an_edit_changes_media_descriptions_through_media_attributes(double):
    owner = double.local("hub", scopes=("write",))
    with _api(double, owner.token) as api:
        upload = api.post("/api/v2/media", files={"file": ("a.png", b"png", "image/png")},
                          data={"description": "old alt"})
        media_id = upload.json()["id"]
        status = api.post("/api/v1/statuses", data={"status": "pic", "visibility": "public",
                                                    "media_ids[]": media_id}).json()
        edited = api.put(f"/api/v1/statuses/{status['id']}", json={
            "status": "pic", "media_ids": [media_id],
            "media_attributes": [{"id": media_id, "description": "new alt"}]})
        stranger = api.put(f"/api/v1/statuses/{status['id']}", json={
            "status": "pic", "media_attributes": [{"id": "1", "description": "x"}]})
    assert edited.status_code == 200
    assert edited.json()["media_attachments"][0]["description"] == "new alt"
    assert stranger.status_code == 422
    assert double.statuses()[0]["media"] == [{"id": media_id, "description": "new alt"}]
