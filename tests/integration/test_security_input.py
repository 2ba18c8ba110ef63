"""Crafted input gets a 4xx with a readable reason, never a 500, on SQLite and PostgreSQL:
deep JSON, huge numbers, out-of-range dates, NUL characters in text, path and query (the
unauthenticated feed URL included), over-long names. Nothing is written."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hub.bootstrap import Mode
from hub.services.owner import set_password
from hub.services.people import NewPerson, add_person
from hub.services.posts import list_posts
from hub.services.tokens import create_token, list_tokens
from tests.integration.test_http import LiveServer
from tests.integration.test_ui_security import PASSWORD, csrf_of, log_in
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def live(database_url, make_runtime) -> Iterator[tuple[object, LiveServer, dict[str, str]]]:
    runtime = make_runtime(database_url, real_clock=True, mode=Mode.CLI)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    _, token = create_token(hub, "phone", ["post", "read", "audit"])
    set_password(hub, PASSWORD)
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        yield hub, server, {"Authorization": f"Bearer {token}"}


def _deep(levels: int) -> str:
    return '{"text": "x", "audiences": ["friends"], "extra": ' + "[" * levels + "]" * levels + "}"


CRAFTED = [
    ("nested 1000 deep", {"content": _deep(1000)}, "nested at most"),
    ("nested 100000 deep", {"content": _deep(100_000)}, "nested at most"),
    ("a 5000-digit number", {"content": '{"text": "x", "audiences": ["friends"], "n": '
                             + "9" * 5000 + "}"}, "digits"),
    ("NUL in text", {"content": '{"text": "a\\u0000b", "audiences": ["friends"]}'}, "NUL"),
    ("NUL in a content warning", {"content": '{"text": "a", "content_warning": "\\u0000", '
                                  '"audiences": ["friends"]}'}, "NUL"),
    ("NUL in a form field", {"data": {"text": "a\x00b", "audiences": "friends"}}, "NUL"),
    ("the year 9999 west of UTC", {"json": {"text": "x", "audiences": ["friends"],
                                            "schedule_at": "9999-12-31T23:59:59-23:59"}},
     "out of range"),
    ("the year 1 east of UTC", {"json": {"text": "x", "audiences": ["friends"],
                                         "schedule_at": "0001-01-01T00:00:00+23:59"}},
     "out of range"),
]


@pytest.mark.parametrize(("what", "body", "reason"), CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_post_bodies_get_a_4xx_with_a_reason(live, what, body, reason):
    hub, server, auth = live
    headers = dict(auth)
    if "content" in body:
        headers["Content-Type"] = "application/json"
    r = httpx.post(f"{server.url}/api/posts", headers=headers, timeout=30, **body)
    assert 400 <= r.status_code < 500, (what, r.status_code, r.text[:300])
    assert reason in r.json()["detail"], r.text[:300]
    assert list_posts(hub) == []


@pytest.mark.parametrize("path", [
    "/feeds/friends.atom?token=%00", "/feeds/friends.atom?token=p_x.%00abc",
    "/feeds/fr%00iends.atom?token=abc", "/api/posts/p_%00x", "/api/audit/people/Ana%00",
    "/api/audit/posts/%00", "/api/posts?limit=%00", "/login?next=/%00"])
def test_a_nul_in_the_path_or_query_gets_a_4xx(live, path):
    _, server, auth = live
    r = httpx.get(server.url + path, headers=auth)
    assert r.status_code == 422, (path, r.status_code, r.text[:200])
    assert "NUL" in r.text


def test_a_huge_number_in_the_query_gets_a_4xx(live):
    _, server, auth = live
    r = httpx.get(f"{server.url}/api/posts", params={"limit": "9" * 5000}, headers=auth)
    assert 400 <= r.status_code < 500, r.text[:200]


def test_an_overlong_token_name_is_refused_with_the_limit(live):
    hub, server, _ = live
    with httpx.Client(base_url=server.url) as client:
        assert log_in(client).status_code == 303
        page = client.get("/tokens")
        r = client.post("/tokens", data={"name": "n" * 101, "scopes": "post",
                                         "csrf_token": csrf_of(page.text)})
        assert r.status_code == 400, r.text[:300]
        assert "at most 100 characters" in r.text
    assert [t.name for t in list_tokens(hub)] == ["phone"]
    from hub.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at most 100 characters"):
        create_token(hub, "x" * 5000, ["post"])
    with pytest.raises(InvalidInput, match="NUL"):
        add_person(hub, NewPerson("Bo\x00", [], ["friends"]))
