"""Micropub through the whole hub: what each h-entry property becomes, the audiences a token may
choose, Micropub's errors, deletes, q=source, and a real Micropub client library from PyPI."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import micropub
import pytest

from hub.services.audit_post import post_audit
from hub.services.posts import get_post
from tests.integration.micropub.conftest import png

pytestmark = pytest.mark.integration


def _post_id(location: str) -> str:
    return location.rsplit("/", 1)[1]


def _media_url(mp) -> str:
    with mp.client(mp.friends) as http:
        got = http.post("/micropub/media", files={"file": ("p.png", png(), "image/png")})
    assert got.status_code == 201
    return got.headers["location"]


def test_a_json_entry_maps_onto_a_hub_post_and_is_delivered_and_audited(mp):
    photo = _media_url(mp)
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    with mp.client(mp.wide) as http:
        got = http.post("/micropub", json={"type": ["h-entry"], "properties": {
            "name": ["Trip notes"], "content": ["Back from Lisbon"],
            "category": ["travel", "#lisbon"], "mp-syndicate-to": ["friends"],
            "photo": [{"value": photo, "alt": "The river at dusk"}],
            "summary": ["long read"], "mp-lang": ["en"],
            "published": [later.isoformat()]}})
    assert got.status_code == 201, got.text
    post = get_post(mp.hub, _post_id(got.headers["location"])).post
    assert post.text == "Trip notes\n\nBack from Lisbon"
    assert post.tags == ("travel", "lisbon") and post.audiences == ("friends",)
    assert post.content_warning == "long read" and post.language == "en"
    assert [(m.alt, m.mime_type) for m in post.media] == [("The river at dusk", "image/png")]
    assert post.schedule_at == later
    assert post.author == "token:quill"


def test_a_form_entry_goes_to_the_tokens_one_audience_and_reaches_its_feed(mp):
    with mp.client(mp.friends) as http:
        got = http.post("/micropub", data={"h": "entry", "content": "hi friends",
                                           "content-warning": "food"})
    assert got.status_code == 201
    post_id = _post_id(got.headers["location"])
    view = get_post(mp.hub, post_id)
    assert view.post.audiences == ("friends",) and view.post.content_warning == "food"
    for _ in range(200):   # the embedded workers publish it: wait for the recorded fact
        feed = next(d for d in get_post(mp.hub, post_id).deliveries
                    if d.target == "friends-feed")
        if feed.status == "published":
            break
        time.sleep(0.05)
    assert feed.status == "published" and feed.reach == "recipients"
    who = next(c for c in post_audit(mp.hub, post_id)["could_see"]
               if c["target"] == "friends-feed")
    assert [m["name"] for m in who["people"]] == ["Ana"]


@pytest.mark.parametrize(("token", "body", "status", "error", "why"), [
    (None, {"h": "entry", "content": "x"}, 401, "unauthorized", "no access token"),
    ("hub_nope", {"h": "entry", "content": "x"}, 401, "unauthorized", "not valid"),
    ("reader", {"h": "entry", "content": "x"}, 401, "insufficient_scope", "'post' scope"),
    ("friends", {"h": "entry", "content": "x", "mp-syndicate-to": "public"}, 403, "forbidden",
     "may post to friends"),
    ("wide", {"h": "entry", "content": "x", "mp-syndicate-to": "nowhere"}, 400,
     "invalid_request", "unknown audience 'nowhere'"),
    ("wide", {"h": "entry", "content": "x"}, 400, "invalid_request", "mp-syndicate-to"),
    ("wide", {"h": "entry", "content": "x", "mp-syndicate-to": "public",
              "visibility": "private"}, 400, "invalid_request", "does not allow public"),
    ("wide", {"h": "entry", "content": "x", "mp-syndicate-to": "friends",
              "visibility": "secret"}, 400, "invalid_request", "unknown visibility"),
    ("wide", {"h": "event", "content": "x", "mp-syndicate-to": "friends"}, 400,
     "invalid_request", "only h-entry"),
    ("wide", {"h": "entry", "content": " ", "mp-syndicate-to": "friends"}, 400,
     "invalid_request", "no content"),
    ("wide", {"h": "entry", "content": "x", "mp-syndicate-to": "friends",
              "published": "2026-12-01T10:00:00"}, 400, "invalid_request", "time zone"),
])
def test_micropub_errors(mp, token, body, status, error, why):
    secret = {"reader": mp.reader, "friends": mp.friends, "wide": mp.wide}.get(token, token)
    with mp.client(secret) as http:
        got = http.post("/micropub", data=body)
    assert got.status_code == status, got.text
    assert got.json()["error"] == error and why in got.json()["error_description"]
    if error == "insufficient_scope":
        assert got.json()["scope"] == "post"
    for t in (mp.reader, mp.friends, mp.wide):
        assert t not in got.text


def test_the_token_may_travel_in_the_form_body_but_not_twice(mp):
    with mp.client() as http:
        ok = http.post("/micropub", data={"h": "entry", "content": "x",
                                          "access_token": mp.friends})
        both = http.post("/micropub", data={"h": "entry", "content": "x",
                                            "access_token": mp.friends},
                         headers={"Authorization": f"Bearer {mp.friends}"})
    assert ok.status_code == 201
    assert both.status_code == 400 and "not both" in both.json()["error_description"]


def test_source_and_delete_of_a_hub_post(mp):
    photo = _media_url(mp)
    with mp.client(mp.wide) as http:
        made = http.post("/micropub", json={"type": ["h-entry"], "properties": {
            "content": ["hello"], "category": ["a"], "mp-syndicate-to": ["friends"],
            "photo": [{"value": photo, "alt": "blue"}]}})
        url = made.headers["location"]
        full = http.get("/micropub", params={"q": "source", "url": url}).json()
        some = http.get("/micropub", params=[("q", "source"), ("url", url),
                                             ("properties[]", "category")]).json()
        gone = http.post("/micropub", json={"action": "delete", "url": url})
    assert full["type"] == ["h-entry"]
    assert full["properties"]["content"] == ["hello"]
    assert full["properties"]["mp-syndicate-to"] == ["friends"]
    assert full["properties"]["photo"] == [{"value": photo, "alt": "blue"}]
    assert some == {"properties": {"category": ["a"]}}
    assert gone.status_code == 204
    assert get_post(mp.hub, _post_id(url)).deleted is not None


def test_a_token_deletes_only_posts_within_its_audiences(mp):
    with mp.client(mp.wide) as http:
        url = http.post("/micropub", data={"h": "entry", "content": "x",
                                           "mp-syndicate-to": "public"}).headers["location"]
    with mp.client(mp.friends) as http:
        got = http.post("/micropub", data={"action": "delete", "url": url})
    assert got.status_code == 403 and got.json()["error"] == "forbidden"
    assert get_post(mp.hub, _post_id(url)).deleted is None


def test_the_spec_update_examples_on_a_hub_post_go_through_the_edit_service(mp):
    """W3C Micropub 3.3's update requests (replace, add, remove a value, remove a property),
    on a post of this hub."""
    with mp.client(mp.wide) as http:
        url = http.post("/micropub", json={"type": ["h-entry"], "properties": {
            "content": ["hello world"], "category": ["indieweb", "foo"],
            "summary": ["cw"], "mp-syndicate-to": ["friends"]}}).headers["location"]
        post_id = _post_id(url)
        steps = [
            ({"replace": {"content": ["hello moon"]}}, "hello moon", ("indieweb", "foo"), "cw"),
            ({"add": {"category": ["bar"]}}, "hello moon", ("indieweb", "foo", "bar"), "cw"),
            ({"delete": {"category": ["indieweb"]}}, "hello moon", ("foo", "bar"), "cw"),
            ({"delete": ["category", "summary"]}, "hello moon", (), None),
        ]
        for change, text, tags, cw in steps:
            _settled(mp, post_id)       # an edit waits while a copy is being sent
            got = http.post("/micropub", json={"action": "update", "url": url, **change})
            assert got.status_code == 200, got.text
            post = get_post(mp.hub, post_id).post
            assert (post.text, post.tags, post.content_warning) == (text, tags, cw)
        refused = http.post("/micropub", json={"action": "update", "url": url, "add": {
            "syndication": ["http://web.archive.org/web/2004/https://aaronpk.example/"]}})
        nothing = http.post("/micropub", json={"action": "update", "url": url,
                                               "replace": {"content": ["hello moon"]}})
    assert refused.status_code == 400 and "cannot update syndication" in refused.text
    assert nothing.status_code == 400 and "changes nothing" in nothing.text


def _settled(mp, post_id: str) -> None:
    for _ in range(400):
        if all(d.status not in ("pending", "in_flight")
               for d in get_post(mp.hub, post_id).deliveries):
            return
        time.sleep(0.05)
    raise AssertionError("the deliveries did not finish")


def test_a_token_edits_only_posts_within_its_audiences(mp):
    with mp.client(mp.wide) as http:
        url = http.post("/micropub", data={"h": "entry", "content": "x",
                                           "mp-syndicate-to": "public"}).headers["location"]
    with mp.client(mp.friends) as http:
        got = http.post("/micropub", json={"action": "update", "url": url,
                                           "replace": {"content": ["y"]}})
    assert got.status_code == 403 and got.json()["error"] == "forbidden"


def test_a_real_micropub_client_library_creates_and_reads_back(mp):
    """``micropub`` from PyPI (a requests-based client) against the live hub."""
    client = micropub.Client(mp.url + "/micropub", mp.wide)
    url, _links = client.create_post({"content": ["written in a client"],
                                      "category": ["indieweb"],
                                      "mp-syndicate-to": ["friends"]})
    assert url == mp.url + "/micropub"   # the library reports the request URL...
    got = client.get_post(mp.url + "/posts/" + _latest(mp))
    assert got.status_code == 200
    assert got.json()["properties"]["content"] == ["written in a client"]
    assert got.json()["properties"]["category"] == ["indieweb"]


def _latest(mp) -> str:
    from hub.services.posts import list_posts

    return list_posts(mp.hub, limit=1)[0].post.id

