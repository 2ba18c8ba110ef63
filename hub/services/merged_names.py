"""Names of people merged away (``hub.services.contacts_sort.merge``): the audit's
who-could-see rows keep the old person id for good, and the answers name that id after who
the person was — "Bea (merged into Ana on 2026-12-01)" — from the ``merged_person`` rows the
merge wrote. Read only; no history is rewritten."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, column, text

from hub.store.tables import UTCDateTime

_MERGED = text("SELECT id, name, into_id, into_name, merged FROM merged_person "
               "WHERE id IN :ids").bindparams(bindparam("ids", expanding=True)).columns(
    column("id"), column("name"), column("into_id"), column("into_name"),
    column("merged", UTCDateTime()))
_NAMES = text("SELECT id, name FROM person WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True))
_MAX_HOPS = 50     # Bea into Ana, Ana into Cy, ...: a chain longer than this is cut


def merged_people(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Of ``ids``, those of people merged away (``merged_person``): each with ``label``
    ("Bea (merged into Ana on 2026-12-01)", and ", now part of Cy" when Ana was merged in
    turn), ``name`` as they were called, and ``merged_into``: the person they are part of
    today (id, name) and when this one was merged. Read only; the history is not touched."""
    rows: dict[str, Any] = {}
    frontier = set(ids)
    for _ in range(_MAX_HOPS):
        if not frontier:
            break
        got = conn.execute(_MERGED, {"ids": sorted(frontier)}).all()
        rows.update({r.id: r for r in got})
        frontier = {r.into_id for r in got} - rows.keys()
    if not rows:
        return {}
    ends = {r.into_id for r in rows.values()}
    living = {str(i): str(n) for i, n in conn.execute(_NAMES, {"ids": sorted(ends)})}
    out: dict[str, dict[str, Any]] = {}
    for pid in ids:
        first = rows.get(pid)
        if first is None:
            continue
        end, hops = first, 0
        while end.into_id in rows and end.into_id not in living and hops < _MAX_HOPS:
            end, hops = rows[end.into_id], hops + 1
        into = living.get(first.into_id, first.into_name)
        now_id, now_name = end.into_id, living.get(end.into_id, end.into_name)
        label = (f"{first.name} (merged into {into} on {first.merged.date().isoformat()}"
                 + (f", now part of {now_name}" if now_id != first.into_id else "") + ")")
        out[pid] = {"label": label, "name": first.name,
                    "merged_into": {"person_id": now_id, "name": now_name,
                                    "when": first.merged.isoformat()}}
    return out


def named(conn: Connection, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries of people no longer in the address book named after who they were: a
    merged-away person's ``name`` becomes their label, with ``merged_into`` beside it."""
    missing = [e["person_id"] for e in entries if e["person_id"] and e["name"] is None]
    merged = merged_people(conn, list(dict.fromkeys(missing))) if missing else {}
    for e in entries:
        found = merged.get(e["person_id"]) if e["name"] is None else None
        e["name"] = found["label"] if found else e["name"]
        e["merged_into"] = found["merged_into"] if found else None
    return entries
