"""Editing posts written with per-network text variants (SQLite and PostgreSQL, fake publishers
behind the ports): the policy judges each copy on the text that copy would now carry, a copy
whose own text did not change is left alone, removing a variant sends (and judges) the main
text there, the audit records per copy the digest of the text it now carries, and the preview's
digest binds the variant texts."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx
import pytest
from sqlmodel import select

from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.bootstrap import Mode
from hub.errors import Conflict, InvalidInput
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edit_copies import run_copy_edits
from hub.services.edits import EditInput, approve_edits, copy_versions, edit_post, plan_edit
from hub.services.people import NewPerson, add_person
from hub.services.posts import get_post, submit_post
from hub.services.tokens import create_token
from hub.store.tables import AuditRow
from tests.conftest import TEST_POLICY
from tests.integration.test_http import LiveServer
from web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {name: FakePublisher(name) for name in
            ("bluesky:me", "mastodon:main", "email:personal")}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _publish(hub) -> None:
    for _ in range(2):
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")


def _events(hub, post_id: str) -> list[tuple[str, dict]]:
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        rows = s.exec(select(AuditRow).where(AuditRow.post_id == post_id)
                      .order_by(AuditRow.seq))
        return [(r.name, dict(r.payload)) for r in rows]


def _actions(plan) -> dict[str, str]:
    return {c.target: c.action for c in plan.copies}


def _texts(fake: FakePublisher) -> list[tuple[str, ...]]:
    return [d.parts for d in fake.published.values()]


async def _posted(hub, text: str, variants: dict[str, str], audiences=("public",)) -> str:
    view = submit_post(hub, PostInput(text, list(audiences), variants=variants), Author())
    await _publish(hub)
    return view.post.id


async def _edit(hub, post_id: str, change: EditInput):
    plan = plan_edit(hub, post_id, change, Author())
    await edit_post(hub, post_id, change, Author(), confirm=plan.digest, run=True)
    await run_copy_edits(hub, post_id)          # a second run changes nothing more
    return plan


async def test_a_private_tag_typed_only_into_the_edited_variant_retracts_that_network_only(
        database_url, make_hub, fakes):
    hub = make_hub(database_url)
    post_id = await _posted(hub, "Lunch by the river", {"bluesky": "Lunch"})
    plan = await _edit(hub, post_id, EditInput(variants={"bluesky": "Lunch #private"}))
    assert _actions(plan) == {"bsky": "retract", "masto-public": "none"}
    assert plan.changed == ("variants.bluesky",)
    bsky, masto = fakes["bluesky:me"], fakes["mastodon:main"]
    assert len(bsky.deleted) == 1 and _texts(bsky) == [("Lunch",)]     # deleted, nothing new
    assert masto.edited == [] and masto.deleted == [] and len(masto.published) == 1
    copies = {c["target"]: c for c in copy_versions(hub, post_id)}
    assert copies["bsky"]["status"] == "deleted"
    assert copies["masto-public"]["status"] == "published"
    assert copies["masto-public"]["carries_version"] == 2      # untouched, and up to date
    names = [(n, p.get("target")) for n, p in _events(hub, post_id)]
    assert ("CopyRetracted", "bsky") in names
    assert not any(t == "masto-public" for n, t in names if n.startswith("Copy"))
    # the post keeps the variant as written (the retracted copy's text)
    assert get_post(hub, post_id).post.variants[0].parts == ("Lunch #private",)


async def test_a_client_mention_typed_only_into_the_bluesky_variant_retracts_bluesky_only(
        database_url, make_hub, fakes, policy_dir):
    (policy_dir / "hub.yaml").write_text(
        TEST_POLICY + "  - id: no-clients\n    deny: {mentions_member_of: [clients]}\n")
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Cy", [("email", "cy@clients.example")], ["clients"]))
    post_id = await _posted(hub, "Thanks everyone", {"bluesky": "Thanks all"})
    plan = await _edit(hub, post_id, EditInput(
        variants={"bluesky": "Thanks all, and cy@clients.example"}))
    retract = next(c for c in plan.copies if c.target == "bsky")
    assert retract.action == "retract" and "no-clients" in retract.rule_ids
    assert _actions(plan)["masto-public"] == "none"
    assert len(fakes["bluesky:me"].deleted) == 1
    assert fakes["mastodon:main"].edited == [] and fakes["mastodon:main"].deleted == []


async def test_a_main_text_edit_leaves_the_variant_copy_alone(database_url, make_hub, fakes):
    hub = make_hub(database_url)
    post_id = await _posted(hub, "Helo world, the long version", {"bluesky": "Hi world"})
    plan = await _edit(hub, post_id, EditInput(text="Hello world, the long version"))
    assert _actions(plan) == {"bsky": "none", "masto-public": "edit"}
    bsky_plan = next(c for c in plan.copies if c.target == "bsky")
    assert bsky_plan.variant == "bluesky" and bsky_plan.text == "Hi world"
    assert "did not change" in bsky_plan.says
    bsky, masto = fakes["bluesky:me"], fakes["mastodon:main"]
    assert _texts(bsky) == [("Hi world",)] and bsky.deleted == []       # not re-sent
    assert [d.parts for _, d in masto.edited] == [("Hello world, the long version",)]
    assert {c["target"]: c["carries_version"] for c in copy_versions(hub, post_id)} == {
        "bsky": 2, "masto-public": 2}
    events = _events(hub, post_id)
    [edited] = [p for n, p in events if n == "CopyEdited"]
    assert edited["target"] == "masto-public" and edited["variant"] is None
    assert edited["text_sha256"] == _sha("Hello world, the long version")
    [post_edited] = [p for n, p in events if n == "PostEdited"]
    assert post_edited["variant_sha256"] == {"bluesky": _sha("Hi world")}
    assert not any(n == "CopyReplaced" for n, _ in events)


async def test_removing_a_variant_sends_the_main_text_and_the_policy_judges_that(
        database_url, make_hub, fakes):
    """The main text carries #private: Mastodon never got it; Bluesky got its clean variant.
    Removing the variant would send the main text to Bluesky: the policy judges it on that
    text, so the Bluesky copy is retracted, not replaced."""
    hub = make_hub(database_url)
    post_id = await _posted(hub, "Dinner at ours #private", {"bluesky": "Dinner"})
    assert {d.target: d.status for d in get_post(hub, post_id).deliveries}["bsky"] == \
        "published"
    plan = await _edit(hub, post_id, EditInput(variants={"bluesky": None}))
    assert _actions(plan)["bsky"] == "retract"
    bsky_plan = next(c for c in plan.copies if c.target == "bsky")
    assert bsky_plan.variant is None and bsky_plan.text == "Dinner at ours #private"
    assert "private-stays-home" in bsky_plan.rule_ids
    assert len(fakes["bluesky:me"].deleted) == 1 and _texts(fakes["bluesky:me"]) == [
        ("Dinner",)]
    assert get_post(hub, post_id).post.variants == ()


async def test_removing_a_clean_variant_replaces_that_copy_with_the_main_text(
        database_url, make_hub, fakes):
    hub = make_hub(database_url)
    post_id = await _posted(hub, "The whole story, told at length", {"bluesky": "Short"})
    plan = await _edit(hub, post_id, EditInput(variants={"bluesky": ""}))
    assert _actions(plan) == {"bsky": "replace", "masto-public": "none"}
    bsky = fakes["bluesky:me"]
    assert _texts(bsky) == [("Short",), ("The whole story, told at length",)]
    assert len(bsky.deleted) == 1 and fakes["mastodon:main"].edited == []
    [replaced] = [p for n, p in _events(hub, post_id) if n == "CopyReplaced"]
    assert replaced["variant"] is None
    assert replaced["text_sha256"] == _sha("The whole story, told at length")


async def test_adding_and_changing_variants_gives_each_network_its_own_text_once(
        database_url, make_hub, fakes):
    hub = make_hub(database_url)
    post_id = await _posted(hub, "Opening soon", {"bluesky": "Opening soon!"})
    change = EditInput(text="Opening on Monday",
                       variants={"bluesky": "Monday!", "mastodon": "Opening on Monday, 9am"})
    plan = await _edit(hub, post_id, change)
    assert _actions(plan) == {"bsky": "replace", "masto-public": "edit"}
    assert {c.target: (c.variant, c.text) for c in plan.copies} == {
        "bsky": ("bluesky", "Monday!"), "masto-public": ("mastodon", "Opening on Monday, 9am")}
    assert plan.changed == ("text", "variants.bluesky", "variants.mastodon")
    bsky, masto = fakes["bluesky:me"], fakes["mastodon:main"]
    assert _texts(bsky) == [("Opening soon!",), ("Monday!",)]
    assert [d.parts for _, d in masto.edited] == [("Opening on Monday, 9am",)]
    events = dict((p.get("target"), p) for n, p in _events(hub, post_id)
                  if n in ("CopyEdited", "CopyReplaced"))
    assert events["bsky"]["text_sha256"] == _sha("Monday!")
    assert events["bsky"]["variant"] == "bluesky"
    assert events["masto-public"]["text_sha256"] == _sha("Opening on Monday, 9am")
    assert events["masto-public"]["variant"] == "mastodon"
    # the next edit of the main text now touches no copy: both carry their own variant
    with pytest.raises(InvalidInput, match="changes nothing"):
        plan_edit(hub, post_id, EditInput(text="Opening on Monday"), Author())
    again = plan_edit(hub, post_id, EditInput(text="Opening on Monday morning"), Author())
    assert _actions(again) == {"bsky": "none", "masto-public": "none"}


async def test_a_work_tag_only_in_the_variant_holds_that_copy_only_until_approved(
        database_url, make_hub, fakes):
    hub = make_hub(database_url)
    post_id = await _posted(hub, "New site is live", {"bluesky": "Site live"})
    plan = await _edit(hub, post_id, EditInput(variants={"bluesky": "Site live #work"}))
    assert _actions(plan) == {"bsky": "hold", "masto-public": "none"}
    assert _texts(fakes["bluesky:me"]) == [("Site live",)]
    await approve_edits(hub, post_id, run=True)
    assert _texts(fakes["bluesky:me"]) == [("Site live",), ("Site live #work",)]
    assert fakes["mastodon:main"].edited == []


async def test_the_confirm_digest_binds_the_variant_text_and_a_stale_preview_is_refused(
        database_url, make_hub, fakes):
    hub = make_hub(database_url)
    post_id = await _posted(hub, "Concert tonight", {"bluesky": "Concert!"})
    shown = plan_edit(hub, post_id, EditInput(variants={"bluesky": "Concert at 8"}), Author())
    with pytest.raises(Conflict, match="preview it again"):
        await edit_post(hub, post_id, EditInput(variants={"bluesky": "Concert #private"}),
                        Author(), confirm=shown.digest, run=True)
    other = plan_edit(hub, post_id, EditInput(text="Concert tonight at 8"), Author())
    await edit_post(hub, post_id, EditInput(text="Concert tonight at 8"), Author(),
                    confirm=other.digest, run=True)
    with pytest.raises(Conflict):                       # the post changed since `shown`
        await edit_post(hub, post_id, EditInput(variants={"bluesky": "Concert at 8"}),
                        Author(), confirm=shown.digest, run=True)
    assert fakes["bluesky:me"].deleted == [] and _texts(fakes["bluesky:me"]) == [("Concert!",)]


async def test_bad_variant_edits_are_refused_and_change_nothing(database_url, make_hub, fakes):
    hub = make_hub(database_url)
    post_id = await _posted(hub, "Hello", {"bluesky": "Hi"})
    with pytest.raises(InvalidInput, match="no target or network"):
        plan_edit(hub, post_id, EditInput(variants={"blusky": "typo"}), Author())
    with pytest.raises(InvalidInput, match="no variant for 'mastodon' to remove"):
        plan_edit(hub, post_id, EditInput(variants={"mastodon": None}), Author())
    with pytest.raises(InvalidInput, match="control"):
        plan_edit(hub, post_id, EditInput(variants={"bluesky": "bell\x07"}), Author())
    with pytest.raises(InvalidInput, match="changes nothing"):
        plan_edit(hub, post_id, EditInput(variants={"bluesky": " Hi "}), Author())
    threaded = submit_post(hub, PostInput("Main", ["public"],
                                          variants={"bluesky": ["part 1", "part 2"]}), Author())
    with pytest.raises(Conflict, match="cannot edit threads"):
        plan_edit(hub, threaded.post.id, EditInput(text="Main!"), Author())
    assert get_post(hub, post_id).post.variants[0].parts == ("Hi",)


async def test_a_feed_copy_shows_its_own_variant_after_a_main_text_edit(
        database_url, make_hub, fakes):
    """The feed entry of a post with a feed variant keeps its variant when the main text is
    edited (the hub serves the feed itself: it reads what the copy carries)."""
    hub = make_hub(database_url)
    post_id = await _posted(hub, "Party at 8", {"feed": "Party at 8, bring a dish"},
                            audiences=("friends",))
    plan = await _edit(hub, post_id, EditInput(text="Party at 9"))
    assert _actions(plan) == {"friends-feed": "none", "friends-mail": "unchanged"}
    from hub.services.edit_versions import carried_content
    from hub.store.tables import DeliveryRow, PostRow
    with hub.db.read() as s:
        row = s.get(PostRow, post_id)
        feed = s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id,
                                                DeliveryRow.target == "friends-feed")).one()
        shown, updated = carried_content(s, row, feed)
    assert shown.text == "Party at 8, bring a dish" and updated is None
    plan = await _edit(hub, post_id, EditInput(variants={"feed": "Party at 9, bring a dish"}))
    # the mail still carries version 1 (sent mail cannot change): it stays "unchanged"
    assert _actions(plan) == {"friends-feed": "in-place", "friends-mail": "unchanged"}
    with hub.db.read() as s:
        shown, updated = carried_content(s, s.get(PostRow, post_id), feed)
    assert shown.text == "Party at 9, bring a dish" and updated is not None


def test_the_api_previews_per_copy_texts_then_confirms_a_variant_edit(make_runtime,
                                                                      sqlite_url, fakes):
    runtime = make_runtime(sqlite_url, mode=Mode.CLI)
    hub = runtime.hub
    _, full = create_token(hub, "laptop", ["post", "read"])
    post_id = asyncio.run(_posted(hub, "Big news, at length", {"bluesky": "Big news"}))
    auth = {"Authorization": f"Bearer {full}"}
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server, \
            httpx.Client(base_url=server.url, timeout=30, headers=auth) as client:
        url = f"/api/posts/{post_id}"
        body = {"variants": {"bluesky": "Big news #private", "mastodon": "Big news, in full"}}
        preview = client.patch(url, json=body)
        assert preview.status_code == 200, preview.text
        data = preview.json()
        assert data["applied"] is False and data["retracts"] == ["bsky"]
        copies = {c["target"]: c for c in data["copies"]}
        assert copies["bsky"]["carries"] == {"variant": "bluesky", "text": "Big news #private",
                                             "text_sha256": _sha("Big news #private")}
        assert copies["masto-public"]["action"] == "edit"
        assert copies["masto-public"]["carries"]["text"] == "Big news, in full"
        typo = client.patch(url, json={"variants": {"blue sky": "x"}})
        assert typo.status_code == 400 and "no target or network" in typo.json()["detail"]
        stale = client.patch(url, content=json.dumps(
            {"variants": {"bluesky": "Big news!"}, "confirm": data["confirm"]}),
            headers={"Content-Type": "application/json"})
        assert stale.status_code == 409
        done = client.patch(url, json={**body, "confirm": data["confirm"]})
        assert done.status_code == 202, done.text
        asyncio.run(run_copy_edits(hub, post_id))
        after = client.get(f"{url}/copies").json()["copies"]
        assert {c["target"]: c["status"] for c in after} == {"bsky": "deleted",
                                                            "masto-public": "published"}
    assert [d.parts for _, d in fakes["mastodon:main"].edited] == [("Big news, in full",)]
    assert len(fakes["bluesky:me"].deleted) == 1


async def test_a_held_variant_edit_survives_a_main_text_edit_and_is_dropped_by_a_revert(
        database_url, make_hub, fakes):
    """What a copy is compared with is what it carries, not the previous version: a held
    Bluesky edit stays held through a main-text fix, and writing the variant back as it was
    sent leaves the copy alone and drops the held edit."""
    hub = make_hub(database_url)
    post_id = await _posted(hub, "New site is live", {"bluesky": "Site live"})
    await _edit(hub, post_id, EditInput(variants={"bluesky": "Site live #work"}))
    plan = await _edit(hub, post_id, EditInput(text="The new site is live"))
    assert _actions(plan) == {"bsky": "hold", "masto-public": "edit"}
    revert = await _edit(hub, post_id, EditInput(variants={"bluesky": "Site live"}))
    assert _actions(revert) == {"bsky": "none", "masto-public": "none"}
    with pytest.raises(InvalidInput, match="no edit awaiting approval"):
        await approve_edits(hub, post_id, run=True)
    assert _texts(fakes["bluesky:me"]) == [("Site live",)] and fakes["bluesky:me"].deleted == []
    assert [d.parts for _, d in fakes["mastodon:main"].edited] == [("The new site is live",)]
    assert {c["target"]: c["carries_version"] for c in copy_versions(hub, post_id)} == {
        "bsky": 4, "masto-public": 4}
