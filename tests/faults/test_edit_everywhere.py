"""One post on every real peer — the Mastodon double (contract-checked), the real PDS, SMTP and
a private feed — edited twice: the text fix reaches every allowed copy once, the network's way;
then a denied tag retracts exactly the world- and follower-readable copies, and the audit tells
each copy's story."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

import adapters.bluesky
import adapters.email
import adapters.mastodon
from hub.audit.sequencer import sequence_pending
from hub.services.accounts import connect_account
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edits import EditInput, copy_versions, edit_post, plan_edit
from hub.services.feeds import feed_links, read_feed
from hub.services.people import NewPerson, add_person
from hub.services.posts import submit_post
from hub.store.tables import AuditRow
from tests.conftest import Clock
from tests.integration.mastodon.conftest import double, double_url  # noqa: F401
from tests.integration.smtp import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict:
    return {}                     # every account is real here


async def _edit(hub, post_id: str, change: EditInput) -> None:
    plan = plan_edit(hub, post_id, change, Author())
    await edit_post(hub, post_id, change, Author(), confirm=plan.digest, run=True)


async def test_edits_reach_every_real_peer_once_and_a_denied_tag_retracts_exactly_those(
        double, pds, make_hub, sqlite_url):  # noqa: F811
    with SmtpServer() as smtp:
        hub = make_hub(sqlite_url, clock=Clock(live=True))
        me = double.local("me", scopes=adapters.mastodon.SCOPES)
        await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                              adapters.mastodon.connect)
        account = pds.create_account("everywhere")
        await connect_account(hub, "bluesky:me", {"handle": account.handle, "service": pds.url},
                              account.app_password, adapters.bluesky.connect)
        await connect_account(hub, "email:personal", smtp.settings, "", adapters.email.connect)
        add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
        view = submit_post(hub, PostInput("Open studio on Satuday", ["public", "friends"]),
                           Author())
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")
        [status] = double.live()
        [before] = pds.records(account.did, "app.bsky.feed.post")

        await _edit(hub, view.post.id, EditInput(text="Open studio on Saturday"))
        [edited] = double.live()
        assert edited["id"] == status["id"] and len(edited["edits"]) == 1
        [replaced] = pds.records(account.did, "app.bsky.feed.post")
        assert replaced["value"]["text"] == "Open studio on Saturday"
        assert replaced["uri"] != before["uri"]
        assert len(smtp.inbox.messages) == 1                     # mail: nothing sent again
        [link] = feed_links(hub, "friends")
        [entry] = read_feed(hub, "friends", link.url.split("token=")[1]).entries
        assert entry.text == "Open studio on Saturday" and entry.updated is not None
        assert {c["target"]: c["carries_version"] for c in copy_versions(hub, view.post.id)} \
            == {"bsky": 2, "masto-public": 2, "friends-mail": 1, "friends-feed": 2}

        await _edit(hub, view.post.id, EditInput(tags=["private"]))
        assert double.live() == []
        assert pds.records(account.did, "app.bsky.feed.post") == []
        assert {c["target"]: c["status"] for c in copy_versions(hub, view.post.id)} == {
            "bsky": "deleted", "masto-public": "deleted", "friends-mail": "published",
            "friends-feed": "published"}
        assert len(smtp.inbox.messages) == 1
        sequence_pending(hub.db, wait=True)   # the queued audit events too
        with hub.db.read() as s:
            story = [(r.name, r.payload.get("target"), r.payload.get("version"))
                     for r in s.exec(select(AuditRow).where(
                         AuditRow.post_id == view.post.id,
                         col(AuditRow.name).startswith("Copy")).order_by(AuditRow.seq))]
        assert sorted(story) == sorted([
            ("CopyEdited", "masto-public", 2), ("CopyReplaced", "bsky", 2),
            ("CopyNotChanged", "friends-mail", 2), ("CopyEdited", "friends-feed", 2),
            ("CopyRetracted", "masto-public", 3), ("CopyRetracted", "bsky", 3),
            ("CopyNotChanged", "friends-mail", 3), ("CopyEdited", "friends-feed", 3)])
