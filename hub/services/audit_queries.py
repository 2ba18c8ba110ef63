"""Answers from the audit log: who could see this post? which posts could this person see?"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, col, select

from hub.audit import VerifyResult
from hub.errors import NotFound
from hub.runtime import Hub
from hub.services.people import find_person, identities_of
from hub.store.tables import AuditRow, PersonRow, PostRow

_PUBLIC = ("world", "world-unlisted")


def verify(hub: Hub) -> VerifyResult:
    with hub.db.read() as s:
        return hub.audit.verify(s)


def _event_json(row: AuditRow) -> dict[str, Any]:
    return {"seq": row.seq, "name": row.name, "created": row.created.isoformat(),
            "actor": row.actor, "post_id": row.post_id, "delivery_id": row.delivery_id,
            "subject": row.subject, "policy_digest": row.policy_digest,
            "payload": row.payload, "prev_hash": row.prev_hash, "hash": row.hash}


def _members(hub: Hub, s: Session, snapshot: str) -> list[dict[str, Any]]:
    out = []
    for m in hub.audit.snapshot_members(s, snapshot):
        person = s.get(PersonRow, m.person_id) if m.person_id else None
        out.append({"person_id": m.person_id, "name": person.name if person else None,
                    "identity": m.identity, "via_list": m.via_list})
    return sorted(out, key=lambda m: ((m["name"] or "~").casefold(), m["identity"]))


def post_audit(hub: Hub, post_id: str) -> dict[str, Any]:
    """Every event about a post and, per delivery, who could see it at send time."""
    with hub.db.read() as s:
        if s.get(PostRow, post_id) is None:
            raise NotFound(f"no post {post_id!r}")
        events = hub.audit.events(s, post_id=post_id)
        could_see = []
        for e in events:
            if e.name != "DeliverySucceeded":
                continue
            p = e.payload
            entry = {"delivery_id": e.delivery_id, "target": p["target"],
                     "account": p["account"], "reach": p["reach"], "when": e.created.isoformat(),
                     "url": p.get("url"), "lower_bound": p.get("lower_bound", False),
                     "controls": p.get("controls", {}), "policy_digest": e.policy_digest}
            if p["reach"] in _PUBLIC:
                entry["who"] = "anyone on the web"
                entry["people"] = []
            else:
                entry["people"] = _members(hub, s, e.subject or "")
                entry["who"] = (f"{len(entry['people'])} people"
                                + (" (lower bound: grows with new followers)"
                                   if entry["lower_bound"] else ""))
            could_see.append(entry)
        return {"post_id": post_id, "could_see": could_see,
                "fetched_by": _fetches_of_post(s, post_id),
                "events": [_event_json(e) for e in events]}


def _fetches_of_post(s: Session, post_id: str) -> list[dict[str, Any]]:
    out = []
    for e in s.exec(select(AuditRow).where(AuditRow.name == "FeedFetched")
                    .order_by(col(AuditRow.seq))):
        if post_id in e.payload.get("post_ids", []):
            person = s.get(PersonRow, e.subject) if e.subject else None
            out.append({"person_id": e.subject, "name": person.name if person else None,
                        "feed": e.payload.get("feed"), "when": e.created.isoformat()})
    return out


def person_audit(hub: Hub, ref: str, *, include_public: bool = True) -> dict[str, Any]:
    """Every post this person could see: where, when, through which list or identity."""
    with hub.db.read() as s:
        person = find_person(s, ref)
        idents = [i.value for i in identities_of(s, person.id)]
        matched = hub.audit.snapshots_including(s, person_id=person.id, identities=idents)
        posts: list[dict[str, Any]] = []
        names = ["DeliverySucceeded"]
        for e in hub.audit.events(s, names=names):
            p = e.payload
            public = p["reach"] in _PUBLIC
            member = matched.get(e.subject or "")
            if member is None and not (public and include_public):
                continue
            posts.append({
                "post_id": e.post_id, "delivery_id": e.delivery_id, "target": p["target"],
                "account": p["account"], "reach": p["reach"], "when": e.created.isoformat(),
                "url": p.get("url"),
                "through": (f"list {member.via_list}" if member and member.via_list else
                            f"identity {member.identity}" if member else "anyone on the web"),
                "identity": member.identity if member else None,
                "lower_bound": p.get("lower_bound", False)})
        fetches = [{"feed": e.payload.get("feed"), "when": e.created.isoformat(),
                    "post_ids": e.payload.get("post_ids", [])}
                   for e in hub.audit.events(s, subject=person.id, names=["FeedFetched"])]
        return {"person": {"id": person.id, "name": person.name, "identities": idents},
                "posts": posts, "feed_fetches": fetches}


EXPORT_FIELDS = ("seq", "name", "created", "actor", "post_id", "delivery_id", "subject",
                 "policy_digest", "payload", "prev_hash", "hash")


def export(hub: Hub, fmt: str) -> Iterator[str]:
    """The whole log, oldest first, as JSON lines or CSV (payload as JSON text)."""
    if fmt not in ("jsonl", "csv"):
        raise NotFound(f"unknown export format {fmt!r}: use jsonl or csv")
    with hub.db.read() as s:
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(EXPORT_FIELDS)
            yield buf.getvalue()
        for row in hub.audit.iterate(s):
            data = _event_json(row)
            if fmt == "jsonl":
                yield json.dumps(data, ensure_ascii=False) + "\n"
            else:
                buf = io.StringIO()
                csv.writer(buf).writerow([json.dumps(data[f]) if f == "payload" else data[f]
                                          for f in EXPORT_FIELDS])
                yield buf.getvalue()
