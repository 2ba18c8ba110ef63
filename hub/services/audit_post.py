"""The answer to "who could see this post?": every event about the post and, per delivery
(newest first), the people its who-could-see record names at send time, a page at a time, read
from the who-could-see index (``hub.audit.index``), never a scan of the log; its feed fetches;
people merged away since are named after who they were (``hub.services.merged_names``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, column, text
from sqlmodel import Session

from hub.audit.index import PUBLIC_REACHES
from hub.audit.sequencer import settled_read
from hub.errors import InvalidInput, NotFound
from hub.runtime import Hub
from hub.services.audit_queries import event_json, page_limit
from hub.services.merged_names import named
from hub.store.tables import PostRow, UTCDateTime

_WHEN = UTCDateTime()


def _typed(sql: str, *cols: Any) -> Any:
    return text(sql).columns(*cols)


_EVENT_COLS: tuple[Any, ...] = (column("seq", Integer), column("name"), column("created", _WHEN),
               column("actor"), column("post_id"), column("delivery_id"), column("subject"),
               column("policy_digest"), column("payload", JSON), column("prev_hash"),
               column("hash"))
# the log's events, then those still queued, in ONE statement: under PostgreSQL's READ
# COMMITTED two statements could each miss an event the sequencer moved between them
_EVENTS = _typed("SELECT seq, name, created, actor, post_id, delivery_id, subject, "
                 "policy_digest, payload, prev_hash, hash FROM ("
                 "SELECT 0 AS q, seq AS k, seq, name, created, actor, post_id, delivery_id, "
                 "subject, policy_digest, payload, prev_hash, hash FROM audit_event "
                 "WHERE post_id = :p UNION ALL "
                 "SELECT 1, id, NULL, name, created, actor, post_id, delivery_id, subject, "
                 "policy_digest, payload, '', '' FROM audit_queue WHERE post_id = :p"
                 ") AS e ORDER BY q, k", *_EVENT_COLS)
_PEOPLE = "SELECT v.id, v.person_id, v.identity, v.via_list, v.grew, v.created, p.name " \
    "FROM audit_visibility AS v LEFT JOIN person AS p ON p.id = v.person_id " \
    "WHERE v.delivery_id = :d {after}ORDER BY v.id LIMIT :n"
_PEOPLE_COLS: tuple[Any, ...] = (column("id", Integer), column("person_id"), column("identity"),
                column("via_list"), column("grew"), column("created", _WHEN), column("name"))
_PEOPLE_FIRST = _typed(_PEOPLE.format(after=""), *_PEOPLE_COLS)
_PEOPLE_AFTER = _typed(_PEOPLE.format(after="AND v.id > :after "), *_PEOPLE_COLS)
_PEOPLE_COUNT = text("SELECT count(*) FROM audit_visibility WHERE delivery_id = :d")
_GROWTH = _typed("SELECT event_seq, min(created) AS created, count(*) AS added "
                 "FROM audit_visibility WHERE delivery_id = :d AND grew "
                 "GROUP BY event_seq ORDER BY event_seq",
                 column("event_seq", Integer), column("created", _WHEN),
                 column("added", Integer))
_FETCHED = _typed("SELECT f.person_id, f.feed, f.created, p.name FROM audit_fetch AS f "
                  "LEFT JOIN person AS p ON p.id = f.person_id WHERE f.post_id = :p "
                  "ORDER BY f.created DESC, f.id DESC LIMIT :n",
                  column("person_id"), column("feed"), column("created", _WHEN),
                  column("name"))
_FETCH_COUNT = text("SELECT count(*) FROM audit_fetch WHERE post_id = :p")



def _people(s: Session, delivery_id: str, after: int | None, limit: int
            ) -> tuple[list[dict[str, Any]], int, str | None]:
    conn = s.connection()
    if after is None:
        rows = conn.execute(_PEOPLE_FIRST, {"d": delivery_id, "n": limit + 1}).all()
    else:
        rows = conn.execute(_PEOPLE_AFTER, {"d": delivery_id, "n": limit + 1,
                                            "after": after}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    total = len(rows) if after is None and not more else int(
        conn.execute(_PEOPLE_COUNT, {"d": delivery_id}).scalar() or 0)
    people = named(conn, [{"person_id": r.person_id, "name": r.name, "identity": r.identity,
                            "via_list": r.via_list,
                            "since": r.created.isoformat() if r.grew else None}
                           for r in rows])
    return people, total, str(rows[-1].id) if more and rows else None


def post_audit(hub: Hub, post_id: str, *, limit: int = 100, delivery: str | None = None,
               cursor: str | None = None) -> dict[str, Any]:
    """Every event about a post and, per delivery (newest first), who could see it at send
    time: a page of ``limit`` people each, continued with ``delivery`` + ``cursor``."""
    limit = page_limit(limit)
    after = None
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput("cursor is not a cursor this hub gave out", field="cursor")
        after = int(cursor)
    with settled_read(hub.db) as s:
        conn = s.connection()
        events = list(conn.execute(_EVENTS, {"p": post_id}))   # then queued ones: pending
        if not events and s.get(PostRow, post_id) is None:
            raise NotFound(f"no post {post_id!r}")
        could_see = []
        for e in reversed(events):
            if e.name != "DeliverySucceeded" or e.seq is None or (
                    delivery and e.delivery_id != delivery):
                continue
            could_see.append(_could_see(s, e, after if delivery else None, limit))
        fetched = conn.execute(_FETCHED, {"p": post_id, "n": limit}).all()
        fetch_count = len(fetched) if len(fetched) < limit else int(
            conn.execute(_FETCH_COUNT, {"p": post_id}).scalar() or 0)
        return {"post_id": post_id, "could_see": could_see,
                "fetched_by": named(conn, [{"person_id": f.person_id, "name": f.name,
                                             "feed": f.feed, "when": f.created.isoformat()}
                                            for f in fetched]),
                "fetch_count": fetch_count,
                "events": [event_json(e) for e in events]}


def _could_see(s: Session, e: Any, after: int | None, limit: int) -> dict[str, Any]:
    p = e.payload
    entry: dict[str, Any] = {
        "delivery_id": e.delivery_id, "event_seq": e.seq, "target": p["target"],
        "account": p["account"], "reach": p["reach"], "when": e.created.isoformat(),
        "url": p.get("url"), "lower_bound": p.get("lower_bound", False),
        "controls": p.get("controls", {}), "policy_digest": e.policy_digest,
        "people": [], "people_count": 0, "next_cursor": None}
    if p["reach"] in PUBLIC_REACHES:
        entry["who"] = "anyone on the web"
        return entry
    people, total, nxt = _people(s, e.delivery_id or "", after, limit)
    if entry["lower_bound"]:   # who followed later, event by event (AudienceGrew)
        entry["growth"] = [{"when": g.created.isoformat(), "added": int(g.added)} for g in
                           s.connection().execute(_GROWTH, {"d": e.delivery_id})]
    entry.update(people=people, people_count=total, next_cursor=nxt,
                 who=f"{total} people" + (" (lower bound: grows with new followers)"
                                          if entry["lower_bound"] else ""))
    return entry
