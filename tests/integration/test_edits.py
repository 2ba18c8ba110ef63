"""Editing published posts through the hub with fake publishers behind the ports (SQLite and
PostgreSQL): preview then confirm, every allowed copy edited once, copies now denied retracted,
held edits waiting, scheduled posts changed before they go, and bad input refused unchanged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.errors import Conflict, Forbidden, InvalidInput
from hub.services.deletion import delete_everywhere
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edit_copies import run_copy_edits
from hub.services.edits import EditInput, approve_edits, copy_versions, edit_post, plan_edit
from hub.services.posts import get_post, submit_post
from hub.store.tables import AuditRow

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {name: FakePublisher(name) for name in
            ("bluesky:me", "mastodon:main", "email:personal")}


async def _publish(hub) -> None:
    for _ in range(2):
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")


def _events(hub, post_id: str) -> list[tuple[str, str | None]]:
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        rows = s.exec(select(AuditRow).where(AuditRow.post_id == post_id)
                      .order_by(AuditRow.seq))
        return [(r.name, r.payload.get("target")) for r in rows]


def _by_target(hub, post_id: str) -> dict[str, dict]:
    return {c["target"]: c for c in copy_versions(hub, post_id)}


async def test_an_edit_reaches_every_allowed_copy_once_the_networks_way(database_url, make_hub,
                                                                       fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Helo world", ["public"]), Author())
    await _publish(hub)
    plan = plan_edit(hub, view.post.id, EditInput(text="Hello world"), Author())
    assert {c.target: c.action for c in plan.copies} == {"bsky": "replace",
                                                         "masto-public": "edit"}
    result = await edit_post(hub, view.post.id, EditInput(text="Hello world"), Author(),
                             confirm=plan.digest, run=True)
    await run_copy_edits(hub, view.post.id)          # a second run changes nothing more
    masto, bsky = fakes["mastodon:main"], fakes["bluesky:me"]
    assert [d.parts for _, d in masto.edited] == [("Hello world",)]
    assert [d.parts for d in bsky.published.values()] == [("Helo world",), ("Hello world",)]
    old_key, new_key = list(bsky.published)
    assert bsky.deleted == [f"bluesky:me/{old_key}"]
    copies = {c["target"]: c for c in result.copies}
    assert copies["bsky"]["carries_version"] == copies["masto-public"]["carries_version"] == 2
    assert copies["bsky"]["remote_id"] == f"bluesky:me/{new_key}"
    assert get_post(hub, view.post.id).post.text == "Hello world"
    names = _events(hub, view.post.id)
    assert ("PostEdited", None) in names
    assert ("CopyEdited", "masto-public") in names and ("CopyReplaced", "bsky") in names


async def test_an_edit_that_adds_a_denied_tag_retracts_exactly_the_copies_now_denied(
        database_url, make_hub, fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Dinner at ours", ["public", "friends"]), Author())
    await _publish(hub)
    change = EditInput(tags=["private"])
    plan = plan_edit(hub, view.post.id, change, Author())
    assert sorted(c.target for c in plan.retracted) == ["bsky", "masto-public"]
    assert {c.target: c.action for c in plan.copies if c.action != "retract"} == {
        "friends-mail": "unchanged", "friends-feed": "in-place"}
    await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest, run=True)
    copies = _by_target(hub, view.post.id)
    assert copies["bsky"]["status"] == copies["masto-public"]["status"] == "deleted"
    assert copies["friends-feed"]["status"] == "published"
    assert copies["friends-feed"]["carries_version"] == 2
    assert copies["friends-mail"]["carries_version"] == 1      # mail cannot be changed
    assert sorted(fakes["bluesky:me"].deleted + fakes["mastodon:main"].deleted) == sorted(
        c["remote_id"] for t, c in copies.items() if t in ("bsky", "masto-public"))
    assert fakes["mastodon:main"].edited == []
    names = _events(hub, view.post.id)
    assert {t for n, t in names if n == "CopyRetracted"} == {"bsky", "masto-public"}
    assert ("CopyNotChanged", "friends-mail") in names and ("CopyEdited", "friends-feed") in names


async def test_a_held_edit_waits_with_the_old_copy_untouched_until_approved(database_url,
                                                                           make_hub, fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Launch day", ["public"]), Author())
    await _publish(hub)
    change = EditInput(text="Launch day for the new work site", tags=["work"])
    plan = plan_edit(hub, view.post.id, change, Author())
    assert {c.action for c in plan.copies} == {"hold"}
    await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest, run=True)
    assert fakes["mastodon:main"].edited == [] and len(fakes["bluesky:me"].published) == 1
    held = _by_target(hub, view.post.id)["masto-public"]
    assert held["carries_version"] == 1 and held["edit"]["status"] == "held"
    await approve_edits(hub, view.post.id, run=True)
    assert [d.parts for _, d in fakes["mastodon:main"].edited] == [
        ("Launch day for the new work site",)]
    assert len(fakes["bluesky:me"].published) == 2
    assert {c["carries_version"] for c in copy_versions(hub, view.post.id)} == {2}
    assert [t for n, t in _events(hub, view.post.id) if n == "CopyEditHeld"] == [
        "bsky", "masto-public"]


async def test_scheduled_posts_take_the_edit_a_new_time_and_a_denial_before_they_go(
        database_url, make_hub, fakes):
    hub = make_hub(database_url)
    when = hub.now() + timedelta(hours=2)
    view = submit_post(hub, PostInput("Party at 8", ["public", "friends"], schedule_at=when),
                       Author())
    later = when + timedelta(hours=1)
    change = EditInput(text="Party at 9", schedule_at=later, tags=["private"])
    plan = plan_edit(hub, view.post.id, change, Author())
    assert {c.target: c.action for c in plan.copies} == {
        "bsky": "cancel", "masto-public": "cancel", "friends-mail": "update",
        "friends-feed": "update"}
    await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest, run=True)
    post = get_post(hub, view.post.id)
    assert {d.target: d.status for d in post.deliveries} == {
        "bsky": "cancelled", "masto-public": "cancelled", "friends-mail": "pending",
        "friends-feed": "pending"}
    assert {d.due_at for d in post.deliveries if d.status == "pending"} == {later}
    hub.now.value = later + timedelta(seconds=1)
    await _publish(hub)
    [mail] = fakes["email:personal"].published.values()
    assert mail.parts == ("Party at 9",)
    assert fakes["bluesky:me"].published == {} and fakes["mastodon:main"].published == {}


async def test_bad_edits_get_a_clear_refusal_and_change_nothing(database_url, make_hub, fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Hi", ["friends"]), Author())
    public = submit_post(hub, PostInput("Hello", ["public"]), Author())
    await _publish(hub)
    before = _events(hub, view.post.id)
    with pytest.raises(InvalidInput, match="never adds audiences.*make a new post"):
        plan_edit(hub, view.post.id, EditInput(text="Hi all", audiences=["friends", "public"]),
                  Author())
    phone = Author("token:phone", frozenset({"friends"}))
    with pytest.raises(Forbidden, match="also goes to public"):
        plan_edit(hub, public.post.id, EditInput(text="Hello!"), phone)
    plan = plan_edit(hub, view.post.id, EditInput(text="Hi!"), Author())
    with pytest.raises(Conflict, match="preview it again"):
        await edit_post(hub, view.post.id, EditInput(text="Hi!!"), Author(),
                        confirm=plan.digest, run=True)
    with pytest.raises(InvalidInput, match="changes nothing"):
        plan_edit(hub, view.post.id, EditInput(text="Hi"), Author())
    assert _events(hub, view.post.id) == before and get_post(hub, view.post.id).post.text == "Hi"
    await delete_everywhere(hub, view.post.id)
    with pytest.raises(Conflict, match="was deleted"):
        plan_edit(hub, view.post.id, EditInput(text="Hi!"), Author())


async def test_a_feed_entry_is_updated_in_place_for_the_same_members(database_url, make_hub,
                                                                    fakes):
    from hub.services.feeds import feed_links, read_feed
    from hub.services.people import NewPerson, add_person
    from web.routes.feeds import render_atom

    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    view = submit_post(hub, PostInput("Picnic on Satuday", ["friends"]), Author())
    await _publish(hub)
    [link] = feed_links(hub, "friends")
    token = link.url.split("token=", 1)[1]
    hub.now.advance(60)
    change = EditInput(text="Picnic on Saturday")
    await edit_post(hub, view.post.id, change, Author(),
                    confirm=plan_edit(hub, view.post.id, change, Author()).digest, run=True)
    [entry] = read_feed(hub, "friends", token).entries
    assert entry.text == "Picnic on Saturday" and entry.updated == hub.now()
    atom = render_atom(read_feed(hub, "friends", token), base="http://hub.test").decode()
    assert f"<updated>{hub.now().isoformat()}</updated>" in atom
    assert f"<published>{entry.published.isoformat()}</published>" in atom


async def test_a_transient_failure_is_retried_by_the_sweeper_after_its_backoff(database_url,
                                                                              make_hub, fakes):
    from hub.errors import TransientDeliveryError
    from hub.services.edit_copies import resume_due_edits

    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Helo", ["professional"]), Author())
    await _publish(hub)
    fakes["mastodon:main"].fail_next(1, TransientDeliveryError("503", platform="mastodon"))
    change = EditInput(text="Hello")
    await edit_post(hub, view.post.id, change, Author(),
                    confirm=plan_edit(hub, view.post.id, change, Author()).digest, run=True)
    [copy] = copy_versions(hub, view.post.id)
    assert copy["edit"]["status"] == "pending" and "will retry: 503" in copy["edit"]["reason"]
    assert await resume_due_edits(hub) == 0                  # not before its backoff
    hub.now.advance(6)
    assert await resume_due_edits(hub) == 1
    assert await resume_due_edits(hub) == 0
    [copy] = copy_versions(hub, view.post.id)
    assert copy["carries_version"] == 2 and copy["edit"]["status"] == "done"
    assert [d.parts for _, d in fakes["mastodon:main"].edited] == [("Hello",)]
