"""kill -9 of the process running the audit sequencer, mid-batch, on SQLite and PostgreSQL.

A child process sequences a backlog in one batch and is killed after writing every row of it
and before committing; a second sequencer started meanwhile (it waits for the lock) then does
the work. Afterwards: no queued event lost, none sequenced twice, the events already in the log
unchanged, the new ones in the order they were queued, and the chain, the Merkle tree and the
who-could-see index all agree.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, text

from hub.audit.records import canonical
from hub.audit.sequencer import PG_LOCK_ID, sequence_pending
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, submit_post
from hub.store.tables import AuditQueueRow, AuditRow, SnapshotMemberRow, VisibilityRow
from tests.conftest import ROOT, Clock, wait_until

pytestmark = pytest.mark.integration

_Q = AuditQueueRow.__table__  # type: ignore[attr-defined]
_A = AuditRow.__table__  # type: ignore[attr-defined]
_V = VisibilityRow.__table__  # type: ignore[attr-defined]
_M = SnapshotMemberRow.__table__  # type: ignore[attr-defined]


class Child:
    """A sequencer process whose output lines the test waits for."""

    def __init__(self, url: str, how: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.sequencer_child", url, how], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout: float = 60.0) -> str:
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} from the sequencer child; it said "
                                     f"{seen}") from None
            seen.append(line)
            if line.startswith(prefix):
                return line

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL


async def _publish(hub: Any, clock: Clock, n: int) -> None:
    for i in range(n):
        audience = ["friends"] if i % 3 else ["public"]
        submit_post(hub, PostInput(f"post {i}", audience), Author())
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w1")
        clock.advance(1)


def _log(hub: Any) -> list[tuple[int, str, str, str]]:
    with hub.db.read() as s:
        return [(r.seq, r.hash, r.name, canonical(r.payload)) for r in s.connection().execute(
            select(_A.c.seq, _A.c.hash, _A.c.name, _A.c.payload).order_by(_A.c.seq))]


def _queued(hub: Any) -> list[tuple[str, str]]:
    with hub.db.read() as s:
        return [(r.name, canonical(r.payload)) for r in s.connection().execute(
            select(_Q.c.name, _Q.c.payload).order_by(_Q.c.id))]


def _waiting_for_the_lock(hub: Any) -> bool:
    with hub.db.read() as s:
        return bool(s.connection().execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = :k AND objsubid = 2 "
            "AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295)"),
            {"k": PG_LOCK_ID}
        ).scalar())


async def test_kill_9_mid_batch_loses_nothing_and_duplicates_nothing(database_url, make_hub):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    for name in ("Ana", "Bo", "Cy"):
        add_person(hub, NewPerson(name, [("email", f"{name.lower()}@example.org")],
                                  ["friends"]))
    await _publish(hub, clock, 4)
    sequence_pending(hub.db)
    before = _log(hub)
    await _publish(hub, clock, 24)        # a backlog: every event of 24 posts queued
    backlog = _queued(hub)
    assert len(backlog) > 80 and _log(hub) == before

    holder = Child(database_url, "hold")
    assert holder.expect("mid-batch") == f"mid-batch {len(backlog)}"
    # every row of the batch is written, none committed: the log and the queue look untouched
    assert _log(hub) == before and _queued(hub) == backlog
    postgres = hub.db.dialect == "postgresql"
    if postgres:   # exactly one sequencer at a time: another gives up while the batch runs
        assert sequence_pending(hub.db) == 0
    waiter = Child(database_url, "wait")
    waiter.expect("started")
    if postgres:
        wait_until(lambda: _waiting_for_the_lock(hub), what="the second sequencer to wait")
    holder.kill9()
    assert waiter.expect("done") == f"done {len(backlog)}"
    assert waiter.proc.wait(timeout=30) == 0

    after = _log(hub)
    assert after[:len(before)] == before                       # nothing sequenced changed
    added = after[len(before):]
    assert [(name, payload) for _, _, name, payload in added] == backlog   # once, in order
    assert [seq for seq, *_ in added] == list(range(before[-1][0] + 1,
                                                    before[-1][0] + 1 + len(backlog)))
    assert _queued(hub) == []
    with hub.db.read() as s:
        result = hub.audit.verify(s)
        conn = s.connection()
        doubled = conn.execute(select(_V.c.delivery_id, _V.c.member, func.count())
                               .group_by(_V.c.delivery_id, _V.c.member)
                               .having(func.count() > 1)).all()
        indexed = Counter(conn.execute(select(_V.c.event_seq)).scalars())
        wanted = {r.seq: r for r in conn.execute(
            select(_A.c.seq, _A.c.subject, _A.c.payload)
            .where(_A.c.name == "DeliverySucceeded"))}
        members = Counter(conn.execute(select(_M.c.snapshot_hash)).scalars())
    assert result.ok, result.problem
    assert result.events == len(after) and result.tree_size == len(after)
    assert doubled == []
    for seq, row in wanted.items():          # each outcome indexed exactly once
        public = row.payload["reach"] in ("world", "world-unlisted")
        assert indexed[seq] == (1 if public else members[row.subject]), row.payload
