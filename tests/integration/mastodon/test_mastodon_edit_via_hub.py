"""The whole edit path against the Mastodon double: the hub edits the status in place once
(same id), and an edit that adds a denied tag deletes it."""

from __future__ import annotations

import asyncio

import pytest

import adapters.mastodon
from adapters.fake import FakePublisher
from hub.services.accounts import connect_account
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edit_copies import run_copy_edits
from hub.services.edits import EditInput, edit_post, plan_edit
from hub.services.posts import submit_post

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {"bluesky:me": FakePublisher("bluesky:me")}


async def test_the_hub_edits_the_status_once_then_retracts_it_when_denied(double, make_hub,
                                                                         sqlite_url):
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    hub = make_hub(sqlite_url, real_clock=True)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
    view = submit_post(hub, PostInput("Helo fediverse", ["public"]), Author())
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w")
    [before] = double.live()
    change = EditInput(text="Hello fediverse")
    plan = plan_edit(hub, view.post.id, change, Author())
    await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest, run=True)
    await run_copy_edits(hub, view.post.id)
    [after] = double.live()
    assert after["id"] == before["id"] and after["text"] == "Hello fediverse"
    assert len(after["edits"]) == 1
    deny = EditInput(tags=["private"])
    plan = plan_edit(hub, view.post.id, deny, Author())
    assert [c.target for c in plan.retracted] == ["bsky", "masto-public"]
    await edit_post(hub, view.post.id, deny, Author(), confirm=plan.digest, run=True)
    assert double.live() == []


async def test_the_edit_preview_repeats_that_mastodon_lets_nobody_quote_followers_only_posts(
        double, make_hub, sqlite_url, policy_dir):
    policy = policy_dir / "hub.yaml"
    text = policy.read_text()
    assert "masto-followers: {account: mastodon:main, visibility: private}" in text
    policy.write_text(text.replace(
        "masto-followers: {account: mastodon:main, visibility: private}",
        "masto-followers: {account: mastodon:main, visibility: private, quotes: anyone}"))
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    hub = make_hub(sqlite_url, real_clock=True)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
    view = submit_post(hub, PostInput("Helo followers", ["professional"]), Author())
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w")
    plan = plan_edit(hub, view.post.id, EditInput(text="Hello followers"), Author())
    [copy] = [c for c in plan.copies if c.target == "masto-followers"]
    assert copy.action == "edit", plan.as_json()
    assert any("quotes: anyone becomes nobody" in n and "followers-only" in n
               for n in copy.notes)
    assert any(n.startswith("masto-followers: quotes: anyone becomes nobody")
               for n in plan.as_json()["notes"])
