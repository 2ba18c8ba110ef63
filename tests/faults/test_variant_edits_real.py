"""A post with a Bluesky variant, edited on the real sinks (the Mastodon double, contract-checked,
and the reference PDS): a main-text fix edits the Mastodon status and leaves the Bluesky record
(which carries its own text) as it was; then a #private typed only into the Bluesky variant
deletes the Bluesky record and nothing else. On SMTP, an email variant's correction carries the
email's own text, and a main-text fix sends no correction to the mail that has its own."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlmodel import select

import adapters.bluesky
import adapters.email
import adapters.mastodon
from hub.audit.sequencer import sequence_pending
from hub.services.accounts import connect_account
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edits import EditInput, copy_versions, edit_post, plan_edit
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


async def _edit(hub, post_id: str, change: EditInput) -> dict[str, str]:
    plan = plan_edit(hub, post_id, change, Author())
    await edit_post(hub, post_id, change, Author(), confirm=plan.digest, run=True)
    return {c.target: c.action for c in plan.copies}


async def test_variant_edits_on_the_real_sinks_touch_only_the_copy_whose_text_changed(
        double, pds, make_hub, sqlite_url):  # noqa: F811
    hub = make_hub(sqlite_url, clock=Clock(live=True))
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
    account = pds.create_account("varedit")
    await connect_account(hub, "bluesky:me", {"handle": account.handle, "service": pds.url},
                          account.app_password, adapters.bluesky.connect)
    view = submit_post(hub, PostInput("The studio opens on Satuday at ten, all welcome",
                                      ["public"], variants={"bluesky": "Studio: Sat 10"}),
                       Author())
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w")
    [status] = double.live()
    [before] = pds.records(account.did, "app.bsky.feed.post")
    assert before["value"]["text"] == "Studio: Sat 10"

    fixed = "The studio opens on Saturday at ten, all welcome"
    assert await _edit(hub, view.post.id, EditInput(text=fixed)) == {
        "bsky": "none", "masto-public": "edit"}
    [edited] = double.live()
    assert edited["id"] == status["id"] and len(edited["edits"]) == 1
    assert fixed in edited["text"] or fixed in edited.get("content", "")
    assert pds.records(account.did, "app.bsky.feed.post") == [before]     # not re-sent

    assert await _edit(hub, view.post.id, EditInput(
        variants={"bluesky": "Studio: Sat 10 #private"})) == {
        "bsky": "retract", "masto-public": "none"}
    assert pds.records(account.did, "app.bsky.feed.post") == []
    [still] = double.live()
    assert still["id"] == status["id"] and len(still["edits"]) == 1        # untouched
    assert {c["target"]: c["status"] for c in copy_versions(hub, view.post.id)} == {
        "bsky": "deleted", "masto-public": "published"}
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        [event] = s.exec(select(AuditRow).where(AuditRow.post_id == view.post.id,
                                                AuditRow.name == "CopyEdited")).all()
    assert event.payload["text_sha256"] == hashlib.sha256(fixed.encode()).hexdigest()


async def test_an_email_variant_is_corrected_with_its_own_text_and_left_alone_otherwise(
        make_hub, sqlite_url, policy_dir):
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text().replace(
        "friends-mail: {account: email:personal, list: friends}",
        "friends-mail: {account: email:personal, list: friends, on_edit: correct}"))
    with SmtpServer() as smtp:
        hub = make_hub(sqlite_url, clock=Clock(live=True))
        await connect_account(hub, "email:personal", smtp.settings, "", adapters.email.connect)
        add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
        view = submit_post(hub, PostInput("Dinner at 7", ["friends"],
                                          variants={"email": "Dinner at 7, bring a dish"}),
                           Author())
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")
        assert len(smtp.inbox.messages) == 1
        assert await _edit(hub, view.post.id, EditInput(text="Dinner at 7!")) == {
            "friends-mail": "none", "friends-feed": "in-place"}
        assert len(smtp.inbox.messages) == 1                       # no correction
        assert await _edit(hub, view.post.id, EditInput(
            variants={"email": "Dinner at 8, bring a dish"})) == {
            "friends-mail": "correct", "friends-feed": "none"}
        assert len(smtp.inbox.messages) == 2
        correction = smtp.inbox.messages[-1].message
        body = "".join(str(part.get_payload(decode=True), "utf-8") for part in correction.walk()
                       if part.get_content_type() == "text/plain")
        assert str(correction["Subject"]).startswith("Correction")
        assert "Dinner at 8, bring a dish" in body and "Dinner at 7!" not in body
