"""Verify the whole log in one pass and bounded memory: every event's hash and its link to the
one before, every Merkle leaf, the tree's root, and the log against signed checkpoints.

Checkpoints (the hub's own and those anchored off the machine) catch what the chain alone
cannot: rows cut off the end (**truncation**), a history recomputed from some point on
(**rewritten**), and two signed histories of the same length (**fork**).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from hub.audit import merkle
from hub.audit.records import GENESIS, event_body, leaf_data
from hub.audit.tree import root as stored_root
from hub.store.tables import AuditRow, TreeNodeRow

_A = AuditRow.__table__  # type: ignore[attr-defined]
_T = TreeNodeRow.__table__  # type: ignore[attr-defined]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class KnownHead:
    """A signed tree head to check the log against, and where it came from."""

    size: int
    root: bytes
    source: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    head: str
    problem: str | None = None
    bad_seq: int | None = None
    tree_size: int = 0
    root: str = ""
    kind: str | None = None    # altered | removed | tree | truncated | rewritten | fork
    checked: list[str] = field(default_factory=list)


def _fork(heads: Sequence[KnownHead]) -> str | None:
    by_size: dict[int, KnownHead] = {}
    for h in heads:
        other = by_size.setdefault(h.size, h)
        if other.root != h.root:
            return (f"fork: two signed checkpoints of {h.size} events disagree ({other.source} "
                    f"and {h.source}): the hub showed two different histories")
    return None


def verify_log(conn: Connection, heads: Sequence[KnownHead] = (), *,
               progress: Progress | None = None, chunk: int = 5000) -> VerifyResult:
    """Stream the log oldest first and check it; stop at the first problem."""
    total = int(conn.execute(select(func.count()).select_from(_A)).scalar() or 0)
    fork = _fork(heads)
    pending = sorted(heads, key=lambda h: h.size)
    frontier, prev, count, after = merkle.Frontier(), GENESIS, 0, 0

    def fail(kind: str, problem: str, seq: int | None = None) -> VerifyResult:
        return VerifyResult(False, count, prev, problem, seq, frontier.size,
                            frontier.root().hex(), kind)

    while True:
        rows = list(conn.execute(select(_A).where(_A.c.seq > after).order_by(_A.c.seq)
                                 .limit(chunk)))
        if not rows:
            break
        leaves = {r.idx: (r.hash, r.seq) for r in conn.execute(
            select(_T.c.idx, _T.c.hash, _T.c.seq).where(
                _T.c.level == 0, _T.c.idx >= frontier.size,
                _T.c.idx < frontier.size + len(rows)))}
        for r in rows:
            count += 1
            if r.prev_hash != prev:
                return fail("removed", f"event #{r.seq} ({r.name}) does not chain from the "
                            "event before it: a row was removed or inserted", r.seq)
            body = event_body(r)
            if hashlib.sha256((prev + body).encode()).hexdigest() != r.hash:
                return fail("altered", f"event #{r.seq} ({r.name}) was altered after it was "
                            "written: its hash does not match its content", r.seq)
            leaf = merkle.leaf_hash(leaf_data(r.seq, r.prev_hash, r.hash, body))
            stored = leaves.get(frontier.size)
            if stored is None or stored != (leaf.hex(), r.seq):
                return fail("tree", f"event #{r.seq} ({r.name}) is missing from the Merkle "
                            "tree or its leaf does not match it", r.seq)
            frontier.add(leaf)
            prev = r.hash
            while pending and pending[0].size == frontier.size:
                head = pending.pop(0)
                if head.root != frontier.root():
                    return fail("fork" if fork else "rewritten", fork or (
                        f"rewritten history: the first {head.size} events no longer match "
                        f"the checkpoint from {head.source}"), r.seq)
        after = rows[-1].seq
        if progress is not None:
            progress(count, total)
    if pending and pending[-1].size > frontier.size:
        head = pending[-1]
        return fail("truncated", f"truncated: the checkpoint from {head.source} covers "
                    f"{head.size} events, the log has only {frontier.size}")
    if fork:
        return fail("fork", fork)
    if frontier.size and stored_root(conn, frontier.size) != frontier.root():
        return fail("tree", "the stored Merkle tree's root does not match the events")
    return VerifyResult(True, count, prev, tree_size=frontier.size,
                        root=frontier.root().hex(), checked=[h.source for h in heads])
