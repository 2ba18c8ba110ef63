"""The whole hub path on the real PDS: connect the account, post once, the worker publishes with
the delivery's TID as the record key, and the audit records reach `world`."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

import adapters.bluesky
from adapters.fake import FakePublisher
from hub.media import store_media
from hub.services.accounts import connect_account
from hub.services.audit_post import post_audit
from hub.services.delivery import deliver, due_ids
from hub.services.posts import Author, MediaRef, PostInput, get_post, submit_post
from hub.store.tables import DeliveryRow

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    """Only Mastodon is faked here: Bluesky is the real adapter on the real PDS."""
    return {"mastodon:main": FakePublisher("mastodon:main")}


async def test_a_public_post_lands_on_the_pds_once_with_its_delivery_key(pds, make_hub,
                                                                        sqlite_url):
    account = pds.create_account("hub")
    hub = make_hub(sqlite_url, real_clock=True)
    await connect_account(hub, "bluesky:me", {"handle": account.handle, "service": pds.url},
                          account.app_password, adapters.bluesky.connect)
    png = io.BytesIO()
    Image.new("RGB", (64, 32), "teal").save(png, "PNG")
    media = store_media(hub, png.getvalue())
    view = submit_post(hub, PostInput("Hello from the hub 👋 https://example.org #hub",
                                      ["public"], tags=["hub"], language="en",
                                      media=[MediaRef(media.sha256, "a teal rectangle")]),
                       Author())
    for _ in range(2):   # a duplicate run of the same jobs publishes nothing more
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")
    bsky = next(d for d in get_post(hub, view.post.id).deliveries if d.target == "bsky")
    assert bsky.status == "published", bsky.reason
    posts = pds.records(account.did, "app.bsky.feed.post")
    assert len(posts) == 1
    with hub.db.read() as s:
        key = s.get(DeliveryRow, bsky.id).key
    assert posts[0]["uri"].endswith(f"/app.bsky.feed.post/{key}")
    record = posts[0]["value"]
    assert record["langs"] == ["en"]
    assert record["embed"]["images"][0]["alt"] == "a teal rectangle"
    assert {f["features"][0]["$type"] for f in record["facets"]} == {
        "app.bsky.richtext.facet#link", "app.bsky.richtext.facet#tag"}
    who = next(c for c in post_audit(hub, view.post.id)["could_see"] if c["target"] == "bsky")
    assert who["reach"] == "world" and who["who"] == "anyone on the web"


async def test_a_restricted_post_never_reaches_bluesky(pds, make_hub, sqlite_url):
    account = pds.create_account("hub")
    hub = make_hub(sqlite_url, real_clock=True)
    await connect_account(hub, "bluesky:me", {"handle": account.handle, "service": pds.url},
                          account.app_password, adapters.bluesky.connect)
    view = submit_post(hub, PostInput("only for the careless audience", ["careless"]),
                       Author())
    assert "bsky" not in {d.target for d in view.deliveries}
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w")
    assert pds.records(account.did, "app.bsky.feed.post") == []
