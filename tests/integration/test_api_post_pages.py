"""GET /api/posts a page at a time (issue 17 item 3 for the API): signed cursors in a Link
header, the same filters as the web lists, and an audience-limited token gets full pages of its
own posts only (the filter is applied before the page is cut, never after)."""

from __future__ import annotations

import pytest

from tests.integration.conftest import bearer as _client

pytestmark = pytest.mark.integration


def _walk(client, **params) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    url: str | None = "/api/posts"
    while url:
        r = client.get(url, params=params if pages == 0 else None)
        assert r.status_code == 200, r.text
        seen += [p["id"] for p in r.json()]
        pages += 1
        url = r.links.get("next", {}).get("url")
        assert (url is None) == ("X-Next-Cursor" not in r.headers)
        assert pages < 50
    return seen, pages


def test_a_limited_token_pages_through_its_own_posts_only_in_full_pages(api):
    hub, server, tokens = api
    with _client(server, tokens["owner"]) as owner, _client(server, tokens["friends"]) as phone:
        ids = {"friends": [], "clients": []}
        for n in range(7):
            for audience in ("clients", "clients", "friends"):
                r = owner.post("/api/posts", json={"text": f"{audience} note {n}",
                                                   "audiences": [audience]})
                assert r.status_code == 202, r.text
                ids[audience].append(r.json()["id"])
        first = phone.get("/api/posts", params={"limit": 3})
        assert len(first.json()) == 3     # full, though 2 of 3 are not its own
        seen, pages = _walk(phone, limit=3)
        assert seen == list(reversed(ids["friends"])) and pages == 3
        everything, _ = _walk(owner, limit=4)
        assert len(everything) == 21 and len(set(everything)) == 21
        found, _ = _walk(owner, q="note 3", audience="clients")
        assert sorted(found) == sorted(ids["clients"][6:8])


@pytest.mark.parametrize("params,word", [
    ({"cursor": "AAAA.bad"}, "cursor"),
    ({"state": "sideways"}, "state"),
    ({"audience": "nobody-here"}, "audience"),
    ({"q": "bell \x07"}, "U+0007"),
])
def test_bad_page_requests_are_a_400_with_a_reason(api, params, word):  # noqa: F811
    _, server, tokens = api
    with _client(server, tokens["owner"]) as owner:
        r = owner.get("/api/posts", params=params)
        assert 400 <= r.status_code < 500 and word in r.text, r.text
