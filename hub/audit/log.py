"""The append-only, hash-chained audit log: append, snapshot who could see, verify, query.

Each row's ``hash = sha256(prev_hash + canonical_json(row))``; the first row chains from
``GENESIS``. Appends serialise (SQLite: the writer lock of BEGIN IMMEDIATE; PostgreSQL: an
advisory transaction lock) so the chain never forks. Nothing here updates or deletes a row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, or_, select

from hub.audit import index, tree
from hub.audit.records import GENESIS, canonical, row_digest
from hub.audit.verification import KnownHead, Progress, VerifyResult, verify_log
from hub.domain.events import Event
from hub.store.tables import AuditRow, SnapshotMemberRow, SnapshotRow

_PG_LOCK_ID = 7_272_001


@dataclass(frozen=True)
class SnapshotMember:
    """One entry of a who-could-see snapshot: a known person, or a bare identity."""

    person_id: str | None
    identity: str
    via_list: str | None = None


class AuditLog:
    """Append and read; there is deliberately no update or delete."""

    def append(self, session: Session, event: Event, *, now: datetime) -> AuditRow:
        self._lock(session)
        last = session.exec(select(AuditRow.hash).order_by(col(AuditRow.seq).desc()).limit(1)
                            ).first()
        prev = last or GENESIS
        row = AuditRow(
            # UTC, so the hash covers the timestamp exactly as the database returns it
            name=event.name, created=now.astimezone(UTC), actor=event.actor,
            post_id=event.post_id,
            delivery_id=event.delivery_id, subject=event.subject,
            policy_digest=event.policy_digest,
            payload=json.loads(canonical(event.properties())), prev_hash=prev, hash="",
        )
        row.hash = row_digest(prev, row)
        session.add(row)
        session.flush()
        assert row.seq is not None
        tree.append(session.connection(), row)
        index.project(session.connection(), index.EventFacts(
            row.seq, row.name, row.created, row.post_id, row.delivery_id, row.subject,
            row.payload))
        return row

    def _lock(self, session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})

    def snapshot(self, session: Session, *, reach: str, members: Sequence[SnapshotMember],
                 lower_bound: bool, extra: dict[str, Any] | None = None, now: datetime) -> str:
        """Store who could see something, content-addressed; return its hash."""
        entries = sorted({(m.person_id or "", m.identity, m.via_list or "") for m in members})
        payload = {"reach": reach, "lower_bound": lower_bound,
                   "members": [list(e) for e in entries], "extra": extra or {}}
        digest = hashlib.sha256(canonical(payload).encode()).hexdigest()
        if session.get(SnapshotRow, digest) is not None:
            return digest
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(SnapshotRow).values(
            hash=digest, reach=reach, lower_bound=lower_bound, payload=payload,
            created=now).on_conflict_do_nothing())
        rows: dict[str, dict[str, str | None]] = {}   # one row per member (person or identity)
        for pid, ident, via in entries:
            member = pid or f"identity:{ident}"
            rows.setdefault(member, {"snapshot_hash": digest, "member": member,
                                     "person_id": pid or None, "identity": ident,
                                     "via_list": via or None})
        if rows:
            session.execute(insert(SnapshotMemberRow).values(list(rows.values()))
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
        query = select(AuditRow)
        if post_id is not None:
            query = query.where(AuditRow.post_id == post_id)
        if subject is not None:
            query = query.where(AuditRow.subject == subject)
        if names:
            query = query.where(col(AuditRow.name).in_(names))
        if since is not None:
            query = query.where(AuditRow.created >= since)
        if until is not None:
            query = query.where(AuditRow.created < until)
        return list(session.exec(query.order_by(col(AuditRow.seq))))

    def iterate(self, session: Session) -> Iterator[AuditRow]:
        yield from session.exec(select(AuditRow).order_by(col(AuditRow.seq))).yield_per(500)

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
