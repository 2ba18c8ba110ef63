"""Every request example of the W3C Micropub Recommendation (sections 3.3–3.7), sent as written
(with the spec's example.com URLs), and the answer the hub gives to each: created, or refused
with the Micropub error and a reason (other sites' posts). The photos at the spec's
photos.example.com are fetched through the hub's remote-file port (the link-card fetcher's
rules, pinned to the address its resolver gives), served here by an in-memory transport.
The update, delete and undelete examples are repeated on this hub's own posts in
test_micropub.py."""

from __future__ import annotations

import pytest

from hub.services.posts import get_post

pytestmark = pytest.mark.integration

PHOTO = "https://photos.example.com/592829482876343254.jpg"
POST = "https://example.com/post/1"

FORM = "application/x-www-form-urlencoded"
PHOTOS = [PHOTO, "https://photos.example.com/1.jpg", "https://photos.example.com/2.jpg",
          "https://photos.example.com/globe.gif"]


@pytest.fixture
def spec_mp(make_runtime, sqlite_url):
    """A Micropub hub whose remote-file port (the same fetcher and checks) resolves
    photos.example.com to a documentation address and gets each spec photo from an in-memory
    server, handed in through ``bootstrap(remote=...)``."""
    import httpx

    from adapters.bluesky.linkcard import RemoteFiles
    from hub.bootstrap import Mode
    from hub.services.tokens import create_token
    from tests.integration.micropub.conftest import Micropub, png
    from tests.integration.test_http import LiveServer
    from web.app import create_app

    seen: list[str] = []

    def photos(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=png(), headers={"content-type": "image/png"})

    async def resolve(host: str, port: int) -> list[str]:
        assert host == "photos.example.com"
        return ["192.0.2.10"]

    remote = RemoteFiles(resolver=resolve, allowed=lambda a: a == "192.0.2.10",
                         transport=httpx.MockTransport(photos))
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2,
                           remote=remote)
    hub = runtime.hub
    _, friends = create_token(hub, "ia-writer", ["post"], ["friends"])
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield Micropub(hub, server.url, friends, friends, friends)
    assert all(u.startswith("https://192.0.2.10/") for u in seen)   # pinned to the address
EXAMPLES = [
    # 3.3 create, form-encoded
    ("form: h-entry with categories", "form",
     "h=entry&content=hello+world&category[]=foo&category[]=bar", 201, None),
    # 3.3.2 JSON
    ("json: h-entry with categories and a photo URL", "json",
     {"type": ["h-entry"], "properties": {"content": ["hello world"],
                                         "category": ["foo", "bar"], "photo": [PHOTO]}},
     201, None),
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
     ".jpg", 201, None),
    ("form: several photos by URL", "form",
     "h=entry&content=hello+world&photo[]=https%3A%2F%2Fphotos.example.com%2F1.jpg"
     "&photo[]=https%3A%2F%2Fphotos.example.com%2F2.jpg", 201, None),
    ("json: photo with alt text", "json",
     {"type": ["h-entry"], "properties": {"content": ["hello world"], "photo": [
         {"value": "https://photos.example.com/globe.gif", "alt": "Spinning globe animation"}]}},
     201, None),
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
     "not a post of this hub"),
]


@pytest.mark.parametrize(("what", "kind", "body", "status", "reason"), EXAMPLES,
                         ids=[e[0] for e in EXAMPLES])
def test_the_spec_request_examples(spec_mp, what, kind, body, status, reason):
    mp = spec_mp
    with mp.client(mp.friends) as http:
        if kind == "form":
            got = http.post("/micropub", content=body, headers={"content-type": FORM})
        else:
            got = http.post("/micropub", json=body)
    assert got.status_code == status, got.text
    if status == 201:
        assert got.headers["location"].startswith(mp.url + "/posts/")
        media = get_post(mp.hub, got.headers["location"].rsplit("/", 1)[1]).post.media
        wanted = [u for u in PHOTOS if u.replace("/", "%2F").replace(":", "%3A") in str(body)
                  or u in str(body)]
        assert len(media) == len(wanted) and all(m.mime_type == "image/png" for m in media)
        if "Spinning globe" in str(body):
            assert media[0].alt == "Spinning globe animation"
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
