"""The append-only, hash-chained audit log: append, snapshot who could see, verify, query.

Each row's ``hash = sha256(prev_hash + canonical_json(row))``; the first row chains from
``GENESIS``. ``append`` only queues the event in the caller's transaction (no lock, no hash):
the sequencer (``hub.audit.sequencer``) chains queued events in batches, one batch at a time,
so the chain never forks. Nothing here updates or deletes a sequenced row. Reads of events
(``events``, ``latest``) see queued events too, after the sequenced ones, with ``seq`` None.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, union_all
from sqlalchemy import literal as sa_literal
from sqlalchemy import null as sa_null
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, or_, select

from hub.audit.records import canonical
from hub.audit.sequencer import pending_rows
from hub.audit.verification import KnownHead, Progress, VerifyResult, verify_log
from hub.domain.events import Event
from hub.errors import InvalidInput
from hub.store.tables import AuditQueueRow, AuditRow, SnapshotMemberRow, SnapshotRow

_A = AuditRow.__table__  # type: ignore[attr-defined]
_Q = AuditQueueRow.__table__  # type: ignore[attr-defined]
_LENGTHS = {"name": 40, "actor": 120, "post_id": 32, "delivery_id": 32, "subject": 200,
            "policy_digest": 64}


@dataclass(frozen=True)
class SnapshotMember:
    """One entry of a who-could-see snapshot: a known person, or a bare identity."""

    person_id: str | None
    identity: str
    via_list: str | None = None


class AuditLog:
    """Append and read; there is deliberately no update or delete."""

    def append(self, session: Session, event: Event, *, now: datetime) -> None:
        """Queue ``event`` in the caller's transaction: it commits (or not) with the change it
        records; the sequencer gives it its place in the chain and the tree shortly after."""
        values = {
            # UTC, so the hash covers the timestamp exactly as the database returns it
            "name": event.name, "created": now.astimezone(UTC), "actor": event.actor,
            "post_id": event.post_id, "delivery_id": event.delivery_id,
            "subject": event.subject, "policy_digest": event.policy_digest,
            "payload": json.loads(canonical(event.properties()))}
        for key, most in _LENGTHS.items():
            value = values[key]
            if isinstance(value, str) and len(value) > most:
                raise InvalidInput(f"{key} may have at most {most} characters "
                                   f"(this one has {len(value)})", field=key)
        try:    # what the sequencer hashes: refused here, not stuck at the queue's head there
            canonical({**values, "created": now.isoformat()}).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"the {event.name} event holds a lone surrogate "
                               f"(U+{ord(exc.object[exc.start]):04X}), which is not text") from None
        session.execute(insert(AuditQueueRow.__table__), values)  # type: ignore[attr-defined]

    def snapshot(self, session: Session, *, reach: str, members: Sequence[SnapshotMember],
                 lower_bound: bool, extra: dict[str, Any] | None = None, now: datetime) -> str:
        """Store who could see something, content-addressed; return its hash."""
        entries = sorted({(m.person_id or "", m.identity, m.via_list or "") for m in members})
        payload = {"reach": reach, "lower_bound": lower_bound,
                   "members": [list(e) for e in entries], "extra": extra or {}}
        digest = hashlib.sha256(canonical(payload).encode()).hexdigest()
        if session.get(SnapshotRow, digest) is not None:
            return digest
        upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(upsert(SnapshotRow).values(
            hash=digest, reach=reach, lower_bound=lower_bound, payload=payload,
            created=now).on_conflict_do_nothing())
        rows: dict[str, dict[str, str | None]] = {}   # one row per member (person or identity)
        for pid, ident, via in entries:
            member = pid or f"identity:{ident}"
            rows.setdefault(member, {"snapshot_hash": digest, "member": member,
                                     "person_id": pid or None, "identity": ident,
                                     "via_list": via or None})
        if rows:
            session.execute(upsert(SnapshotMemberRow).values(list(rows.values()))
                            .on_conflict_do_nothing())
        return digest

    def verify(self, session: Session, heads: Sequence[KnownHead] = (), *,
               progress: Progress | None = None) -> VerifyResult:
        """Check the chain, the Merkle tree, and the log against ``heads`` (checkpoints)."""
        return verify_log(session.connection(), heads, progress=progress)

    def events(self, session: Session, *, post_id: str | None = None,
               subject: str | None = None, names: Sequence[str] | None = None,
               since: datetime | None = None, until: datetime | None = None
               ) -> list[AuditRow]:
        """Matching events in log order: the sequenced ones, then those still queued
        (``seq`` None, no hash yet: "pending sequencing").

        Both tables are read in **one** statement: under PostgreSQL's READ COMMITTED every
        statement has its own snapshot, so two reads could miss an event the sequencer moved
        from the queue to the log between them (the feed's once-an-hour fetch record was
        written twice that way)."""
        cols = ("name", "created", "actor", "post_id", "delivery_id", "subject",
                "policy_digest", "payload")

        def matching(table: Any, seq: Any, order: Any) -> Any:
            q = sa_select(seq.label("seq"), sa_literal(0 if order is None else 1).label("q"),
                          (order if order is not None else table.c.seq).label("k"),
                          *(table.c[c] for c in cols),
                          *((table.c.prev_hash, table.c.hash) if order is None else
                            (sa_literal("").label("prev_hash"), sa_literal("").label("hash"))))
            if post_id is not None:
                q = q.where(table.c.post_id == post_id)
            if subject is not None:
                q = q.where(table.c.subject == subject)
            if names:
                q = q.where(table.c.name.in_(list(names)))
            if since is not None:
                q = q.where(table.c.created >= since)
            if until is not None:
                q = q.where(table.c.created < until)
            return q

        both = union_all(matching(_A, _A.c.seq, None),
                         matching(_Q, sa_null(), _Q.c.id)).subquery()
        rows = session.connection().execute(sa_select(both).order_by(both.c.q, both.c.k))
        return [AuditRow(seq=r.seq, prev_hash=r.prev_hash, hash=r.hash,
                         **{c: getattr(r, c) for c in cols}) for r in rows]

    def latest(self, session: Session, name: str) -> AuditRow | None:
        """The newest event called ``name``, queued or sequenced."""
        queued = pending(session, names=[name])
        if queued:
            return queued[-1]
        return session.exec(select(AuditRow).where(AuditRow.name == name)
                            .order_by(col(AuditRow.seq).desc()).limit(1)).first()

    def snapshot_members(self, session: Session, digest: str) -> list[SnapshotMemberRow]:
        return list(session.exec(select(SnapshotMemberRow)
                                 .where(SnapshotMemberRow.snapshot_hash == digest)))

    def snapshots_including(self, session: Session, *, person_id: str,
                            identities: Sequence[str]) -> dict[str, SnapshotMemberRow]:
        """Snapshot hash -> the member row that matched this person (by id or identity)."""
        cond: ColumnElement[bool] = col(SnapshotMemberRow.person_id) == person_id
        if identities:
            cond = or_(cond, col(SnapshotMemberRow.identity).in_(list(identities)))
        found: dict[str, SnapshotMemberRow] = {}
        for row in session.exec(select(SnapshotMemberRow).where(cond)):
            found.setdefault(row.snapshot_hash, row)
        return found


def pending(session: Session, *, post_id: str | None = None,
            names: Sequence[str] | None = None) -> list[AuditRow]:
    """Queued events as (unsaved) rows: ``seq`` None and empty hashes until sequenced."""
    return [AuditRow(name=r["name"], created=r["created"], actor=r["actor"],
                     post_id=r["post_id"], delivery_id=r["delivery_id"],
                     subject=r["subject"], policy_digest=r["policy_digest"],
                     payload=r["payload"], prev_hash="", hash="")
            for r in pending_rows(session.connection(), post_id=post_id, names=names)]
