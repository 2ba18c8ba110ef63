"""Review 4b: probes of today's variant edits and speed work on the delivery path.

An edit is a re-judgment of every copy by the policy and the people of that moment (README:
"retracted where the policy now denies it"). A copy whose own text an edit leaves as it is
may be left alone only if the policy still allows it there: otherwise the copy is recorded as
carrying the new version, a version the policy in force denies on that network."""

from __future__ import annotations

import asyncio

import pytest

from adapters.fake import FakePublisher
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edit_copies import run_copy_edits
from hub.services.edits import EditInput, copy_versions, edit_post, plan_edit
from hub.services.people import NewPerson, add_person
from hub.services.policy import reload_policy
from hub.services.posts import submit_post
from tests.conftest import TEST_POLICY

pytestmark = pytest.mark.integration

NO_CLIENTS = "  - id: no-clients\n    deny: {mentions_member_of: [clients]}\n"


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {name: FakePublisher(name) for name in
            ("bluesky:me", "mastodon:main", "email:personal")}


async def _publish(hub) -> None:
    for _ in range(2):
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")


async def test_a_variant_edit_retracts_the_main_text_copy_the_people_now_deny(
        database_url, make_hub, fakes, policy_dir):
    """Cy becomes a client after the post went out; an edit of the Bluesky variant only must
    still judge the Mastodon copy (main text, unchanged, mentioning Cy) and retract it."""
    (policy_dir / "hub.yaml").write_text(TEST_POLICY + NO_CLIENTS)
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Thanks cy@clients.example", ["public"],
                                      variants={"bluesky": "Thanks all"}), Author())
    await _publish(hub)
    post_id = view.post.id
    assert len(fakes["mastodon:main"].published) == 1
    add_person(hub, NewPerson("Cy", [("email", "cy@clients.example")], ["clients"]))

    change = EditInput(variants={"bluesky": "Thanks all!"})
    plan = plan_edit(hub, post_id, change, Author())
    masto = next(c for c in plan.copies if c.target == "masto-public")
    assert masto.action == "retract", masto
    assert "no-clients" in masto.rule_ids
    await edit_post(hub, post_id, change, Author(), confirm=plan.digest, run=True)
    await run_copy_edits(hub, post_id)
    assert len(fakes["mastodon:main"].deleted) == 1
    copies = {c["target"]: c for c in copy_versions(hub, post_id)}
    assert copies["masto-public"]["status"] == "deleted"
    assert copies["bsky"]["status"] == "published"


async def test_a_main_text_edit_retracts_the_variant_copy_of_a_target_no_longer_in_the_policy(
        database_url, make_hub, fakes, policy_dir):
    """The bsky target is taken out of the policy after the post went out; a main-text fix
    leaves bsky's own text as it was, yet bsky is now denied (target-removed): retract it."""
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Helo world", ["public"],
                                      variants={"bluesky": "Hi world"}), Author())
    await _publish(hub)
    post_id = view.post.id
    assert len(fakes["bluesky:me"].published) == 1
    (policy_dir / "hub.yaml").write_text(TEST_POLICY.replace(
        "targets: [bsky, masto-public]", "targets: [masto-public]").replace(
        "targets: [friends-feed, bsky]", "targets: [friends-feed]").replace(
        "  bsky: {account: bluesky:me}\n", ""))
    reload_policy(hub, actor="test")

    plan = plan_edit(hub, post_id, EditInput(text="Hello world"), Author())
    bsky = next(c for c in plan.copies if c.target == "bsky")
    assert bsky.action == "retract", bsky
