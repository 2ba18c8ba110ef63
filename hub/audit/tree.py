"""The audit Merkle tree in the database: appended with each event, read for roots and proofs.

Each appended event adds its leaf (``level`` 0, in log order) and every subtree that became
complete, so a root or proof at any size reads O(log² n) stored nodes and computes nothing
over the whole log. Appends run under the audit append lock, like the chain.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection, func, insert, select

from hub.audit import merkle
from hub.audit.records import EventLike, event_body, leaf_data
from hub.store.tables import AuditRow, TreeNodeRow

_T = TreeNodeRow.__table__  # type: ignore[attr-defined]


def leaf_of(row: AuditRow) -> bytes:
    """The leaf data of a stored event (what its Merkle leaf hashes)."""
    assert row.seq is not None
    return leaf_of_fields(row.seq, row.prev_hash, row.hash, row)


def leaf_of_fields(seq: int, prev_hash: str, digest: str, row: EventLike) -> bytes:
    return leaf_data(seq, prev_hash, digest, event_body(row))


def size(conn: Connection) -> int:
    """How many events the tree holds."""
    last = conn.execute(select(func.max(_T.c.idx)).where(_T.c.level == 0)).scalar()
    return 0 if last is None else int(last) + 1


def append(conn: Connection, row: AuditRow) -> int:
    """Add ``row``'s leaf and the subtrees it completes; return its leaf index."""
    index = size(conn)
    h = merkle.leaf_hash(leaf_of(row))
    nodes = [{"level": 0, "idx": index, "hash": h.hex(), "seq": row.seq}]
    level, i = 0, index
    while i & 1:   # a right child completes its parent
        left = bytes.fromhex(conn.execute(select(_T.c.hash).where(
            _T.c.level == level, _T.c.idx == i - 1)).scalar_one())
        h, level, i = merkle.node_hash(left, h), level + 1, i >> 1
        nodes.append({"level": level, "idx": i, "hash": h.hex(), "seq": None})
    conn.execute(insert(TreeNodeRow), nodes)
    return index


def getter(conn: Connection) -> merkle.NodeGetter:
    """Stored nodes by (level, index), cached for the life of one read."""

    @lru_cache(maxsize=4096)
    def get(level: int, idx: int) -> bytes:
        value = conn.execute(select(_T.c.hash).where(_T.c.level == level,
                                                     _T.c.idx == idx)).scalar()
        if value is None:
            raise KeyError(f"tree node ({level}, {idx}) is missing")
        return bytes.fromhex(value)

    return get


def root(conn: Connection, tree_size: int) -> bytes:
    return merkle.root(getter(conn), tree_size)


def leaf_index(conn: Connection, seq: int) -> int | None:
    value = conn.execute(select(_T.c.idx).where(_T.c.level == 0, _T.c.seq == seq)).scalar()
    return None if value is None else int(value)


def backfill(conn: Connection, *, chunk: int = 5000) -> int:
    """Build the tree over every existing event, in log order, in bounded memory."""
    table = AuditRow.__table__  # type: ignore[attr-defined]
    frontier, after = merkle.Frontier(), 0
    while True:
        rows = list(conn.execute(select(table).where(table.c.seq > after)
                                 .order_by(table.c.seq).limit(chunk)))
        if not rows:
            return frontier.size
        nodes = []
        for r in rows:
            leaf = leaf_of_fields(r.seq, r.prev_hash, r.hash, r)
            for level, idx, h in frontier.add(merkle.leaf_hash(leaf)):
                nodes.append({"level": level, "idx": idx, "hash": h.hex(),
                              "seq": r.seq if level == 0 else None})
        conn.execute(insert(TreeNodeRow), nodes)
        after = rows[-1].seq
