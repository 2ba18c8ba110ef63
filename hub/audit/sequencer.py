"""Batched sequencing: queued events get their place in the log, many at a time.

A change and the events that record it commit together into ``audit_queue`` (no lock, no hash,
no tree work in the publishing transaction). The sequencer then takes everything queued, oldest
first, and in **one short transaction** gives each event its ``seq``, its chain hash (from the
event before it), its Merkle leaf and the subtrees it completes, and its who-could-see index
rows, and deletes it from the queue. Either the whole batch commits or none of it does, so a
process killed mid-batch (``kill -9``) loses nothing and duplicates nothing: the queue still
holds every event, and the next batch, by whichever process, picks them up in the same order.
Nothing ever changes a sequenced event.

Only one batch runs at a time: on SQLite a writer holds the database's one write lock
(BEGIN IMMEDIATE), on PostgreSQL the batch takes a transaction-scoped advisory lock first, so
any number of processes may run a sequencer (the web process and every ``hub worker`` do) and
at most one of them sequences at any moment; the others find the lock taken and try again at
their next tick, or find the queue empty.

Checkpoints, proofs and ``verify`` cover sequenced events only; answers that read the log
first sequence what is queued (``settle``), and show events queued meanwhile as pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, delete, insert, select, text
from sqlmodel import Session

from hub.audit import index, merkle
from hub.audit.records import GENESIS, event_body, leaf_data, row_digest
from hub.store.db import Database
from hub.store.tables import AuditQueueRow, AuditRow, SnapshotMemberRow, TreeNodeRow

log = structlog.get_logger("hub.audit")

PG_LOCK_ID = 7_272_001
"""The advisory lock one batch holds on PostgreSQL, with a hash of the schema's name."""
BATCH = 5000
"""Most events sequenced in one transaction (a bigger backlog takes several)."""

_Q = AuditQueueRow.__table__  # type: ignore[attr-defined]
_A = AuditRow.__table__  # type: ignore[attr-defined]
_T = TreeNodeRow.__table__  # type: ignore[attr-defined]
_M = SnapshotMemberRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Batch:
    """What one batch sequenced: ``count`` events, ``first``..``last`` their seq numbers."""

    count: int
    first: int = 0
    last: int = 0


def lock(conn: Connection, *, wait: bool) -> bool:
    """Take the sequencing lock for this transaction (PostgreSQL; SQLite's write transaction
    already is one). ``wait=False``: give up at once if another process holds it."""
    if conn.dialect.name != "postgresql":
        return True
    # keyed by the schema too: hubs (or tests) sharing one database in their own schemas
    # have logs of their own and must not wait for each other
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"),
                     {"k": PG_LOCK_ID})
        return True
    return bool(conn.execute(text(
        "SELECT pg_try_advisory_xact_lock(:k, hashtext(current_schema()))"),
        {"k": PG_LOCK_ID}).scalar())


_QUEUED = text("SELECT 1 FROM audit_queue LIMIT 1")


def queued(conn: Connection) -> bool:
    """Whether anything waits to be sequenced (a cheap read, its statement built once)."""
    return conn.execute(_QUEUED).first() is not None


def resume(conn: Connection) -> tuple[tuple[int, str], merkle.Frontier]:
    """The log's head: the last seq, its hash, and the tree's right edge read from storage."""
    head = conn.execute(select(_A.c.seq, _A.c.hash).order_by(_A.c.seq.desc()).limit(1)).first()
    last = conn.execute(select(_T.c.idx).where(_T.c.level == 0)
                        .order_by(_T.c.idx.desc()).limit(1)).scalar()
    size = 0 if last is None else int(last) + 1
    edge: list[tuple[int, int]] = []    # (level, idx) of each complete subtree, biggest first
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            edge.append((level, start >> level))
            start += 1 << level
    hashes = {(r.level, r.idx): bytes.fromhex(r.hash) for r in conn.execute(
        select(_T.c.level, _T.c.idx, _T.c.hash).where(
            _T.c.level.in_([lv for lv, _ in edge]))
        .where(_T.c.idx.in_([i for _, i in edge])))} if edge else {}
    frontier = merkle.Frontier.resume(size, [hashes[n] for n in edge], [lv for lv, _ in edge])
    return (int(head.seq), str(head.hash)) if head else (0, GENESIS), frontier


def sequence_batch(conn: Connection, *, wait: bool = False, limit: int = BATCH,
                   before_commit: Callable[[int], None] | None = None) -> Batch:
    """Sequence up to ``limit`` queued events inside the caller's (write) transaction.

    Returns ``Batch(0)`` when the queue is empty or (``wait=False``) another process holds the
    lock. ``before_commit`` is called with the batch size once every row is written (the
    fault tests use it to know a batch is under way)."""
    if not lock(conn, wait=wait):
        return Batch(0)
    rows = list(conn.execute(select(_Q).order_by(_Q.c.id).limit(limit)))
    if not rows:
        return Batch(0)
    (seq, prev), frontier = resume(conn)
    members = _members(conn, {r.subject or "" for r in rows
                              if r.name in ("DeliverySucceeded", "AudienceGrew")})
    rank: int | None = None
    events: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    seen: list[dict[str, Any]] = []
    fetched: list[dict[str, Any]] = []
    first = seq + 1
    for r in rows:
        seq += 1
        digest = row_digest(prev, r)
        leaf = merkle.leaf_hash(leaf_data(seq, prev, digest, event_body(r)))
        for level, idx, h in frontier.add(leaf):
            nodes.append({"level": level, "idx": idx, "hash": h.hex(),
                          "seq": seq if level == 0 else None})
        events.append({"seq": seq, "name": r.name, "created": r.created, "actor": r.actor,
                       "post_id": r.post_id, "delivery_id": r.delivery_id,
                       "subject": r.subject, "policy_digest": r.policy_digest,
                       "payload": r.payload, "prev_hash": prev, "hash": digest})
        prev = digest
        facts = index.EventFacts(seq, r.name, r.created, r.post_id, r.delivery_id, r.subject,
                                 r.payload or {})
        if r.name == "DeliverySucceeded":
            if rank is None and str(facts.payload.get("reach")) in index.PUBLIC_REACHES:
                rank = index.last_public_rank(conn)
            made = index.visibility_rows(facts, members.get(r.subject or "", []), rank or 0)
            rank = max([rank or 0] + [m["public_rank"] or 0 for m in made])
            seen.extend(made)
        elif r.name == "AudienceGrew":
            seen.extend(index.grew_rows(facts, members.get(r.subject or "", [])))
        elif r.name == "FeedFetched":
            fetched.extend(index.fetch_rows(facts))
    conn.execute(insert(_A), events)
    conn.execute(insert(_T), nodes)
    index.write(conn, seen, fetched)
    conn.execute(delete(_Q).where(_Q.c.id.in_(bindparam("ids", expanding=True))),
                 {"ids": [r.id for r in rows]})
    if before_commit is not None:
        before_commit(len(rows))
    return Batch(len(rows), first, seq)


def _members(conn: Connection, snapshots: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    wanted = sorted(s for s in snapshots if s)
    out: dict[str, list[dict[str, Any]]] = {}
    for i in range(0, len(wanted), 500):
        for m in conn.execute(select(_M.c.snapshot_hash, _M.c.member, _M.c.person_id,
                                     _M.c.identity, _M.c.via_list)
                              .where(_M.c.snapshot_hash.in_(wanted[i:i + 500]))):
            out.setdefault(m.snapshot_hash, []).append(dict(m._mapping))
    return out


def sequence_pending(db: Database, *, wait: bool = False, limit: int = BATCH,
                     before_commit: Callable[[int], None] | None = None) -> int:
    """Sequence everything queued, one batch per transaction; return how many events.

    A cheap read first, so an idle hub never takes the write lock. Stops early (returning
    what it did) when ``wait`` is False and another process holds the sequencing lock."""
    with db.read() as s:
        if not queued(s.connection()):
            return 0
    done = 0
    while True:
        with db.transaction() as s:
            batch = sequence_batch(s.connection(), wait=wait, limit=limit,
                                   before_commit=before_commit)
        done += batch.count
        if batch.count < limit:
            return done


def settle(db: Database) -> int:
    """Sequence what is queued now, waiting for a sequencer that is at work (read-your-writes
    for answers, proofs, checkpoints and ``verify``)."""
    return sequence_pending(db, wait=True)


@contextmanager
def settled_read(db: Database) -> Iterator[Session]:
    """A read transaction that sees everything queued before it began, sequenced: when the
    queue is empty (almost always) this is one plain read, with no extra round trip."""
    with db.read() as s:
        if not queued(s.connection()):
            yield s
            return
    settle(db)
    with db.read() as s:
        yield s


class Sequencer:
    """A process's background sequencer: every ``delay`` seconds it sequences whatever is
    queued (from this process or any other). Many may run; one batch runs at a time."""

    def __init__(self, db: Database, *, delay: float) -> None:
        self.db = db
        self.delay = max(delay, 0.01)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop, then sequence what this process left queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(sequence_pending, self.db, wait=True)

    async def _run(self) -> None:
        while True:
            try:
                n = await asyncio.to_thread(sequence_pending, self.db)
                if n:
                    log.debug("audit.sequenced", events=n)
            except Exception as exc:  # noqa: BLE001 - the database may be down: try again
                log.warning("audit.sequencing_failed", error=type(exc).__name__,
                            detail=str(exc))
            await asyncio.sleep(self.delay)


def pending_rows(conn: Connection, *, post_id: str | None = None,
                 names: Iterable[str] | None = None) -> list[Mapping[str, Any]]:
    """Queued events (oldest first), optionally about one post or of some names."""
    q = select(_Q)
    if post_id is not None:
        q = q.where(_Q.c.post_id == post_id)
    if names:
        q = q.where(_Q.c.name.in_(list(names)))
    return [dict(r._mapping) for r in conn.execute(q.order_by(_Q.c.id))]
