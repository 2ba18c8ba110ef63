"""The accounts and policy pages over real HTTP, as the owner uses them: SMTP connected with a
test mail (aiosmtpd), Mastodon by OAuth (the double validated against the OpenAPI schema),
Bluesky with an app password (the reference PDS); a 401 from a platform marks the account
"needs reconnecting" on every page and on the accounts page until it is reconnected; removing
is audited; the policy page shows the policy in force, its example cases, and a reload that
keeps the old policy and names the file and line when the files are broken."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from adapters.mastodon import SCOPES
from hub.audit.sequencer import sequence_pending
from hub.errors import CredentialsRejected
from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import AccountRow, AuditRow
from tests.conftest import ROOT
from tests.integration import test_ui_security as base
from tests.integration.mastodon.conftest import double, double_url  # noqa: F401  (fixtures)
from tests.integration.smtp import SmtpServer
from tests.integration.test_ui_security import csrf_of, wait_settled

if str(ROOT / "tests" / "integration" / "bluesky") not in sys.path:   # its launcher's home
    sys.path.append(str(ROOT / "tests" / "integration" / "bluesky"))
from tests.integration.bluesky.conftest import pds  # noqa: E402, F401, I001  (fixture)

pytestmark = pytest.mark.integration
site = base.site
owner = base.owner


def _csrf(owner: httpx.Client) -> str:
    return csrf_of(owner.get("/accounts").text)


def _row(hub, name: str) -> AccountRow | None:
    with hub.db.read() as s:
        return s.get(AccountRow, name)


def test_smtp_is_connected_with_a_test_mail_and_bad_settings_say_why(site, owner):
    hub, _ = site
    with SmtpServer() as smtp:
        form = {"csrf_token": _csrf(owner), "name": "home", "host": "127.0.0.1",
                "port": str(smtp.port), "security": "none", "from_addr": "me@example.org",
                "username": "", "password": "", "test": "yes"}
        r = owner.post("/accounts/email", data=form)
        assert r.status_code == 303, r.text[:3000]
        page = owner.get(r.headers["location"]).text
        assert "Connected email:home; a test mail went to me@example.org." in page
        assert [m["Subject"] for m in smtp.inbox.to("me@example.org")] == ["Test from your hub"]
        assert re.search(r'<tr data-account="email:home" data-health="ok">', page)
        r = owner.post("/accounts/email:home/test", data={"csrf_token": _csrf(owner)})
        assert r.status_code == 303 and len(smtp.inbox.to("me@example.org")) == 2
    r = owner.post("/accounts/email", data={**form, "port": "x"})
    assert r.status_code == 400 and "the port is a number" in r.text
    assert 'value="127.0.0.1"' in r.text                     # what was typed stays
    r = owner.post("/accounts/email", data={**form, "name": "gone", "port": str(smtp.port)})
    assert r.status_code == 400 and "Not saved" in r.text      # the server is gone now
    assert _row(hub, "email:gone") is None


def test_mastodon_by_oauth_through_the_page(site, owner, double):  # noqa: F811
    hub, _ = site
    double.local("hub", scopes=None)
    r = owner.post("/accounts/mastodon", data={"csrf_token": _csrf(owner), "name": "work",
                                               "instance": double.base, "token": ""})
    assert r.status_code == 200, r.text[:2000]
    url = re.search(r'href="([^"]+)"[^>]*id="oauth-link"', r.text).group(1).replace("&amp;", "&")
    state = re.search(r'name="state" value="([^"]+)"', r.text).group(1)
    query = parse_qs(urlsplit(url).query)
    approval = double.http.post("/_double/oauth/approve", json={
        "client_id": query["client_id"][0], "username": "hub",
        "redirect_uri": query["redirect_uri"][0], "scope": query["scope"][0]}).json()
    r = owner.post("/accounts/mastodon/code", data={"csrf_token": _csrf(owner), "state": "x",
                                                    "code": approval["code"]})
    assert r.status_code == 400 and "has expired or was already used" in r.text
    r = owner.post("/accounts/mastodon/code", data={"csrf_token": _csrf(owner), "state": state,
                                                    "code": "wrong"})
    assert r.status_code == 400 and "did not accept the authorization code" in r.text
    r = owner.post("/accounts/mastodon", data={"csrf_token": _csrf(owner), "name": "work",
                                               "instance": double.base, "token": ""})
    url = re.search(r'href="([^"]+)"[^>]*id="oauth-link"', r.text).group(1).replace("&amp;", "&")
    state = re.search(r'name="state" value="([^"]+)"', r.text).group(1)
    query = parse_qs(urlsplit(url).query)
    approval = double.http.post("/_double/oauth/approve", json={
        "client_id": query["client_id"][0], "username": "hub",
        "redirect_uri": query["redirect_uri"][0], "scope": query["scope"][0]}).json()
    r = owner.post("/accounts/mastodon/code", data={"csrf_token": _csrf(owner), "state": state,
                                                    "code": approval["code"]})
    assert r.status_code == 303, r.text[:2000]
    row = _row(hub, "mastodon:work")
    assert row is not None and row.status == "ok" and row.secret_enc
    assert approval["code"] not in owner.get("/accounts").text
    assert double.violations() == []


def test_bluesky_with_an_app_password_and_a_wrong_one_refused(site, owner, pds):  # noqa: F811
    hub, _ = site
    account = pds.create_account("ui")
    form = {"csrf_token": _csrf(owner), "name": "ui", "handle": account.handle,
            "service": pds.url, "app_password": "wrong-wrong-wrong-wrong"}
    r = owner.post("/accounts/bluesky", data=form, timeout=60)
    assert r.status_code == 400 and "Not saved" in r.text
    assert _row(hub, "bluesky:ui") is None
    r = owner.post("/accounts/bluesky", data={**form, "app_password": account.app_password},
                   timeout=60)
    assert r.status_code == 303, r.text[:2000]
    assert account.app_password not in owner.get("/accounts").text


def test_a_401_marks_the_account_until_it_is_reconnected(site, owner, fakes,
                                                         double):  # noqa: F811
    """The fake publisher of mastodon:main answers a 401 (CredentialsRejected); the stored
    account (connected through the page, to the double) is marked, visibly."""
    hub, _ = site
    me = double.local("owner", scopes=SCOPES)
    r = owner.post("/accounts/mastodon", data={"csrf_token": _csrf(owner), "name": "main",
                                               "instance": double.base, "token": me.token})
    assert r.status_code == 303, r.text[:2000]
    fakes["mastodon:main"].fail_next(1, CredentialsRejected("401: the access token was revoked",
                                                            platform="mastodon",
                                                            status_code=401))
    view = submit_post(hub, PostInput(text="hello", audiences=["public"]), Author())
    wait_settled(hub, view.post.id)
    page = owner.get("/compose").text
    assert "data-reconnect-warning" in page and "mastodon:main needs reconnecting" in page
    accounts = owner.get("/accounts").text
    assert re.search(r'data-account="mastodon:main" data-health="needs reconnecting"', accounts)
    assert "the access token was revoked" in accounts
    detail = owner.get(f"/posts/{view.post.id}").text
    assert "the access token was revoked" in detail
    again = owner.get("/accounts?reconnect=mastodon:main").text
    assert f'value="{double.base}"' in again                   # the form comes filled in
    r = owner.post("/accounts/mastodon", data={"csrf_token": _csrf(owner), "name": "main",
                                               "instance": double.base, "token": me.token})
    assert r.status_code == 303
    assert "data-reconnect-warning" not in owner.get("/compose").text


def test_removing_needs_a_confirmation_and_is_audited(site, owner, double):  # noqa: F811
    hub, _ = site
    me = double.local("gone", scopes=SCOPES)
    owner.post("/accounts/mastodon", data={"csrf_token": _csrf(owner), "name": "old",
                                           "instance": double.base, "token": me.token})
    assert _row(hub, "mastodon:old") is not None
    r = owner.post("/accounts/mastodon:old/remove", data={"csrf_token": _csrf(owner)})
    assert r.status_code == 400 and "tick the box" in r.text
    r = owner.post("/accounts/mastodon:old/remove", data={"csrf_token": _csrf(owner),
                                                          "confirm": "yes"})
    assert r.status_code == 303 and _row(hub, "mastodon:old") is None
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        names = [e.name for e in s.exec(select(AuditRow).where(AuditRow.subject == "mastodon:old"))]
    assert names == ["AccountConnected", "AccountRemoved"]
    r = owner.post("/accounts/mastodon:old/remove", data={"csrf_token": _csrf(owner),
                                                          "confirm": "yes"})
    assert r.status_code == 404


def test_the_policy_page_tests_and_reloads_keeping_the_old_policy_on_error(site, owner):
    hub, _ = site
    directory = hub.policies.directory
    before = hub.policies.current.digest
    page = owner.get("/policy").text
    assert f"<code data-policy-digest>{before}</code>" in page
    assert "hub.yaml" in page and "No example cases yet" in page
    (directory / "tests").mkdir(exist_ok=True)
    (directory / "tests" / "cases.yaml").write_text(
        "cases:\n  - name: private stays home\n    post: {text: home, tags: [private], "
        "audiences: [public]}\n    expect: {bsky: allow}\n")
    page = owner.get("/policy").text
    assert "0 passed, 1 failed" in page and "private stays home" in page
    original = (directory / "hub.yaml").read_text()
    (directory / "hub.yaml").write_text(original.replace("rules:", "rules:\n  - id: x\n    deny: "
                                                         "{tagz: [a]}", 1))
    r = owner.post("/policy/reload", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 400 and 'id="reload-error"' in r.text
    assert re.search(r"hub\.yaml:\d+: ", r.text)
    assert f"Policy <code>{before[:12]}" in r.text and hub.policies.current.digest == before
    (directory / "hub.yaml").write_text(original + "\n# a comment changes the digest\n")
    r = owner.post("/policy/reload", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 303
    assert hub.policies.current.digest != before
    assert f"Policy {hub.policies.current.digest[:12]} loaded" in owner.get("/policy").text


def test_a_token_expiring_soon_is_warned_about_and_an_expired_one_needs_reconnecting(site,
                                                                                    owner):
    hub, _ = site
    now = hub.now()
    with hub.db.transaction() as s:
        for name, days in (("mastodon:soon", 3), ("mastodon:later", 30), ("mastodon:past", -1)):
            s.add(AccountRow(name=name, platform="mastodon", updated=now, settings={
                "instance": "https://x.example",
                "expires_at": (now + timedelta(days=days)).isoformat()}))
    page = owner.get("/accounts").text
    soon = page.split('data-account="mastodon:soon"')[1].split("</tr>")[0]
    assert "Its token expires" in soon and "reconnect it before then" in soon
    assert soon.startswith(' data-health="ok"')        # still sending, but warned
    later = page.split('data-account="mastodon:later"')[1].split("</tr>")[0]
    assert "reconnect it" not in later and "token expires" in later
    assert 'data-account="mastodon:past" data-health="needs reconnecting"' in page
