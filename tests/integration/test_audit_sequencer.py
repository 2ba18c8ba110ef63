"""Batched sequencing on SQLite and PostgreSQL: events commit queued with what they record, the
sequencer chains them in batches, answers and proofs see only sequenced events (after settling
what is queued), and a running hub's sequencer drains the queue within its bounded delay."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from hub.audit import tree
from hub.audit.sequencer import sequence_pending
from hub.bootstrap import Mode
from hub.domain.events import PolicyLoaded
from hub.errors import InvalidInput
from hub.services import audit_proofs
from hub.services.audit_post import post_audit
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import AuditQueueRow, AuditRow
from tests.conftest import Clock, async_wait_until

pytestmark = pytest.mark.integration

_Q = AuditQueueRow.__table__  # type: ignore[attr-defined]
_A = AuditRow.__table__  # type: ignore[attr-defined]


def _count(hub, table) -> int:
    with hub.db.read() as s:
        return len(s.connection().execute(select(table.c[list(table.c.keys())[0]])).all())


async def _deliver_all(hub) -> None:
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w1")


def test_an_event_too_long_for_its_column_is_refused_and_nothing_is_queued(database_url,
                                                                          make_hub):
    hub = make_hub(database_url)
    queued = _count(hub, _Q)
    with pytest.raises(InvalidInput, match="actor may have at most 120"), \
            hub.db.transaction() as s:
        hub.audit.append(s, PolicyLoaded(actor="x" * 121, files=[]), now=hub.now())
    assert _count(hub, _Q) == queued


async def test_queued_events_are_pending_until_sequenced_then_chained_in_order(database_url,
                                                                              make_hub):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    view = submit_post(hub, PostInput("for friends", ["friends"]), Author())
    await _deliver_all(hub)
    sequenced = _count(hub, _A)
    with hub.db.read() as s:
        pending = hub.audit.events(s, post_id=view.post.id)
    assert pending and all(e.seq is None and e.hash == "" for e in pending)
    assert "DeliverySucceeded" in [e.name for e in pending]
    with hub.db.read() as s:   # a checkpoint covers sequenced events only
        assert tree.size(s.connection()) == sequenced
    # in small batches, so the tree's edge is resumed from storage many times
    total = _count(hub, _Q)
    while _count(hub, _Q):
        sequence_pending(hub.db, limit=3)
    assert _count(hub, _Q) == 0 and _count(hub, _A) == sequenced + total
    with hub.db.read() as s:
        events = hub.audit.events(s, post_id=view.post.id)
        result = hub.audit.verify(s)
    assert [e.name for e in events] == [e.name for e in pending]
    assert [e.seq for e in events] == sorted(e.seq for e in events if e.seq is not None)
    assert result.ok and result.tree_size == sequenced + total, result.problem


async def test_answers_and_proofs_settle_the_queue_first(database_url, make_hub):
    hub = make_hub(database_url)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    view = submit_post(hub, PostInput("for friends", ["friends"]), Author())
    await _deliver_all(hub)
    assert _count(hub, _Q) > 0
    answer = post_audit(hub, view.post.id)
    assert _count(hub, _Q) == 0
    assert all(e["seq"] is not None for e in answer["events"])
    feed = next(c for c in answer["could_see"] if c["target"] == "friends-feed")
    assert [p["name"] for p in feed["people"]] == ["Ana"]
    submit_post(hub, PostInput("another", ["friends"]), Author())
    assert _count(hub, _Q) > 0
    bundle = audit_proofs.prove(hub, view.post.id)
    cp = audit_proofs.checkpoint(hub)
    assert _count(hub, _Q) == 0 and cp.tree_size == _count(hub, _A)
    assert bundle["entries"]


async def test_a_running_hub_sequences_within_its_delay(database_url, make_runtime):
    runtime = make_runtime(database_url, mode=Mode.EMBEDDED, real_clock=True,
                           audit_sequence_seconds=0.05)
    hub = runtime.hub
    await runtime.start()
    try:
        submit_post(hub, PostInput("hello", ["public"]), Author())
        await async_wait_until(lambda: _count(hub, _Q) == 0 and _count(hub, _A) > 0,
                               timeout=20, what="the background sequencer")
    finally:
        await runtime.stop()
    with hub.db.read() as s:
        assert hub.audit.verify(s).ok


def test_reading_events_while_the_sequencer_moves_them_never_misses_or_doubles_one(
        database_url, make_hub):
    """An event moves from the queue to the log in one transaction; a reader that looked at the
    log and the queue in two statements could see it in neither (PostgreSQL READ COMMITTED
    gives each statement its own snapshot), and the feed wrote its fetch record twice."""
    import threading

    hub = make_hub(database_url)
    sequence_pending(hub.db, wait=True)
    with hub.db.transaction() as s:
        for i in range(300):
            hub.audit.append(s, PolicyLoaded(actor=f"reader-race-{i}", files=[]), now=hub.now())
    done = threading.Event()

    def sequence_slowly() -> None:
        while sequence_pending(hub.db, wait=True, limit=3):
            pass
        done.set()

    mover = threading.Thread(target=sequence_slowly)
    mover.start()
    counts = []
    while not done.is_set():
        with hub.db.read() as s:
            rows = [r for r in hub.audit.events(s, names=["PolicyLoaded"])
                    if r.actor.startswith("reader-race-")]
        counts.append(len(rows))
        assert [r.actor for r in rows] == [f"reader-race-{i}" for i in range(300)]
    mover.join()
    assert len(counts) > 3 and set(counts) == {300}
