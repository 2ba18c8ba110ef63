"""Streaming export of the audit log as JSON lines or CSV, in bounded memory.

The export reads the log in pages of ``chunk`` events up to the head it saw when it started (so
it is a consistent prefix even while events keep arriving), and adds to every DeliverySucceeded
who could see it: the people from the who-could-see index, or "anyone".
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.audit.index import PUBLIC
from hub.audit.sequencer import settle
from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services.audit_queries import event_json
from hub.store.tables import AuditRow, PersonRow, VisibilityRow

EXPORT_FIELDS = ("seq", "name", "created", "actor", "post_id", "delivery_id", "subject",
                 "policy_digest", "payload", "prev_hash", "hash", "could_see")
FORMATS = ("jsonl", "csv")
_A = AuditRow.__table__  # type: ignore[attr-defined]
_V = VisibilityRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ExportFilter:
    """Which events to export: a time range [since, until) and/or one post."""

    since: datetime | None = None
    until: datetime | None = None
    post_id: str | None = None


def export(hub: Hub, fmt: str, flt: ExportFilter | None = None, *, chunk: int = 1000
           ) -> Iterator[str]:
    """The log (oldest first) as JSON lines or CSV (payload and could_see as JSON text)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: use jsonl or csv", field="format")
    return _stream(hub, fmt, flt or ExportFilter(), chunk)


def _stream(hub: Hub, fmt: str, flt: ExportFilter, chunk: int) -> Iterator[str]:
    if fmt == "csv":
        yield _csv_line(list(EXPORT_FIELDS))
    settle(hub.db)   # the export holds sequenced events: sequence what is queued first
    with hub.db.read() as s:
        head = int(s.connection().execute(sa_select(func.max(_A.c.seq))).scalar() or 0)
    after = 0
    while after < head:
        lines, after = _page(hub, fmt, flt, after, head, chunk)
        yield from lines   # no session is open while the consumer holds a line


def _page(hub: Hub, fmt: str, flt: ExportFilter, after: int, head: int, chunk: int
          ) -> tuple[list[str], int]:
    with hub.db.read() as s:
        q = select(AuditRow).where(col(AuditRow.seq) > after, col(AuditRow.seq) <= head)
        if flt.post_id is not None:
            q = q.where(AuditRow.post_id == flt.post_id)
        if flt.since is not None:
            q = q.where(col(AuditRow.created) >= flt.since)
        if flt.until is not None:
            q = q.where(col(AuditRow.created) < flt.until)
        rows = list(s.exec(q.order_by(col(AuditRow.seq)).limit(chunk)))
        if not rows:
            return [], head
        people = _could_see(s, [r.delivery_id for r in rows
                                if r.name == "DeliverySucceeded" and r.delivery_id])
        lines = []
        for row in rows:
            data = event_json(row)
            data.pop("pending")   # the export holds sequenced events only
            data["could_see"] = (people.get(row.delivery_id or "", [])
                                 if row.name == "DeliverySucceeded" else None)
            lines.append(_line(fmt, data))
        return lines, rows[-1].seq or head


def _could_see(s: Session, delivery_ids: list[str]) -> dict[str, Any]:
    if not delivery_ids:
        return {}
    rows = list(s.connection().execute(
        sa_select(_V.c.delivery_id, _V.c.member, _V.c.person_id, _V.c.identity, _V.c.via_list)
        .where(_V.c.delivery_id.in_(delivery_ids)).order_by(_V.c.id)))
    ids = sorted({r.person_id for r in rows if r.person_id})
    names = dict(s.connection().execute(
        sa_select(col(PersonRow.id), col(PersonRow.name)).where(col(PersonRow.id).in_(ids))
    ).all()) if ids else {}
    out: dict[str, Any] = {}
    for r in rows:
        if r.member == PUBLIC:
            out[r.delivery_id] = "anyone"
            continue
        entries = out.setdefault(r.delivery_id, [])
        if isinstance(entries, list):
            entries.append({"person_id": r.person_id, "name": names.get(r.person_id),
                            "identity": r.identity, "via_list": r.via_list})
    return out


def _line(fmt: str, data: dict[str, Any]) -> str:
    if fmt == "jsonl":
        return json.dumps(data, ensure_ascii=False) + "\n"
    return _csv_line([json.dumps(data[f], ensure_ascii=False)
                      if f in ("payload", "could_see") else data[f] for f in EXPORT_FIELDS])


def _csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(values)
    return buf.getvalue()
