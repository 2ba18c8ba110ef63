"""How the Bluesky publisher reads PDS answers, over ``httpx.MockTransport`` (no network)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.bluesky import build
from adapters.bluesky.session import StoredSecret
from hub.domain.model import PeopleSnapshot, Post, PostId, Reach, Target
from hub.errors import CredentialsRejected, PermanentDeliveryError, TransientDeliveryError
from hub.ports import Connection
from tests.fakes import MemorySteps, PlainCredentials

DID = "did:plc:abc"
KEY = "3lzzzzzzzzzz2"
NOW = time.time()


def jwt(exp: float, scope: str = "com.atproto.appPass") -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256'})}.{part({'sub': DID, 'exp': int(exp), 'scope': scope})}.sig"


def session(exp: float) -> str:
    return ":::".join(["me.test", DID, jwt(exp), jwt(exp + 86400), "https://pds.example"])


def xrpc(status: int, error: str = "", message: str = "", **headers: str) -> httpx.Response:
    body = {"error": error, "message": message} if error else {}
    return httpx.Response(status, json=body, headers=headers)


def created(request: httpx.Request) -> httpx.Response:
    writes = json.loads(request.content)["writes"]
    return httpx.Response(200, json={"results": [
        {"$type": "com.atproto.repo.applyWrites#createResult",
         "uri": f"at://{DID}/{w['collection']}/{w['rkey']}", "cid": "bafyfake"} for w in writes]})


async def run(handler: Callable[[httpx.Request], httpx.Response], *, exp: float = NOW + 7200,
              app_password: str | None = "app-pass-word-xxxx",
              saved: PlainCredentials | None = None) -> Any:
    secret = StoredSecret(session(exp), app_password).dump()
    publisher = build(Connection("bluesky:me", {"handle": "me.test", "service":
                                                "https://pds.example"}, secret),
                      saved or PlainCredentials(), transport=httpx.MockTransport(handler))
    post = Post(id=PostId("p"), text="hello", audiences=("public",), created=datetime.now(UTC))
    draft = publisher.prepare(post, Target("t", "bluesky:me", Reach.WORLD, {}), PeopleSnapshot())
    try:
        return await publisher.publish(draft, key=KEY, steps=MemorySteps())
    finally:
        await publisher.aclose()


def method(request: httpx.Request) -> str:
    return request.url.path.rsplit(".", 1)[-1]


async def test_rate_limit_becomes_transient_with_seconds_until_reset() -> None:
    reset = int(time.time()) + 42
    def handler(request: httpx.Request) -> httpx.Response:
        return xrpc(429, "RateLimitExceeded", "slow down", **{"RateLimit-Reset": str(reset)})
    with pytest.raises(TransientDeliveryError) as caught:
        await run(handler)
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None and 38 <= caught.value.retry_after <= 42


async def test_invalid_record_is_permanent_with_the_pds_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return xrpc(400, "InvalidRequest", "Invalid app.bsky.feed.post record: text too long")
    with pytest.raises(PermanentDeliveryError, match="text too long") as caught:
        await run(handler)
    assert not isinstance(caught.value, TransientDeliveryError)


async def test_a_5xx_is_checked_with_get_record_and_retried_later_when_absent() -> None:
    seen: list[str] = []
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(method(request))
        if method(request) == "getRecord":
            return xrpc(400, "RecordNotFound", "Could not locate record")
        return xrpc(503, "ServiceUnavailable")
    with pytest.raises(TransientDeliveryError):
        await run(handler)
    assert seen == ["applyWrites", "getRecord"]


async def test_a_5xx_after_the_write_landed_is_a_success() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if method(request) == "getRecord":
            return httpx.Response(200, json={"uri": f"at://{DID}/app.bsky.feed.post/{KEY}",
                                             "cid": "bafyfound", "value": {}})
        return xrpc(500, "InternalServerError")
    receipt = await run(handler)
    assert receipt.details["parts"] == [{"uri": f"at://{DID}/app.bsky.feed.post/{KEY}",
                                         "cid": "bafyfound"}]


async def test_an_expired_token_is_refreshed_saved_and_the_write_retried() -> None:
    calls: list[str] = []
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(method(request))
        if method(request) == "refreshSession":
            return httpx.Response(200, json={"did": DID, "handle": "me.test",
                                             "accessJwt": jwt(NOW + 7200),
                                             "refreshJwt": jwt(NOW + 90000)})
        if calls.count("applyWrites") == 1:
            return xrpc(400, "ExpiredToken", "Token has expired")
        return created(request)
    saved = PlainCredentials()
    receipt = await run(handler, saved=saved)
    assert calls == ["applyWrites", "refreshSession", "applyWrites"]
    assert receipt.remote_id.endswith(KEY) and len(saved.saved) == 1
    assert json.loads(saved.saved[0])["app_password"] == "app-pass-word-xxxx"


async def test_a_session_near_expiry_is_refreshed_before_writing() -> None:
    calls: list[str] = []
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(method(request))
        if method(request) == "refreshSession":
            return httpx.Response(200, json={"did": DID, "handle": "me.test",
                                             "accessJwt": jwt(NOW + 7200),
                                             "refreshJwt": jwt(NOW + 90000)})
        return created(request)
    await run(handler, exp=NOW + 300)
    assert calls == ["refreshSession", "applyWrites"]


async def test_refused_refresh_and_login_mean_rejected_credentials() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if method(request) == "refreshSession":
            return xrpc(400, "ExpiredToken", "Token has been revoked")
        if method(request) == "createSession":
            return xrpc(401, "AuthenticationRequired", "Invalid identifier or password")
        return xrpc(400, "ExpiredToken", "Token has expired")
    with pytest.raises(CredentialsRejected, match="refused the app password"):
        await run(handler)


async def test_network_failure_before_any_write_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)
    with pytest.raises(TransientDeliveryError, match="network"):
        await run(handler)


async def test_the_delivery_key_must_be_a_tid() -> None:
    publisher = build(Connection("bluesky:me", {"handle": "me.test"}, None), PlainCredentials(),
                      transport=httpx.MockTransport(created))
    post = Post(id=PostId("p"), text="x", audiences=("public",), created=datetime.now(UTC))
    draft = publisher.prepare(post, Target("t", "bluesky:me", Reach.WORLD, {}), PeopleSnapshot())
    with pytest.raises(PermanentDeliveryError, match="not a TID"):
        await publisher.publish(draft, key="not-a-tid", steps=MemorySteps())
    await publisher.aclose()


def test_stored_secret_never_shows_the_password_in_repr() -> None:
    secret = StoredSecret("handle:::did:::a:::r:::url", "very-secret-pass")
    assert "very-secret-pass" not in repr(secret)
    assert StoredSecret.load(secret.dump()) == secret
    assert StoredSecret.load("handle:::did:::a:::r:::url").app_password is None


async def test_a_server_hanging_up_mid_write_is_an_unknown_outcome_checked_first() -> None:
    seen: list[str] = []
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(method(request))
        if method(request) == "getRecord":
            return xrpc(400, "RecordNotFound", "Could not locate record")
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    with pytest.raises(TransientDeliveryError):
        await run(handler)
    assert seen == ["applyWrites", "getRecord"]


async def test_an_unreadable_stored_session_is_rejected_credentials() -> None:
    publisher = build(Connection("bluesky:me", {"handle": "me.test"},
                                 StoredSecret("garbage", None).dump()), PlainCredentials(),
                      transport=httpx.MockTransport(created))
    post = Post(id=PostId("p"), text="x", audiences=("public",), created=datetime.now(UTC))
    draft = publisher.prepare(post, Target("t", "bluesky:me", Reach.WORLD, {}), PeopleSnapshot())
    with pytest.raises(CredentialsRejected, match="unreadable"):
        await publisher.publish(draft, key=KEY, steps=MemorySteps())
    await publisher.aclose()
