"""The account's session on a real PDS: no login per post, one refresh for everyone, re-login
only when the session is dead, and revoked credentials reported as such."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bluesky_pds import MemoryCredentials, MemorySteps, Pds, PlainCredentials, new_key

from adapters.bluesky import connect
from hub.domain.model import PeopleSnapshot, Post, PostId, Reach, Target
from hub.errors import CredentialsRejected

pytestmark = pytest.mark.integration
LATER = 110 * 60          # seconds: access tokens live 120 minutes; the adapter renews at 20


async def publish(conn: Any, text: str = "hello") -> Any:
    post = Post(id=PostId("p"), text=text, audiences=("public",), created=datetime.now(UTC))
    target = Target(name="t", account=conn.connection.account, reach=Reach.WORLD, options={})
    draft = conn.publisher.prepare(post, target, PeopleSnapshot())
    return await conn.publisher.publish(draft, key=new_key(), steps=MemorySteps())


def later_until_saved(store: Any) -> Any:
    """A clock 110 minutes ahead — until a renewed session is saved: time passes once."""
    def clock() -> float:
        saved = store.saved if isinstance(store.saved, list) else sum(store.saved.values(), [])
        return time.time() + (0 if saved else LATER)
    return clock


def session_of(secret: str) -> str:
    return json.loads(secret)["session"]


async def test_posts_reuse_the_stored_session_without_logging_in(connect_account: Any) -> None:
    conn = await connect_account(credentials=PlainCredentials())
    for n in range(3):
        await publish(conn, f"post {n}")
    assert "createSession" not in conn.transport.calls
    assert "refreshSession" not in conn.transport.calls
    assert conn.credentials.saved == []


async def test_one_refresh_serves_every_process_sharing_the_store(pds: Pds, connect_account: Any
                                                                  ) -> None:
    """Two publishers ("processes") of one account near token expiry: one refreshes, the other
    adopts the refreshed session from the shared credential store."""
    shared = MemoryCredentials()
    first = await connect_account(credentials=shared, clock=later_until_saved(shared))
    second = await connect_account(first.account, credentials=shared,
                                   clock=later_until_saved(shared))
    second.connection = first.connection
    await asyncio.gather(publish(first, "one"), publish(second, "two"))
    refreshes = (first.transport.calls.get("refreshSession", 0)
                 + second.transport.calls.get("refreshSession", 0))
    assert refreshes == 1
    assert len(shared.saved[first.connection.account]) == 1
    assert "createSession" not in first.transport.calls | second.transport.calls


async def test_a_dead_session_logs_in_again_with_the_stored_app_password(
        pds: Pds, connect_account: Any) -> None:
    store = PlainCredentials()
    conn = await connect_account(credentials=store, clock=later_until_saved(store))
    refresh = session_of(conn.connection.secret).split(":::")[3]
    async with httpx.AsyncClient(base_url=pds.url) as http:   # revoke the refresh token
        gone = await http.post("/xrpc/com.atproto.server.deleteSession",
                               headers={"Authorization": f"Bearer {refresh}"})
        assert gone.status_code == 200
    await publish(conn)
    assert conn.transport.calls["createSession"] == 1
    assert len(conn.credentials.saved) == 1
    assert session_of(conn.credentials.saved[0]) != session_of(conn.connection.secret)


async def test_a_revoked_app_password_is_reported_as_rejected_credentials(
        pds: Pds, connect_account: Any) -> None:
    conn = await connect_account(credentials=PlainCredentials(),
                                 clock=lambda: time.time() + LATER)
    account = conn.account
    async with httpx.AsyncClient(base_url=pds.url) as http:
        login = await http.post("/xrpc/com.atproto.server.createSession",
                                json={"identifier": account.handle, "password": account.password})
        revoked = await http.post("/xrpc/com.atproto.server.revokeAppPassword",
                                  json={"name": "hub"},
                                  headers={"Authorization": f"Bearer {login.json()['accessJwt']}"})
        assert revoked.status_code == 200
    with pytest.raises(CredentialsRejected, match="refused the app password"):
        await publish(conn)


async def test_without_a_kept_app_password_a_dead_session_asks_to_reconnect(
        pds: Pds, connect_account: Any) -> None:
    account = pds.create_account()
    settings, secret = await connect({"handle": account.handle, "service": pds.url,
                                      "keep_app_password": False}, account.app_password)
    assert json.loads(secret)["app_password"] is None
    conn = await connect_account(account, credentials=PlainCredentials(),
                                 clock=lambda: time.time() + LATER)
    from adapters.bluesky import build
    from hub.ports import Connection
    publisher = build(Connection(conn.connection.account, settings, secret), PlainCredentials(),
                      clock=lambda: time.time() + LATER)
    refresh = session_of(secret).split(":::")[3]
    async with httpx.AsyncClient(base_url=pds.url) as http:
        await http.post("/xrpc/com.atproto.server.deleteSession",
                        headers={"Authorization": f"Bearer {refresh}"})
    conn.publisher = publisher
    try:
        with pytest.raises(CredentialsRejected, match="connect the account again"):
            await publish(conn)
    finally:
        await publisher.aclose()
