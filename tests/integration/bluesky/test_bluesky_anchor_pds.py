"""The opt-in Bluesky anchor on the real PDS: a checkpoint becomes one public post on the
owner's account (once, however often it is published), reads back for ``verify``, and catches
events cut off the end of the log. Without the opt-in setting no post is ever written."""

from __future__ import annotations

import asyncio

import pytest

import adapters.bluesky
from adapters.bluesky_anchor import HEADER
from adapters.fake import FakePublisher
from hub.audit.anchors import AnchorError
from hub.audit.sequencer import sequence_pending
from hub.bootstrap import anchor_sinks
from hub.services import audit_proofs
from hub.services.accounts import connect_account
from hub.services.delivery import deliver, due_ids
from hub.services.posts import Author, PostInput, submit_post
from tests.integration.test_audit_proofs import _cut_to

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {"mastodon:main": FakePublisher("mastodon:main")}


async def _grow(hub) -> None:
    submit_post(hub, PostInput("for friends", ["friends"]), Author())
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w")


async def _hub(pds, make_hub, url, **settings):
    account = pds.create_account("anchor")
    hub = make_hub(url, real_clock=True, **settings)
    await connect_account(hub, "bluesky:me", {"handle": account.handle, "service": pds.url},
                          account.app_password, adapters.bluesky.connect)
    return hub, account


async def test_without_the_opt_in_nothing_is_posted(pds, make_hub, sqlite_url, tmp_path):
    hub, account = await _hub(pds, make_hub, sqlite_url, audit_anchor_dir=tmp_path / "a")
    await _grow(hub)
    sinks = anchor_sinks(hub)
    assert [s.kind for s in sinks] == ["directory"]
    await asyncio.to_thread(audit_proofs.anchor, hub, sinks)
    assert pds.records(account.did, "app.bsky.feed.post") == []


async def test_a_checkpoint_is_posted_once_read_back_and_catches_truncation(pds, make_hub,
                                                                           sqlite_url):
    hub, account = await _hub(pds, make_hub, sqlite_url, audit_anchor_bluesky="bluesky:me")
    await _grow(hub)
    [sink] = anchor_sinks(hub)
    [row] = await asyncio.to_thread(audit_proofs.anchor, hub, [sink])
    assert row.sink == "bluesky:bluesky:me" and row.location.startswith("at://")
    await asyncio.to_thread(audit_proofs.anchor, hub, [sink])     # the same checkpoint again
    posts = pds.records(account.did, "app.bsky.feed.post")
    assert len(posts) == 1 and posts[0]["uri"] == row.location
    text = posts[0]["value"]["text"]
    assert text.startswith(HEADER) and f"\n{row.tree_size}\n" in text
    [note] = await asyncio.to_thread(sink.notes)
    assert audit_proofs.load_key(hub.settings).check(note).size == row.tree_size
    ok = await asyncio.to_thread(audit_proofs.verify, hub, [sink])
    assert ok.ok and "bluesky:bluesky:me" in ok.checked

    await _grow(hub)
    sequence_pending(hub.db)
    _cut_to(hub, row.tree_size - 1)     # cut the newest events, and the hub's checkpoints
    cut = await asyncio.to_thread(audit_proofs.verify, hub, [sink])
    assert not cut.ok and cut.kind == "truncated" and "bluesky:bluesky:me" in cut.problem


async def test_an_unconnected_account_is_a_readable_anchor_error(make_hub, sqlite_url):
    hub = make_hub(sqlite_url, audit_anchor_bluesky="bluesky:nobody")
    await _grow(hub)
    [sink] = anchor_sinks(hub)
    with pytest.raises(AnchorError, match="Bluesky anchor: account bluesky:nobody is not "
                                          "connected"):
        await asyncio.to_thread(audit_proofs.anchor, hub, [sink])
