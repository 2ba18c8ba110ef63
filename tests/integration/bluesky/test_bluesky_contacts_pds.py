"""Contact sync from Bluesky against the real local PDS: follows are read from the account's
own repository (real follow records, paged by cursor); followers need an AppView, which the
test PDS (like a bare self-hosted one) lacks, and the sync says so instead of reporting none."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from adapters.bluesky import connect
from adapters.bluesky.contacts import build
from hub.ports import Connection, ContactDirection
from hub.services.contacts import direction_of, relationships, sync_account
from tests.fakes import MemoryCredentials

pytestmark = pytest.mark.integration


def _follow(pds: Any, follower: Any, subject_did: str) -> str:
    with httpx.Client(base_url=pds.url, timeout=30) as http:
        login = http.post("/xrpc/com.atproto.server.createSession",
                          json={"identifier": follower.handle, "password": follower.password})
        login.raise_for_status()
        made = http.post("/xrpc/com.atproto.repo.createRecord", headers={
            "Authorization": f"Bearer {login.json()['accessJwt']}"}, json={
            "repo": follower.did, "collection": "app.bsky.graph.follow",
            "record": {"$type": "app.bsky.graph.follow", "subject": subject_did,
                       "createdAt": "2026-11-20T10:00:00.000Z"}})
        made.raise_for_status()
        return str(made.json()["uri"])


def _unfollow(pds: Any, follower: Any, uri: str) -> None:
    with httpx.Client(base_url=pds.url, timeout=30) as http:
        login = http.post("/xrpc/com.atproto.server.createSession",
                          json={"identifier": follower.handle, "password": follower.password})
        http.post("/xrpc/com.atproto.repo.deleteRecord", headers={
            "Authorization": f"Bearer {login.json()['accessJwt']}"}, json={
            "repo": follower.did, "collection": "app.bsky.graph.follow",
            "rkey": uri.rsplit("/", 1)[-1]}).raise_for_status()


async def test_follows_sync_from_repo_records_and_followers_say_an_appview_is_needed(
        database_url, make_hub, pds):
    hub = make_hub(database_url)
    me = pds.create_account("me")
    others = [pds.create_account("f") for _ in range(3)]
    uris = [_follow(pds, me, o.did) for o in others]
    settings, secret = await connect({"handle": me.handle, "service": pds.url},
                                     me.app_password)
    reader = build(Connection("bluesky:me", settings, secret), MemoryCredentials(), page_size=2)
    try:
        seen: list[Any] = []
        followers, following = await sync_account(hub, "bluesky:me", reader,
                                                  progress=seen.append)
        assert "needs an AppView" in followers.error and not followers.done
        assert (following.done, following.seen, following.new) == (True, 3, 3)
        # two a page; the PDS hands a cursor after every non-empty page, so a last empty one
        assert [p.seen for p in seen if p.direction is ContactDirection.FOLLOWING] == [2, 3, 3]
        rows = relationships(hub, "bluesky:me")
        assert sorted(r.address for r in rows) == sorted(o.did for o in others)
        assert {direction_of(r) for r in rows} == {"I follow"}

        _unfollow(pds, me, uris[0])
        [again] = await sync_account(hub, "bluesky:me", reader,
                                     directions=[ContactDirection.FOLLOWING])
        assert (again.seen, again.new, again.lost) == (2, 0, 1)
        assert sorted(r.address for r in relationships(hub, "bluesky:me")) == \
            sorted(o.did for o in others[1:])
    finally:
        await reader.aclose()
