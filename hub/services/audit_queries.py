"""Answers from the audit log: who could see this post? which posts could this person see?

Both read only the who-could-see index (``hub.audit.index``) and indexed event lookups, never a
scan of the log, so they cost what the answer costs. Pages run newest first and continue with an
opaque cursor; posts anyone on the web could see are a count plus a page of their own.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, Integer, bindparam, column, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from hub.audit import VerifyResult
from hub.audit.index import PUBLIC, PUBLIC_REACHES
from hub.audit.sequencer import settle, settled_read
from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services.merged_names import merged_people
from hub.services.people import find_person
from hub.store.tables import (
    AuditRow,
    FetchRow,
    IdentityRow,
    PersonRow,
    UTCDateTime,
    VisibilityRow,
)

_A = AuditRow.__table__  # type: ignore[attr-defined]
_V = VisibilityRow.__table__  # type: ignore[attr-defined]
_F = FetchRow.__table__  # type: ignore[attr-defined]
_P = PersonRow.__table__  # type: ignore[attr-defined]
MAX_LIMIT = 500


def verify(hub: Hub) -> VerifyResult:
    settle(hub.db)
    with hub.db.read() as s:
        return hub.audit.verify(s)


@dataclass(frozen=True)
class Filters:
    """Narrow a per-person answer: a time range [since, until), an account, a reach."""

    since: datetime | None = None
    until: datetime | None = None
    account: str | None = None
    reach: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(_V.c.created >= self.since)
        if self.until is not None:
            out.append(_V.c.created < self.until)
        if self.account:
            out.append(_V.c.account == self.account)
        if self.reach:
            out.append(_V.c.reach == self.reach)
        return out

    @property
    def narrows(self) -> bool:
        return any(v is not None and v != "" for v in (self.since, self.until, self.account,
                                                       self.reach))


def encode_cursor(created: datetime, row_id: int) -> str:
    raw = f"{created.astimezone(UTC).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str = "cursor") -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, row_id = raw.partition("|")
        created = datetime.fromisoformat(when)
        number = int(row_id)
        if created.tzinfo is None or not 0 <= number < 2**63:   # a naive time, no row id
            raise ValueError("not a cursor")
        return created.astimezone(UTC), number
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(f"{field} is not a cursor this hub gave out", field=field) from None


def page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


def _newest_first(conn: Connection, members: Sequence[str], filters: Filters,
                  cursor: str | None, limit: int, *, field: str,
                  audiences: Sequence[str] | None = None
                  ) -> tuple[list[dict[str, Any]], str | None, int | None]:
    """A page, its continuation cursor, and the total count (None: the page was empty).
    ``audiences``: only deliveries of posts whose audiences all lie in it (page and count)."""
    params: dict[str, Any] = {"n": limit + 1, "since": filters.since, "until": filters.until,
                              "account": filters.account, "reach": filters.reach}
    if cursor:
        params["c_created"], params["c_id"] = decode_cursor(cursor, field=field)
    unique = list(dict.fromkeys(members))
    params.update({f"m{i}": m for i, m in enumerate(unique)})
    allowed = sorted(set(audiences)) if audiences is not None else None
    if allowed is not None:
        params.update({f"a{i}": a for i, a in enumerate(allowed or [""])})
    ranked = unique == [PUBLIC] and not filters.narrows and allowed is None
    sql = _page_sql(len(unique), filters.since is not None, filters.until is not None,
                    bool(filters.account), bool(filters.reach), bool(cursor), ranked,
                    None if allowed is None else max(len(allowed), 1),
                    conn.dialect.name)
    result = conn.execute(sql, params)
    keys = list(result.keys())
    rows = [dict(zip(keys, r, strict=True)) for r in result.all()]   # plain dicts: cheap to read
    more = len(rows) > limit
    total = int(rows[0]["total"] or 0) if rows else None
    rows = rows[:limit]
    return (rows, encode_cursor(rows[-1]["created"], rows[-1]["id"]) if more and rows else None,
            total)


def _in_audiences(allowed: int, dialect: str) -> str:
    """SQL: the row's post reaches only audiences among :a0..:a<allowed-1>."""
    names = ", ".join(f":a{i}" for i in range(allowed))
    each = ("json_each(p.audiences) AS j WHERE j.value" if dialect == "sqlite" else
            "json_array_elements_text(p.audiences) AS j(v) WHERE j.v")
    return ("EXISTS (SELECT 1 FROM post AS p WHERE p.id = audit_visibility.post_id) AND NOT "
            f"EXISTS (SELECT 1 FROM post AS p, {each} NOT IN ({names}) "
            "AND p.id = audit_visibility.post_id)")


@functools.lru_cache(maxsize=128)
def _page_sql(members: int, since: bool, until: bool, account: bool, reach: bool,
              cursor: bool, ranked: bool, allowed: int | None = None,
              dialect: str = "sqlite") -> Any:
    """One statement per page: one ordered index range per member (the person's id, each
    identity) merged, so the database never sorts everything a person ever got, and the
    total as a column (for the unfiltered public stream: the newest rank). Written as SQL
    text once per shape: building it as nested SQLAlchemy subqueries costs more than running
    it."""
    flt = [c for c, on in (("created >= :since", since), ("created < :until", until),
                           ("account = :account", account), ("reach = :reach", reach)) if on]
    if allowed is not None:
        flt.append(_in_audiences(allowed, dialect))
    page = flt + (["(created < :c_created OR (created = :c_created AND id < :c_id))"]
                  if cursor else [])
    names = ", ".join(f":m{i}" for i in range(members))
    total = ("(SELECT max(public_rank) FROM audit_visibility)" if ranked else
             "(SELECT count(*) FROM audit_visibility WHERE "
             + " AND ".join([f"member IN ({names})", *flt]) + ")")
    cols = ", ".join(_V.c.keys())
    order = "ORDER BY created DESC, id DESC LIMIT :n"
    parts = [f"SELECT * FROM (SELECT {cols} FROM audit_visibility WHERE "
             + " AND ".join([f"member = :m{i}", *page]) + f" {order}) AS p{i}"
             for i in range(members)]
    merged = parts[0] if members == 1 else (
        "SELECT * FROM (" + " UNION ALL ".join(parts) + f") AS merged {order}")
    sql = f"SELECT page.*, {total} AS total FROM ({merged}) AS page ORDER BY created DESC, id DESC"
    times = [bindparam(n, type_=UTCDateTime())
             for n, on in (("since", since), ("until", until), ("c_created", cursor)) if on]
    return text(sql).bindparams(*times).columns(*_V.c, column("total", Integer))


def _seen(row: dict[str, Any]) -> dict[str, Any]:
    public = row["member"] == PUBLIC
    via, ident = row["via_list"], row["identity"]
    grew = bool(row.get("grew"))
    return {"post_id": row["post_id"], "delivery_id": row["delivery_id"],
            "event_seq": row["event_seq"], "target": row["target"], "account": row["account"],
            "reach": row["reach"], "when": row["created"].isoformat(), "url": row["url"],
            "through": ("anyone on the web" if public else
                        f"could see since {row['created'].date().isoformat()} (followed you "
                        "later)" if grew else
                        f"list {via}" if via else f"identity {ident}"),
            "grew": grew, "identity": None if public else ident,
            "lower_bound": bool(row["lower_bound"])}


def _count(conn: Connection, members: Sequence[str], filters: Filters,
           audiences: Sequence[str] | None) -> int:
    """The total alone (for a page past the end): the first row of an uncursored page."""
    return _newest_first(conn, members, filters, None, 1, field="cursor",
                         audiences=audiences)[2] or 0


def person_audit(hub: Hub, ref: str, *, include_public: bool = True,
                 filters: Filters | None = None, cursor: str | None = None,
                 public_cursor: str | None = None, limit: int = 50,
                 audiences: Sequence[str] | None = None) -> dict[str, Any]:
    """The posts this person could see (newest first): where, when, through which list or
    identity, as recorded at send time. ``public`` counts and pages the posts anyone could see.
    ``audiences`` (an audience-limited token's allow-list): only posts whose audiences all lie
    in it, in the pages and in the counts alike."""
    filters = filters or Filters()
    limit = page_limit(limit)
    with settled_read(hub.db) as s:
        person_id, name, idents = _person(s, ref)
        conn = s.connection()
        members = [person_id] + [f"identity:{i}" for i in idents]
        rows, next_cursor, count = _newest_first(conn, members, filters, cursor, limit,
                                                 field="cursor", audiences=audiences)
        if count is None:   # an empty page: count apart (rare: past the end, or nothing)
            count = 0 if not cursor else _count(conn, members, filters, audiences)
        public: dict[str, Any] | None = None
        if include_public:
            prows, pnext, ptotal = _newest_first(conn, [PUBLIC], filters, public_cursor,
                                                 limit, field="public_cursor",
                                                 audiences=audiences)
            if filters.reach and filters.reach not in PUBLIC_REACHES:
                ptotal = 0
            elif ptotal is None:
                ptotal = 0 if not public_cursor else _count(conn, [PUBLIC], filters,
                                                            audiences)
            public = {"count": ptotal, "posts": [_seen(r) for r in prows], "next_cursor": pnext}
        fetches = conn.execute(_FETCHES, {"p": person_id}).all()
        merged = merged_people(conn, [person_id]) if not idents else {}
        return {"person": {"id": person_id, "name": name, "identities": idents,
                           "merged_into": merged.get(person_id, {}).get("merged_into")},
                "posts": [_seen(r) for r in _unique_deliveries(rows)], "count": count,
                "next_cursor": next_cursor, "public": public,
                "feed_fetches": [{"feed": e.payload.get("feed"), "when": e.created.isoformat(),
                                  "post_ids": e.payload.get("post_ids", []), "seq": e.seq}
                                 for e in fetches]}


# Statements of every answer, built once: constructing a SQLAlchemy expression per call costs
# more than SQLite takes to run it (bench/bench_audit_profile.py).
_PERSON = text("SELECT p.id, p.name, i.value FROM person AS p LEFT JOIN identity AS i "
               "ON i.person_id = p.id WHERE p.id = :ref ORDER BY i.id")
_FETCHES = text("SELECT seq, created, payload FROM audit_event WHERE subject = :p AND "
                "name = 'FeedFetched' ORDER BY seq DESC LIMIT 20").columns(
    column("seq", Integer), column("created", UTCDateTime()), column("payload", JSON))


def _person(s: Session, ref: str) -> tuple[str, str, list[str]]:
    """(id, name, identity values) of a person given by id, name or identity; a person
    merged away answers by their old id, named as :func:`merged_people` names them (their
    identities moved: what is left under the id is what it could see then)."""
    conn = s.connection()
    hits = conn.execute(_PERSON, {"ref": ref}).all()   # by id, with identities, in one trip
    if hits:
        return (str(hits[0][0]), str(hits[0][1]),
                [str(h[2]) for h in hits if h[2] is not None])
    merged = merged_people(conn, [ref])
    if ref in merged:
        return ref, merged[ref]["label"], []
    row = find_person(s, ref)   # not an id: by name or identity (the general lookup)
    idents = conn.execute(sa_select(col(IdentityRow.value))
                          .where(col(IdentityRow.person_id) == row.id)
                          .order_by(col(IdentityRow.id))).scalars()
    return row.id, row.name, [str(i) for i in idents]


def _unique_deliveries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A person matched by id and by a bare identity in one delivery appears once."""
    seen: set[str] = set()
    out = []
    for r in rows:
        if r["delivery_id"] not in seen:
            seen.add(r["delivery_id"])
            out.append(r)
    return out


def event_json(row: Any) -> dict[str, Any]:
    """An event as JSON; one still queued has no ``seq`` or hashes yet (``pending``)."""
    return {"seq": row.seq, "pending": row.seq is None, "name": row.name,
            "created": row.created.isoformat(),
            "actor": row.actor, "post_id": row.post_id, "delivery_id": row.delivery_id,
            "subject": row.subject, "policy_digest": row.policy_digest,
            "payload": row.payload, "prev_hash": row.prev_hash, "hash": row.hash}
