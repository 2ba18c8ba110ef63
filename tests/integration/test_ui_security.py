"""The web pages over real HTTP, without a browser: login, sessions, throttling, CSRF on every
form, escaping of what people typed, error pages that say what went wrong."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlmodel import select

from adapters.fake import FakePublisher
from hub.bootstrap import Mode
from hub.services.feeds import feed_links
from hub.services.owner import set_password, setup_code
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, get_post, list_posts, submit_post
from hub.store.tables import OwnerRow
from tests.conftest import Clock
from tests.integration.test_http import LiveServer
from web.app import create_app
from web.ui import (
    accounts,
    audit,
    auth,
    compose,
    drafts,
    people,
    people_lists,
    policy,
    post_edits,
    posts,
    queue,
    tokens,
)

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


@pytest.fixture
def site(make_runtime, sqlite_url, fakes) -> Iterator[tuple[object, LiveServer]]:
    fakes["email:personal"] = FakePublisher("email:personal")
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    set_password(hub, PASSWORD)
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield hub, server


def wait_settled(hub, post_id: str) -> None:
    for _ in range(200):
        if all(d.status not in ("pending", "in_flight") for d in get_post(hub, post_id).deliveries):
            return
        time.sleep(0.05)
    raise AssertionError("deliveries did not finish")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def log_in(client: httpx.Client, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    return client.post("/login", data={"password": password, "csrf_token": csrf_of(page.text),
                                       "next": "/posts"})


@pytest.fixture
def owner(site) -> Iterator[httpx.Client]:
    _, server = site
    with httpx.Client(base_url=server.url) as client:
        assert log_in(client).status_code == 303
        yield client


PAGES = ["/", "/compose", "/posts", "/posts/p_nope", "/posts/p_nope/live", "/audit",
         "/audit/people?q=ana", "/audit/posts/p_nope", "/audit/people/Ana", "/audit/export",
         "/people", "/people/import", "/people/export.csv", "/people/export.vcf", "/lists",
         "/lists/friends", "/tokens", "/media/" + "0" * 64,
         "/queue", "/drafts", "/drafts/dr_nope", "/deliveries", "/accounts", "/policy"]


def _ui_post_paths() -> list[str]:
    paths = []
    for module in (auth, compose, posts, post_edits, audit, people, people_lists, tokens,
                   drafts, queue, accounts, policy):
        for route in module.router.routes:
            if "POST" in getattr(route, "methods", ()):
                paths.append(re.sub(r"\{[^}]+\}", "x_1", route.path))
    return paths


def test_every_page_needs_the_owner_login(site):
    _, server = site
    with httpx.Client(base_url=server.url) as client:
        for path in PAGES:
            r = client.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login?next=/"), path
        for path in _ui_post_paths():
            if path in ("/login", "/logout", "/setup"):
                continue
            r = client.post(path, data={"text": "x", "audiences": "friends"})
            assert r.status_code == 401, path
            assert "log in again" in r.text
        assert client.get("/api/posts").status_code == 401        # the API keeps its tokens


def test_every_form_refuses_a_missing_or_foreign_csrf_token(site, owner):
    hub, server = site
    paths = _ui_post_paths()
    assert {"/compose", "/compose/preview", "/tokens", "/people", "/login"} <= set(paths)
    for path in paths:
        r = owner.post(path, data={"text": "x", "audiences": "friends", "name": "n",
                                   "password": PASSWORD})
        assert r.status_code == 403, path
        assert "reload the page" in r.text
    with httpx.Client(base_url=server.url) as other:
        assert log_in(other).status_code == 303
        foreign = csrf_of(other.get("/compose").text)
    r = owner.post("/compose", data={"text": "x", "audiences": "friends", "action": "send",
                                     "csrf_token": foreign})
    assert r.status_code == 403
    token = csrf_of(owner.get("/compose").text)
    r = owner.post("/compose", data={"text": "x", "audiences": "friends", "action": "send",
                                     "csrf_token": token},
                   headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert list_posts(hub) == []
    r = owner.post("/compose", data={"text": "x", "audiences": "friends", "action": "send",
                                     "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/posts/p")
    assert len(list_posts(hub)) == 1


def test_session_cookie_is_httponly_samesite_and_logout_ends_it(site):
    hub, server = site
    with httpx.Client(base_url=server.url) as client:
        r = log_in(client)
        assert r.status_code == 303 and r.headers["location"] == "/posts"
        cookie = next(v for k, v in r.headers.multi_items()
                      if k == "set-cookie" and v.startswith("hub_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        stolen = client.cookies["hub_session"]
        page = client.get("/posts")
        assert page.status_code == 200
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["x-frame-options"] == "DENY"
        assert client.post("/logout", data={"csrf_token": csrf_of(page.text)}
                           ).status_code == 303
        assert client.get("/posts").status_code == 303
    with httpx.Client(base_url=server.url, cookies={"hub_session": stolen}) as replay:
        assert replay.get("/posts").status_code == 303       # the old cookie is dead
    with hub.db.read() as s:
        stored = s.exec(select(OwnerRow)).one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_changing_the_password_ends_every_session(site, owner):
    hub, _ = site
    assert owner.get("/compose").status_code == 200
    set_password(hub, "another long passphrase")
    assert owner.get("/compose").status_code == 303


def test_login_is_throttled_after_failed_attempts_even_for_the_right_password(site):
    hub, server = site
    clock = hub.now                      # the site's clock, held still, moved on below
    assert isinstance(clock, Clock)
    clock.value = datetime.now(UTC)      # a slow argon2 must not turn "30 seconds" into 29
    with httpx.Client(base_url=server.url) as client:
        for _ in range(4):
            r = log_in(client, "wrong password!")
            assert r.status_code == 401 and "wrong password" in r.text.lower()
        r = log_in(client, "wrong password!")
        assert r.status_code == 401
        r = log_in(client)                                    # right, but locked out now
        assert r.status_code == 429
        assert "try again in 30 seconds" in r.text
        assert r.headers["retry-after"] == "30"
        assert "hub_session" not in client.cookies
        clock.advance(31)
        assert log_in(client).status_code == 303              # the wait is over
    with hub.db.read() as s:
        names = [e.payload["outcome"] for e in hub.audit.events(s, names=["OwnerLoggedIn"])]
    assert names.count("failure") == 5 and names[-1] == "success"


def test_next_after_login_stays_on_this_hub(site):
    _, server = site
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/login?next=//evil.example/x")
        r = client.post("/login", data={"password": PASSWORD, "csrf_token": csrf_of(page.text),
                                        "next": "//evil.example/x"})
        assert r.headers["location"] == "/compose"


def test_first_visit_sets_the_password_once(make_runtime, sqlite_url):
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.CLI)
    hub = runtime.hub
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server, \
            httpx.Client(base_url=server.url) as client:
        r = client.get("/login")
        assert r.status_code == 303 and r.headers["location"] == "/setup"
        page = client.get("/setup")
        assert "set the owner password" in page.text
        code = setup_code(hub)
        short = client.post("/setup", data={"password": "short", "password_again": "short",
                                            "csrf_token": csrf_of(page.text), "code": code})
        assert short.status_code == 400 and "at least 10 characters" in short.text
        r = client.post("/setup", data={"password": PASSWORD, "password_again": PASSWORD,
                                        "csrf_token": csrf_of(page.text), "code": code})
        assert r.status_code == 303 and r.headers["location"] == "/compose"
        assert client.get("/compose").status_code == 200           # logged in: not asked again
        assert client.get("/setup").headers["location"] == "/login"
        again = client.post("/setup", data={"password": "someone else's pw",
                                            "password_again": "someone else's pw",
                                            "csrf_token": csrf_of(client.get("/compose").text),
                                            "code": code})
        assert again.status_code == 401 and "already set" in again.text
        assert log_in(client).status_code == 303


def test_typed_text_is_inert_on_every_page_and_in_the_feed(site, owner):
    hub, server = site
    evil = add_person(hub, NewPerson(f"Eve {XSS}", [("email", "eve@example.org")],
                                     ["friends"]))
    view = submit_post(hub, PostInput(text=f"hello {XSS}", audiences=["friends"],
                                      content_warning=XSS), Author())
    wait_settled(hub, view.post.id)
    pages = ["/posts", f"/posts/{view.post.id}", f"/audit/posts/{view.post.id}",
             f"/audit/people/{evil.id}", "/audit", "/people", f"/people/{evil.id}",
             "/lists/friends"]
    for path in pages:
        r = owner.get(path)
        assert r.status_code == 200, path
        assert "<script>window.__xss" not in r.text, path
        assert "<img src=x" not in r.text, path
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in r.text, path
    feed = httpx.get(next(link.url for link in feed_links(hub, "friends") if link.name == "Ana"))
    assert feed.status_code == 200
    assert b"<script>" not in feed.content and b"&lt;script&gt;" in feed.content


def test_a_refused_post_comes_back_with_everything_typed(site, owner):
    hub, _ = site
    token = csrf_of(owner.get("/compose").text)
    form = {"csrf_token": token, "action": "send", "text": "my draft ✍️ <b>bold</b>",
            "audiences": "friends", "tags": "ok, bad tag!", "content_warning": "cw here",
            "language": "pt-BR"}
    r = owner.post("/compose", data=form)
    assert r.status_code == 400
    assert "may only hold letters, digits" in r.text
    assert "my draft ✍️ &lt;b&gt;bold&lt;/b&gt;</textarea>" in r.text
    assert 'value="ok, bad tag!"' in r.text and 'value="cw here"' in r.text
    assert 'value="pt-BR"' in r.text
    assert re.search(r'value="friends"\s+checked', r.text)
    assert list_posts(hub) == []


def test_error_pages_say_what_went_wrong(site, owner):
    r = owner.get("/posts/p_nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "No post &#39;p_nope&#39;" in r.text or "no post" in r.text.lower()
    r = owner.get("/no/such/page")
    assert r.status_code == 404 and "Not found" in r.text
    token = csrf_of(owner.get("/tokens").text)
    r = owner.post("/deliveries/d_nope/retry", data={"csrf_token": token})
    assert r.status_code == 404 and "no delivery" in r.text.lower()
    api = owner.get("/api/posts/p_nope", headers={"Authorization": "Bearer hub_x"})
    assert api.headers["content-type"] == "application/json"


def test_hub_init_and_hub_password_set_the_web_login(tmp_path, policy_dir, monkeypatch):
    from click.testing import CliRunner

    from hub.entrypoints.cli import main

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "cli-var"))
    monkeypatch.setenv("HUB_POLICY_DIR", str(policy_dir))
    runner = CliRunner()
    out = runner.invoke(main, ["init"], catch_exceptions=False).output
    assert "hub password" in out and "/setup" in out           # says how to set it
    bad = runner.invoke(main, ["password", "--password-stdin"], input="short\n")
    assert bad.exit_code == 1 and "at least 10 characters" in bad.output
    ok = runner.invoke(main, ["init", "--password-stdin"], input=PASSWORD + "\n")
    assert ok.exit_code == 0 and "web password set" in ok.output
    from hub.bootstrap import build_hub
    from hub.config import Settings
    from hub.services.owner import login

    hub = build_hub(Settings())
    try:
        assert login(hub, PASSWORD, client="127.0.0.1").token
        changed = runner.invoke(main, ["password"], input="new long passphrase\n" * 2)
        assert changed.exit_code == 0, changed.output
        assert login(hub, "new long passphrase", client="127.0.0.1").token
    finally:
        hub.db.dispose()


def test_the_migration_matches_the_owner_session_tables(sqlite_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    from hub.store.db import make_engine
    from hub.store.migrate import upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    mine = [d for d in diff if "owner_session" in repr(d) or "login_throttle" in repr(d)]
    assert mine == []
