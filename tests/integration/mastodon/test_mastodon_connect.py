"""Connecting an account: token check, cached instance limits, the OAuth flow, narrow scopes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.mastodon import (
    SCOPES,
    authorization_url,
    connect,
    exchange_code,
    register_app,
)
from hub.errors import CredentialsRejected, InvalidInput

pytestmark = pytest.mark.integration


async def test_connect_reads_the_account_and_caches_the_instance_limits(double, hub_scopes):
    double.configure(max_characters=1000, description_limit=420)
    owner = double.local("hub", locked=True, scopes=hub_scopes)
    settings, secret = await connect({"instance": double.base + "/"}, owner.token)
    assert secret == owner.token
    assert settings["instance"] == double.base
    assert settings["account_id"] == owner.id
    assert settings["acct"] == "@hub@double.test"
    assert settings["locked"] is True
    assert settings["limits"]["max_characters"] == 1000
    assert settings["limits"]["characters_reserved_per_url"] == 23
    assert settings["limits"]["description_limit"] == 420
    assert settings["supports_allowed_mentions"] is True
    assert "image/png" in settings["supported_mime_types"]


async def test_prepare_uses_the_cached_limit(double, publisher, compose, hub_scopes):
    double.configure(max_characters=1000)
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("x" * 900), compose.target("public"), compose.people([]))
    assert draft.counter == "900/1000 characters"
    await pub.publish(draft, key="3leeeeeeeeee2", steps=compose.steps())
    assert double.live()[0]["length"] == 900


async def test_connect_refuses_a_bad_token(double):
    with pytest.raises(CredentialsRejected, match="401"):
        await connect({"instance": double.base}, "not-a-token")


async def test_connect_names_an_unreachable_instance(double):
    with pytest.raises(InvalidInput, match="did not answer"):
        await connect({"instance": "http://127.0.0.1:9", "request_timeout": 1}, "token")


async def test_oauth_flow_with_narrow_scopes_is_enough_to_publish(double, publisher, compose):
    """Register with the four scopes, approve, exchange the code, connect, post followers-only
    (which reads the followers): the double enforces each operation's scopes."""
    double.local("hub", scopes=None)
    fan = double.account("fan", "example.social")
    app = await register_app(double.base)
    [registration] = [r for r in double.requests() if r["path"] == "/api/v1/apps"]
    assert registration["body"]["scopes"] == " ".join(SCOPES)
    url = authorization_url(app, state="s1")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(double.base + "/oauth/authorize?")
    assert query["scope"] == [" ".join(SCOPES)] and query["client_id"] == [app.client_id]
    approval = double.http.post("/_double/oauth/approve", json={
        "client_id": app.client_id, "username": "hub", "redirect_uri": app.redirect_uri,
        "scope": " ".join(SCOPES)}).json()
    token = await exchange_code(app, approval["code"])
    settings, _ = await connect({"instance": double.base}, token)
    owner_id = settings["account_id"]
    double.http.post("/_double/follows", json={"follower": fan.id, "followee": owner_id})
    pub = await publisher(double, compose.acct(owner_id, "hub@double.test", token))
    draft = pub.prepare(compose.post("Hello followers"), compose.target("private"),
                        compose.people([]))
    receipt = await pub.publish(draft, key="3leeeeeeeeee3", steps=compose.steps())
    assert receipt.details["audience"]["identities"] == [fan.address]


async def test_exchange_code_refuses_a_wrong_code(double):
    app = await register_app(double.base)
    with pytest.raises(CredentialsRejected, match="did not accept the authorization code"):
        await exchange_code(app, "wrong")


async def test_a_token_without_write_statuses_is_rejected_as_credentials(double, publisher,
                                                                         compose):
    owner = double.local("hub", scopes=("read:accounts",))
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("Nope"), compose.target("public"), compose.people([]))
    with pytest.raises(CredentialsRejected, match="403"):
        await pub.publish(draft, key="3leeeeeeeeee4", steps=compose.steps())
