"""An attempt records its outcome only while it holds its lease, on SQLite and PostgreSQL:
when the lease ran out during the publish and another worker took the delivery over and
recorded it, the late attempt writes nothing (no second outcome, audit event or snapshot)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from sqlmodel import func, select

from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.domain.delivery import AttemptOutcome, DeliveryStatus
from hub.ports import Draft, Receipt, Steps
from hub.services.delivery import deliver
from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import AuditRow, DeliveryRow, SnapshotRow
from tests.conftest import Clock

pytestmark = pytest.mark.integration


@dataclass
class FirstCallWaits(FakePublisher):
    """A fake whose first publish waits for ``release``; later ones answer at once."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            await self.release.wait()
        return await super().publish(draft, key=key, steps=steps)


async def test_an_attempt_that_lost_its_lease_records_nothing(database_url, make_hub, fakes):
    gate = fakes["bluesky:me"] = FirstCallWaits("bluesky:me", limit=300)
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    view = submit_post(hub, PostInput("hello", ["public"]), Author())
    bsky = next(d for d in view.deliveries if d.target == "bsky")
    late = asyncio.create_task(deliver(hub, bsky.id, worker="worker-a"))
    await asyncio.wait_for(gate.started.wait(), 10)        # A publishes, slowly
    clock.advance(hub.settings.lease_seconds + 1)           # A's lease runs out
    taken = await deliver(hub, bsky.id, worker="worker-b")
    assert taken.status is AttemptOutcome.PUBLISHED
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        snapshots = s.exec(select(func.count()).select_from(SnapshotRow)).one()
        row = s.get(DeliveryRow, bsky.id)
        b_receipt = dict(row.receipt)
    gate.release.set()
    attempt = await asyncio.wait_for(late, 10)
    assert (attempt.status, attempt.reason) == (AttemptOutcome.SKIPPED, "lease lost")
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        row = s.get(DeliveryRow, bsky.id)
        events = s.exec(select(AuditRow.actor, AuditRow.payload).where(
            AuditRow.name == "DeliverySucceeded", AuditRow.delivery_id == bsky.id)).all()
        assert s.exec(select(func.count()).select_from(SnapshotRow)).one() == snapshots
    assert (row.status, row.lease_owner, row.attempts) == (DeliveryStatus.PUBLISHED, None, 2)
    assert row.receipt == b_receipt
    assert [(actor, payload["attempts"]) for actor, payload in events] == [("worker:worker-b", 2)]


async def test_a_published_outcome_records_the_receipt_snapshot_and_event(database_url,
                                                                          make_hub, fakes):
    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("hello", ["public"]), Author())
    bsky = next(d for d in view.deliveries if d.target == "bsky")
    attempt = await deliver(hub, bsky.id, worker="w1")
    assert attempt.status is AttemptOutcome.PUBLISHED
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        row = s.get(DeliveryRow, bsky.id)
        event = s.exec(select(AuditRow).where(AuditRow.name == "DeliverySucceeded",
                                              AuditRow.delivery_id == bsky.id)).one()
        snapshot = s.get(SnapshotRow, row.receipt["snapshot"])
    assert (row.status, row.lease_owner, row.lease_until, row.last_error) == (
        DeliveryStatus.PUBLISHED, None, None, "")
    assert row.finished is not None and row.finished == row.updated
    assert row.remote_id and row.remote_url
    assert set(row.receipt) == {"details", "snapshot", "notes"}
    assert snapshot is not None and snapshot.reach == row.reach
    assert event.subject == row.receipt["snapshot"]
    assert (event.actor, event.payload["attempts"], event.payload["remote_id"]) == (
        "worker:w1", 1, row.remote_id)


async def test_a_hold_added_after_submit_holds_the_delivery_at_publish_time(
        database_url, make_hub, fakes, policy_dir):
    from hub.services.policy import reload_policy
    from hub.services.posts import approve, get_post
    from tests.conftest import TEST_POLICY

    hub = make_hub(database_url)
    view = submit_post(hub, PostInput("hello", ["public"], tags=["later"]), Author())
    bsky = next(d for d in view.deliveries if d.target == "bsky")
    assert bsky.status == "pending"
    (policy_dir / "hub.yaml").write_text(
        TEST_POLICY + "  - id: later\n    hold: {tags: [later]}\n")
    reload_policy(hub, actor="test")
    attempt = await deliver(hub, bsky.id, worker="w1")
    assert attempt.status is AttemptOutcome.HELD
    sequence_pending(hub.db, wait=True)
    with hub.db.read() as s:
        row = s.get(DeliveryRow, bsky.id)
        phases = s.exec(select(AuditRow.payload).where(
            AuditRow.name == "RouteDecided", AuditRow.delivery_id == bsky.id)).all()
    assert (row.status, row.lease_owner, row.lease_until, row.attempts) == (
        DeliveryStatus.HELD, None, None, 0)
    assert [p["phase"] for p in phases] == ["publish"]
    assert fakes["bluesky:me"].published == {}
    approve(hub, view.post.id, approver="owner")
    assert (await deliver(hub, bsky.id, worker="w2")).status is AttemptOutcome.PUBLISHED
    states = {d.target: d.status for d in get_post(hub, view.post.id).deliveries}
    assert states["bsky"] == "published"
