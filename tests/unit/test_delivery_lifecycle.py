"""The delivery lifecycle as types, on SQLite: states and outcomes are enums, an attempt
carries its platform and the digest of the policy it was checked against, and the embedded
and Redis sweepers share one predicate."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import select

from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.dispatch.queue import sweepable
from hub.domain.delivery import AttemptOutcome, DeliveryStatus
from hub.ports import Draft, Receipt, Steps
from hub.services.delivery import deliver, due_ids, take
from hub.services.policy import reload_policy
from hub.services.posts import Author, PostInput, get_post, submit_post
from hub.store.tables import AuditRow
from tests.conftest import TEST_POLICY, Clock


@dataclass
class GatedPublisher(FakePublisher):
    """A fake whose publish waits for ``release`` once it has ``started``."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        self.started.set()
        await self.release.wait()
        return await super().publish(draft, key=key, steps=steps)


async def test_a_reload_during_a_publish_leaves_the_attempt_its_own_policy(
        make_hub, sqlite_url, fakes, policy_dir):
    gate = fakes["bluesky:me"] = GatedPublisher("bluesky:me", limit=300)
    hub = make_hub(sqlite_url)
    old = hub.policies.current.digest
    view = submit_post(hub, PostInput("hello", ["public"]), Author())
    bsky = next(d for d in view.deliveries if d.target == "bsky")
    attempt_task = asyncio.create_task(deliver(hub, bsky.id, worker="w1"))
    await asyncio.wait_for(gate.started.wait(), 10)        # the publish is under way
    (policy_dir / "hub.yaml").write_text(
        TEST_POLICY + "  - id: later\n    hold: {tags: [later]}\n")
    new, changed = await asyncio.to_thread(reload_policy, hub, actor="test")
    assert changed and new.digest != old
    gate.release.set()
    attempt = await asyncio.wait_for(attempt_task, 10)
    assert attempt.status is AttemptOutcome.PUBLISHED
    assert (attempt.platform, attempt.policy_digest) == ("bluesky", old)
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        recorded = s.exec(select(AuditRow.policy_digest).where(
            AuditRow.name == "DeliverySucceeded", AuditRow.delivery_id == bsky.id)).all()
    assert recorded == [old]                 # the policy that let it out, not the reloaded one


def test_delivery_states_are_an_enum_from_submit_to_the_view(make_hub, sqlite_url):
    hub = make_hub(sqlite_url)
    view = submit_post(hub, PostInput("hello", ["public"], tags=["work"]), Author())
    states = {d.target: d.status for d in get_post(hub, view.post.id).deliveries}
    assert states == {"bsky": DeliveryStatus.HELD, "masto-public": DeliveryStatus.HELD}
    assert all(isinstance(s, DeliveryStatus) for s in states.values())


def test_take_returns_the_leased_delivery_once(make_hub, sqlite_url):
    hub = make_hub(sqlite_url)
    view = submit_post(hub, PostInput("hello", ["public"]), Author())
    first = view.deliveries[0]
    leased = take(hub, first.id, "w1")
    assert leased is not None and leased.status is DeliveryStatus.IN_FLIGHT
    assert leased.attempts == 1 and leased.lease_owner == "w1"
    assert take(hub, first.id, "w2") is None


def test_both_sweepers_use_one_predicate(make_hub, sqlite_url):
    """Due now: both list it. Scheduled within the Redis horizon: only the queue holds it
    ahead of time. In flight under a live lease: neither; once the lease runs out: both."""
    clock = Clock()
    hub = make_hub(sqlite_url, clock=clock, lease_seconds=60)
    now_post = submit_post(hub, PostInput("now", ["professional"]), Author())
    later = submit_post(hub, PostInput("later", ["professional"],
                                       schedule_at=clock.value + timedelta(minutes=30)), Author())
    (due,), (scheduled,) = now_post.deliveries, later.deliveries
    assert due_ids(hub) == [due.id]
    assert [r.id for r in sweepable(hub)] == [due.id, scheduled.id]
    assert take(hub, due.id, "w1") is not None
    assert due_ids(hub) == [] and [r.id for r in sweepable(hub)] == [scheduled.id]
    clock.advance(61)                                            # the lease ran out
    assert due_ids(hub) == [due.id]
    assert [(r.id, r.status) for r in sweepable(hub)][0] == (due.id, DeliveryStatus.IN_FLIGHT)
