"""The who-could-see index: rows derived from DeliverySucceeded and FeedFetched events.

Written in the transaction that appends the event (so it is exactly as old as the event) and
never updated. The same derivation back-fills the index from existing events in the migration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, column, func, insert, select
from sqlalchemy import table as sa_table

from hub.store.tables import AuditRow, FetchRow, SnapshotMemberRow, VisibilityRow

PUBLIC = "*"
PUBLIC_REACHES = ("world", "world-unlisted")


@dataclass(frozen=True)
class EventFacts:
    """The few event fields the index derives from (an AuditRow, or a row in a migration)."""

    seq: int
    name: str
    created: datetime
    post_id: str | None
    delivery_id: str | None
    subject: str | None
    payload: Mapping[str, Any]


def visibility_rows(event: EventFacts, members: Sequence[Mapping[str, Any]],
                    last_rank: int) -> list[dict[str, Any]]:
    """Index rows for one DeliverySucceeded event: one per snapshot member, or one public row.

    ``members`` are the snapshot's member rows (member, person_id, identity, via_list);
    ``last_rank`` is the highest public rank written so far."""
    p = event.payload
    base = {"event_seq": event.seq, "post_id": event.post_id or "",
            "delivery_id": event.delivery_id or "", "created": event.created,
            "account": str(p.get("account", "")), "target": str(p.get("target", "")),
            "reach": str(p.get("reach", "")), "lower_bound": bool(p.get("lower_bound", False)),
            "url": p.get("url")}
    if base["reach"] in PUBLIC_REACHES:
        return [{**base, "member": PUBLIC, "person_id": None, "identity": "", "via_list": None,
                 "public_rank": last_rank + 1}]
    return [{**base, "member": m["member"], "person_id": m.get("person_id"),
             "identity": m.get("identity") or "", "via_list": m.get("via_list"),
             "public_rank": None}
            for m in sorted(members, key=lambda m: str(m["member"]))]


def grew_rows(event: EventFacts, members: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Index rows for one AudienceGrew event: each new member (its snapshot, ``subject``) of
    each delivery the payload names could see it from the event's time on (``grew``)."""
    out: list[dict[str, Any]] = []
    for d in event.payload.get("deliveries") or []:
        base = {"event_seq": event.seq, "post_id": str(d.get("post_id", "")),
                "delivery_id": str(d.get("delivery_id", "")), "created": event.created,
                "account": str(event.payload.get("account", "")),
                "target": str(d.get("target", "")), "reach": str(d.get("reach", "")),
                "lower_bound": True, "url": d.get("url"), "grew": True, "public_rank": None}
        out.extend({**base, "member": m["member"], "person_id": m.get("person_id"),
                    "identity": m.get("identity") or "", "via_list": m.get("via_list")}
                   for m in sorted(members, key=lambda m: str(m["member"])))
    return out


def write(conn: Connection, seen: list[dict[str, Any]], fetched: list[dict[str, Any]]) -> None:
    """Insert index rows made by ``visibility_rows``/``grew_rows`` and ``fetch_rows``."""
    _insert(conn, VisibilityRow, [r for r in seen if "grew" not in r])
    _insert(conn, VisibilityRow, [r for r in seen if "grew" in r])
    _insert(conn, FetchRow, fetched)


def _insert(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    """An INSERT of exactly the columns the rows carry (so a migration that runs before a
    later column exists can use the same derivation; the database defaults the rest)."""
    if not rows:
        return
    full = model.__table__
    lite = sa_table(full.name, *[column(k, full.c[k].type) for k in rows[0]])
    conn.execute(insert(lite), rows)


def fetch_rows(event: EventFacts) -> list[dict[str, Any]]:
    """One row per post a FeedFetched event says the reader was shown."""
    ids = event.payload.get("post_ids") or []
    return [{"event_seq": event.seq, "post_id": pid, "person_id": event.subject,
             "feed": str(event.payload.get("feed", "")), "created": event.created}
            for pid in dict.fromkeys(i for i in ids if isinstance(i, str))]


def last_public_rank(conn: Connection) -> int:
    value = conn.execute(select(func.max(VisibilityRow.public_rank))).scalar()
    return int(value or 0)


def backfill(conn: Connection, *, chunk: int = 5000) -> int:
    """Index every existing DeliverySucceeded and FeedFetched event, in log order, in bounded
    memory (the migration). Returns how many index rows it wrote."""
    table = AuditRow.__table__  # type: ignore[attr-defined]
    rank, after, written = last_public_rank(conn), 0, 0
    members: dict[str, list[dict[str, Any]]] = {}
    while True:
        rows = list(conn.execute(
            select(table.c.seq, table.c.name, table.c.created, table.c.post_id,
                   table.c.delivery_id, table.c.subject, table.c.payload)
            .where(table.c.seq > after, table.c.name.in_(("DeliverySucceeded", "FeedFetched")))
            .order_by(table.c.seq).limit(chunk)))
        if not rows:
            return written
        batch_v: list[dict[str, Any]] = []
        batch_f: list[dict[str, Any]] = []
        for r in rows:
            event = EventFacts(r.seq, r.name, _aware(r.created), r.post_id, r.delivery_id,
                               r.subject, r.payload or {})
            if event.name == "FeedFetched":
                batch_f.extend(fetch_rows(event))
                continue
            key = event.subject or ""
            if key not in members:
                if len(members) > 10_000:
                    members.clear()
                members[key] = _members(conn, key)
            made = visibility_rows(event, members[key], rank)
            rank = max([rank] + [m["public_rank"] or 0 for m in made])
            batch_v.extend(made)
        written += _flush(conn, batch_v, batch_f)
        after = rows[-1].seq


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _members(conn: Connection, snapshot: str) -> list[dict[str, Any]]:
    return [dict(m._mapping) for m in conn.execute(
        select(SnapshotMemberRow.member, SnapshotMemberRow.person_id,  # type: ignore[call-overload]
               SnapshotMemberRow.identity, SnapshotMemberRow.via_list)
        .where(SnapshotMemberRow.snapshot_hash == snapshot))]


def _flush(conn: Connection, batch_v: list[dict[str, Any]], batch_f: list[dict[str, Any]]
           ) -> int:
    write(conn, batch_v, batch_f)
    return len(batch_v) + len(batch_f)
