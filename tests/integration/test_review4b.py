"""Review 4b: probes of today's variant edits and speed work on the delivery path.

An edit is a re-judgment of every copy by the policy and the people of that moment (README:
"retracted where the policy now denies it"). A copy whose own text an edit leaves as it is
may be left alone only if the policy still allows it there: otherwise the copy is recorded as
carrying the new version, a version the policy in force denies on that network."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.errors import TransientDeliveryError
from hub.ports import Draft, Receipt, Steps
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edit_copies import run_copy_edit, run_copy_edits
from hub.services.edits import EditInput, approve_edits, copy_versions, edit_post, plan_edit
from hub.services.people import NewPerson, add_person
from hub.services.policy import reload_policy
from hub.services.posts import submit_post
from hub.store.edit_tables import CopyEditRow
from hub.store.tables import AuditRow
from tests.conftest import TEST_POLICY

pytestmark = pytest.mark.integration

NO_CLIENTS = "  - id: no-clients\n    deny: {mentions_member_of: [clients]}\n"


class Gated(FakePublisher):
    """A fake whose first publish after ``stall()`` waits until ``release(fail=...)``: an
    attempt stuck on the network past its lease (then, if ``fail``, a transient error)."""

    def stall(self) -> None:
        self.stalled, self.released, self.fail = asyncio.Event(), asyncio.Event(), False

    def release(self, *, fail: bool) -> None:
        self.fail = fail
        self.released.set()

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        if getattr(self, "stalled", None) is not None and not self.stalled.is_set():
            self.stalled.set()
            await self.released.wait()
            if self.fail:
                raise TransientDeliveryError("503 from the network")
        return await super().publish(draft, key=key, steps=steps)


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {"bluesky:me": Gated("bluesky:me"), "mastodon:main": TwoGates("mastodon:main"),
            "email:personal": FakePublisher("email:personal")}


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


@pytest.mark.parametrize("late_fails", [False, True])
async def test_a_copy_edit_run_that_lost_its_lease_writes_nothing(
        database_url, make_hub, fakes, late_fails):
    """Run A replaces the Bluesky copy and stalls on the network past its lease; run B takes
    the copy edit over and finishes it (new copy up, old copy deleted). When A comes back it
    must write nothing: not a second CopyReplaced, and above all not 'pending, will retry'
    over B's done, after which the next run deletes the new copy (its receipt is now the
    delivery's) and the post is gone from Bluesky while the hub says published."""
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Helo", ["public"]), Author())
    await _publish(hub)
    post_id, bsky = view.post.id, fakes["bluesky:me"]
    assert isinstance(bsky, Gated)
    change = EditInput(text="Hello")
    plan = plan_edit(hub, post_id, change, Author())
    assert {c.target: c.action for c in plan.copies}["bsky"] == "replace"
    await edit_post(hub, post_id, change, Author(), confirm=plan.digest)
    with hub.db.read() as s:
        edit_id = s.exec(select(CopyEditRow.id).where(CopyEditRow.post_id == post_id,
                                                      CopyEditRow.target == "bsky")).one()
    bsky.stall()
    a = asyncio.create_task(run_copy_edit(hub, edit_id))
    await asyncio.wait_for(bsky.stalled.wait(), 10)
    hub.now.advance(hub.settings.lease_seconds + 1)         # A's lease runs out
    assert await run_copy_edit(hub, edit_id)                # B takes over and finishes
    bsky.release(fail=late_fails)
    await a
    await run_copy_edits(hub, post_id)                      # what the sweeper would run
    with hub.db.read() as s:
        edit = s.get(CopyEditRow, edit_id)
        assert edit is not None and edit.status == "done", (edit.status, edit.reason)
    live = [r.remote_id for r in bsky.receipts.values() if r.remote_id not in bsky.deleted]
    assert len(live) == 1, (bsky.receipts, bsky.deleted)
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        names = [r.name for r in s.exec(select(AuditRow).where(AuditRow.post_id == post_id))]
    assert names.count("CopyReplaced") == 1, names


class TwoGates(FakePublisher):
    """Each publish waits for its own gate (in call order): two attempts on the network at
    once, released in the order the test chooses."""

    def stall(self, n: int) -> None:
        self.gates, self.entered = [asyncio.Event() for _ in range(n)], 0

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        gates = getattr(self, "gates", [])
        if gates:
            n, self.entered = self.entered, self.entered + 1
            await gates[n].wait()
        return await super().publish(draft, key=key, steps=steps)


async def test_a_lost_lease_writes_no_outcome_when_the_next_lease_has_the_same_owner_name(
        database_url, make_hub, fakes):
    """Attempt A ('w#1') stalls on the network past its lease; the sweeper's re-run in the
    same process is also 'w#1' (job_try 1 again) and takes the expired lease. A comes back
    first: it no longer holds the lease, so it must write nothing (B records the outcome)."""
    hub = make_hub(database_url)
    masto = fakes["mastodon:main"]
    assert isinstance(masto, TwoGates)
    masto.stall(2)
    view = submit_post(hub, PostInput("Hello", ["professional"]), Author())
    [delivery_id] = await asyncio.to_thread(due_ids, hub)
    a = asyncio.create_task(deliver(hub, delivery_id, worker="w#1"))
    while masto.entered < 1:
        await asyncio.sleep(0.01)
    hub.now.advance(hub.settings.lease_seconds + 1)        # A's lease ran out
    b = asyncio.create_task(deliver(hub, delivery_id, worker="w#1"))
    while masto.entered < 2:
        await asyncio.sleep(0.01)
    masto.gates[0].set()
    first = await a
    masto.gates[1].set()
    await b
    assert first.status.value == "skipped" and first.reason == "lease lost", first
    assert view.post.id


async def test_a_copy_edit_the_policy_holds_by_the_time_it_runs_is_not_sent(
        database_url, make_hub, fakes, policy_dir):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("Helo", ["public"]), Author())
    await _publish(hub)
    change = EditInput(text="Hello")
    plan = plan_edit(hub, view.post.id, change, Author())
    assert {c.target: c.action for c in plan.copies}["masto-public"] == "edit"
    await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest)
    (policy_dir / "hub.yaml").write_text(
        TEST_POLICY + "  - id: review-all\n    hold: {audiences: [public]}\n")
    reload_policy(hub, actor="test")
    await run_copy_edits(hub, view.post.id)
    assert fakes["mastodon:main"].edited == []      # waits for approval, as a delivery would
    copies = {c["target"]: c for c in copy_versions(hub, view.post.id)}
    assert copies["masto-public"]["carries_version"] == 1, copies["masto-public"]
    await approve_edits(hub, view.post.id, run=True)
    assert [d.parts for _, d in fakes["mastodon:main"].edited] == [("Hello",)]
