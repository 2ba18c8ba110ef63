"""Login throttling over real HTTP: a flood of failures from many (spoofed) addresses cannot
lock the owner's own browser out, parallel guesses are counted before they are checked, and
only a few argon2 checks run at once. Also: idle sessions end."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from hub.bootstrap import Mode
from hub.services import owner as owner_service
from hub.services.owner import set_password
from tests.conftest import Clock
from tests.integration.test_http import LiveServer
from tests.integration.test_ui_security import PASSWORD, csrf_of, log_in
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def server(database_url, make_runtime) -> Iterator[tuple[object, LiveServer]]:
    runtime = make_runtime(database_url, real_clock=True, mode=Mode.CLI)
    hub = runtime.hub
    set_password(hub, PASSWORD)
    # uvicorn's default trusts X-Forwarded-For from 127.0.0.1, as a proxy-fronted hub does:
    # the attacker below chooses a new address for every guess.
    with LiveServer(create_app(hub.settings, runtime=runtime)) as live:
        hub.settings.public_url = live.url
        yield hub, live


def _guess(url: str, password: str, address: str,
           cookies: httpx.Cookies | None = None) -> httpx.Response:
    with httpx.Client(base_url=url, cookies=cookies, timeout=60,
                      headers={"X-Forwarded-For": address}) as client:
        page = client.get("/login")
        return client.post("/login", data={"password": password, "next": "/posts",
                                           "csrf_token": csrf_of(page.text)})


@pytest.mark.slow   # fifty argon2 checks
def test_a_flood_of_failures_from_many_addresses_cannot_lock_out_the_owners_browser(server):
    hub, live = server
    with httpx.Client(base_url=live.url, headers={"X-Forwarded-For": "198.51.100.7"},
                      timeout=60) as mine:
        assert log_in(mine).status_code == 303           # this browser has logged in before
        device = mine.cookies["hub_device"]
        mine.post("/logout", data={"csrf_token": csrf_of(mine.get("/posts").text)})
        assert "hub_session" not in mine.cookies
        with ThreadPoolExecutor(8) as pool:
            flood = list(pool.map(lambda i: _guess(live.url, "not the password", f"10.0.{i}.1"),
                                  range(55)))
        codes = [r.status_code for r in flood]
        assert set(codes) == {401, 429} and codes.count(401) <= 50, codes
        stranger = _guess(live.url, PASSWORD, "203.0.113.9")    # no device cookie: shared lock
        assert stranger.status_code == 429
        r = log_in(mine)                                 # the owner's browser keeps its budget
        assert r.status_code == 303, r.text
        assert mine.cookies["hub_device"] == device
        mine.cookies.delete("hub_session")
        for _ in range(5):                               # ...which is its own, and limited
            assert log_in(mine, "wrong password!").status_code == 401
        assert log_in(mine).status_code == 429
    forged = httpx.Cookies({"hub_device": device[:-2] + "xx"})
    assert _guess(live.url, PASSWORD, "198.51.100.7", forged).status_code == 429


def test_parallel_guesses_are_counted_before_any_is_checked(server):
    hub, live = server
    owner_service.CHECKS.peak = 0
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: _guess(live.url, "not the password", "192.0.2.44"),
                                range(20)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(401) == owner_service.FREE_FAILURES, codes
    assert codes.count(429) == 20 - owner_service.FREE_FAILURES
    with hub.db.read() as s:
        failures = [e for e in hub.audit.events(s, names=["OwnerLoggedIn"])]
    assert len(failures) == owner_service.FREE_FAILURES


def test_at_most_two_argon2_checks_run_at_once(server):
    """Twelve guesses from twelve addresses all get checked, but never more than two at once."""
    _, live = server
    owner_service.CHECKS.peak = 0
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda i: _guess(live.url, "not the password", f"10.9.{i}.1"),
                                range(12)))
    assert [r.status_code for r in answers] == [401] * 12
    assert owner_service.MAX_CONCURRENT_CHECKS == 2
    assert 1 <= owner_service.CHECKS.peak <= 2     # never more at once, however many wait


@pytest.mark.parametrize("idle_hours", [None, 1.0])
def test_a_session_left_idle_ends(make_runtime, sqlite_url, idle_hours):
    overrides = {} if idle_hours is None else {"session_idle_hours": idle_hours}
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.CLI, **overrides)
    hub = runtime.hub
    limit = (idle_hours or 12.0) * 3600
    assert hub.settings.session_idle_hours * 3600 == limit
    set_password(hub, PASSWORD)
    clock = hub.now                          # live; moved on below
    assert isinstance(clock, Clock)
    with LiveServer(create_app(hub.settings, runtime=runtime)) as live, \
            httpx.Client(base_url=live.url) as client:
        hub.settings.public_url = live.url
        assert log_in(client).status_code == 303
        clock.advance(limit - 60)
        assert client.get("/posts").status_code == 200     # in use: the idle clock restarts
        clock.advance(limit - 60)
        assert client.get("/posts").status_code == 200
        clock.advance(limit + 60)
        r = client.get("/posts")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
