"""Feed links and API answers: a member removed and added again gets a new link (the old one
stays dead), fetching in a loop adds one audit row per hour, not one per fetch, API answers
are never cached, and an unknown feed name costs the same time as a wrong token."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from hub.bootstrap import Mode
from hub.errors import NotFound
from hub.services.feeds import feed_links, read_feed
from hub.services.people import NewPerson, add_person, change_lists
from hub.services.tokens import create_token
from tests.integration.test_http import LiveServer
from tests.integration.test_ui_security import wait_settled
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def site(database_url, make_runtime) -> Iterator[tuple[object, LiveServer, dict[str, str]]]:
    runtime = make_runtime(database_url, real_clock=True, mode=Mode.EMBEDDED,
                           sweep_seconds=0.2)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    _, token = create_token(hub, "t", ["post", "read", "audit"])
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield hub, server, {"Authorization": f"Bearer {token}"}


def _post(hub, server, auth, text: str) -> str:
    r = httpx.post(f"{server.url}/api/posts", headers=auth,
                   json={"text": text, "audiences": ["friends"]})
    assert r.status_code == 202, r.text
    wait_settled(hub, r.json()["id"])
    return str(r.json()["id"])


def _link(hub, name: str = "Ana") -> str:
    return next(link.url for link in feed_links(hub, "friends") if link.name == name)


def _fetches(hub) -> int:
    with hub.db.read() as s:
        return len(hub.audit.events(s, names=["FeedFetched"]))


def test_a_member_removed_and_added_again_gets_a_new_link(site):
    hub, server, auth = site
    _post(hub, server, auth, "for friends")
    old = _link(hub)
    assert httpx.get(old).status_code == 200
    change_lists(hub, "friends", remove=["Ana"])
    assert httpx.get(old).status_code == 404
    change_lists(hub, "friends", add=["Ana"])
    assert httpx.get(old).status_code == 404          # the old link is not revived
    new = _link(hub)
    assert new != old and httpx.get(new).status_code == 200


def test_fetching_in_a_loop_adds_one_audit_row_per_hour(site):
    hub, server, auth = site
    _post(hub, server, auth, "first")
    link = _link(hub)
    for _ in range(25):
        assert httpx.get(link).status_code == 200
    assert _fetches(hub) == 1
    _post(hub, server, auth, "second")                 # something new was shown: recorded
    for _ in range(5):
        httpx.get(link)
    assert _fetches(hub) == 2
    hub.now.advance(3600)                              # a new hour
    httpx.get(link)
    assert _fetches(hub) == 3


def test_api_answers_are_never_cached(site):
    _, server, auth = site
    for path, headers in [("/api/posts", auth), ("/api/posts", {}), ("/api/audit/verify", auth),
                          ("/api/audit/export?format=csv", auth), ("/api/posts/p_nope", auth),
                          ("/feeds/friends.atom?token=x", {})]:
        r = httpx.get(server.url + path, headers=headers)
        assert "no-store" in r.headers.get("cache-control", ""), (path, r.status_code)


def test_an_unknown_feed_name_takes_as_long_as_a_wrong_token(site):
    hub, server, auth = site
    _post(hub, server, auth, "first")
    token = _link(hub).split("token=")[1]
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    cases = {"unknown feed": ("nosuchfeed", token), "wrong token": ("friends", wrong)}
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(5):                                 # interleaved rounds
        for name, (feed, sent) in cases.items():
            started = time.perf_counter()
            for _ in range(30):
                with pytest.raises(NotFound):
                    read_feed(hub, feed, sent)
            timings[name].append(time.perf_counter() - started)
    unknown = statistics.median(timings["unknown feed"])
    known = statistics.median(timings["wrong token"])
    assert 0.5 < unknown / known < 2.0, timings
