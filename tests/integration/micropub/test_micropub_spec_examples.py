"""Every request example of the W3C Micropub Recommendation (sections 3.3–3.7), sent as written
(with the spec's example.com URLs), and the answer the hub gives to each: created, or refused
with the Micropub error and a reason (photos fetched from other sites, other sites' posts,
undelete). The update and delete examples are repeated on this hub's own posts in
test_micropub.py."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

PHOTO = "https://photos.example.com/592829482876343254.jpg"
POST = "https://example.com/post/1"

FORM = "application/x-www-form-urlencoded"
EXAMPLES = [
    # 3.3 create, form-encoded
    ("form: h-entry with categories", "form",
     "h=entry&content=hello+world&category[]=foo&category[]=bar", 201, None),
    # 3.3.2 JSON
    ("json: h-entry with categories and a photo URL", "json",
     {"type": ["h-entry"], "properties": {"content": ["hello world"],
                                         "category": ["foo", "bar"], "photo": [PHOTO]}},
     400, "does not fetch images"),
    ("json: HTML content", "json",
     {"type": ["h-entry"], "properties": {"content": [
         {"html": "<p>This post has <b>bold</b> and <i>italic</i> text.</p>"}]}}, 201, None),
    ("json: nested microformats object (a check-in)", "json",
     {"type": ["h-entry"], "properties": {
         "checkin": [{"type": ["h-card"], "properties": {
             "name": ["Ford Food and Drink"], "url": ["http://www.fordfoodanddrink.com/"],
             "locality": ["Portland"], "region": ["OR"]}}],
         "content": ["Coffee time!"]}}, 201, None),
    # 3.3.1/3.3.2 photos by URL
    ("form: photo by URL", "form",
     "h=entry&content=hello+world&photo=https%3A%2F%2Fphotos.example.com%2F592829482876343254"
     ".jpg", 400, "does not fetch images"),
    ("form: several photos by URL", "form",
     "h=entry&content=hello+world&photo[]=https%3A%2F%2Fphotos.example.com%2F1.jpg"
     "&photo[]=https%3A%2F%2Fphotos.example.com%2F2.jpg", 400, "does not fetch images"),
    ("json: photo with alt text", "json",
     {"type": ["h-entry"], "properties": {"content": ["hello world"], "photo": [
         {"value": "https://photos.example.com/globe.gif", "alt": "Spinning globe animation"}]}},
     400, "does not fetch images"),
    # 3.4 update
    ("json: update, replace", "json",
     {"action": "update", "url": POST, "replace": {"content": ["hello moon"]}}, 400,
     "not a post of this hub"),
    ("json: update, add", "json",
     {"action": "update", "url": POST, "add": {"syndication": [
         "http://web.archive.org/web/20040104110725/https://aaronpk.example/2014/06/01/9/"
         "indieweb"]}}, 400, "not a post of this hub"),
    ("json: update, remove a value", "json",
     {"action": "update", "url": POST, "delete": {"category": ["indieweb"]}}, 400,
     "not a post of this hub"),
    ("json: update, remove a property", "json",
     {"action": "update", "url": POST, "delete": ["category"]}, 400, "not a post of this hub"),
    # 3.5 delete / undelete
    ("form: delete", "form", "action=delete&url=https%3A%2F%2Fexample.com%2Fpost%2F1", 400,
     "not a post of this hub"),
    ("json: delete", "json", {"action": "delete", "url": POST}, 400, "not a post of this hub"),
    ("form: undelete", "form", "action=undelete&url=https%3A%2F%2Fexample.com%2Fpost%2F1", 400,
     "cannot restore"),
]


@pytest.mark.parametrize(("what", "kind", "body", "status", "reason"), EXAMPLES,
                         ids=[e[0] for e in EXAMPLES])
def test_the_spec_request_examples(mp, what, kind, body, status, reason):
    with mp.client(mp.friends) as http:
        if kind == "form":
            got = http.post("/micropub", content=body, headers={"content-type": FORM})
        else:
            got = http.post("/micropub", json=body)
    assert got.status_code == status, got.text
    if status == 201:
        assert got.headers["location"].startswith(mp.url + "/posts/")
        return
    assert got.json()["error"] == "invalid_request"
    assert reason in got.json()["error_description"]


def test_multipart_create_with_an_uploaded_photo(mp):
    """3.3.1: the photo sent in the request itself (multipart/form-data)."""
    from tests.integration.micropub.conftest import png

    with mp.client(mp.friends) as http:
        got = http.post("/micropub", data={"h": "entry", "content": "hello world"},
                        files={"photo": ("photo.png", png(), "image/png")})
    assert got.status_code == 201, got.text
    from hub.services.posts import get_post

    [photo] = get_post(mp.hub, got.headers["location"].rsplit("/", 1)[1]).post.media
    assert photo.mime_type == "image/png"


@pytest.mark.parametrize("q", ["config", "syndicate-to"])
def test_the_spec_queries(mp, q):
    """3.7: ``q=config`` and ``q=syndicate-to`` list exactly the token's audiences."""
    with mp.client(mp.friends) as http:
        got = http.get("/micropub", params={"q": q})
    assert got.status_code == 200
    assert [t["uid"] for t in got.json()["syndicate-to"]] == ["friends"]
    if q == "config":
        assert got.json()["media-endpoint"] == mp.url + "/micropub/media"


@pytest.mark.parametrize("params", [
    [("q", "source"), ("properties[]", "published"), ("properties[]", "category"),
     ("url", POST)],
    [("q", "source"), ("url", POST)],
])
def test_the_spec_source_queries_name_another_site(mp, params):
    with mp.client(mp.wide) as http:
        got = http.get("/micropub", params=params)
    assert got.status_code == 400 and got.json()["error"] == "invalid_request"


def test_the_spec_media_endpoint_example(mp):
    """3.6: a file uploaded as multipart ``file`` gets 201 and its URL in Location."""
    from tests.integration.micropub.conftest import png

    with mp.client(mp.friends) as http:
        got = http.post("/micropub/media", files={"file": ("photo.png", png(), "image/png")})
    assert got.status_code == 201
    assert got.headers["location"].startswith(mp.url + "/micropub/media/")
