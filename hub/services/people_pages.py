"""The people and list pages at scale: search, filters and cursor pages over the address book
as routing sees it (the snapshot kept per version, rule lists evaluated), sorted once per
snapshot; and everything one person's page shows. Reads only."""

from __future__ import annotations

import base64
import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import col, select

from hub.domain.model import PeopleSnapshot, Person, PersonId
from hub.errors import InvalidInput, NotFound
from hub.runtime import Hub
from hub.services.people_lists import Member, current_people, explain_list, rule_list
from hub.store.contact_tables import RelationshipRow, held, holds
from hub.store.tables import IdentityRow, ListMemberRow, PersonRow

__all__ = ["PAGE", "Page", "PersonPage", "Query", "people_page", "person_page"]

PAGE = 50
NETWORKS = ("email", "mastodon", "bluesky", "matrix")
_Key = tuple[str, str]


@dataclass(frozen=True)
class Query:
    """What the owner asked for: ``q`` in a name or identity, in ``list_name``, with an
    identity on ``network``, or ``unsorted`` (in no list kept by hand)."""

    q: str = ""
    list_name: str = ""
    network: str = ""
    unsorted: bool = False
    cursor: str = ""

    def __post_init__(self) -> None:
        if self.network and self.network not in NETWORKS:
            raise InvalidInput(f"unknown network {self.network!r}: use "
                               f"{', '.join(NETWORKS)}", field="network")


@dataclass(frozen=True)
class Row:
    person: Person
    lists: tuple[str, ...]


@dataclass(frozen=True)
class Page:
    rows: tuple[Row, ...]
    total: int                       # matching the query, all pages
    next_cursor: str = ""
    members: tuple[Member, ...] = field(default=())   # a list's page: why each is in


class _Sorted:
    """The snapshot's people sorted by name, and each person's lists (built once per
    snapshot: every page of every query reads it)."""

    def __init__(self, people: PeopleSnapshot) -> None:
        self.people = people
        ordered = sorted(people.people.values(), key=lambda p: (p.name.casefold(), p.id))
        self.order = ordered
        self.keys: list[_Key] = [(p.name.casefold(), p.id) for p in ordered]
        lists: dict[str, list[str]] = {}
        for name in sorted(people.lists):
            for pid in people.lists[name]:
                lists.setdefault(pid, []).append(name)
        self.lists = {pid: tuple(v) for pid, v in lists.items()}
        self.haystack = {p.id: " ".join([p.name.casefold(), *(i.value.casefold()
                                                               for i in p.identities)])
                         for p in ordered}


_lock = threading.Lock()
_last: tuple[PeopleSnapshot | None, _Sorted | None] = (None, None)


def _sorted(people: PeopleSnapshot) -> _Sorted:
    global _last
    seen, found = _last
    if seen is people and found is not None:
        return found
    with _lock:
        seen, found = _last
        if seen is not people or found is None:
            found = _Sorted(people)
            _last = (people, found)
        return found


def encode_cursor(key: _Key) -> str:
    return base64.urlsafe_b64encode("\0".join(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> _Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        name, pid = raw.split("\0")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("this page link is damaged: start again from the first page",
                           field="cursor") from None
    return name, pid


def people_page(hub: Hub, query: Query, *, limit: int = PAGE) -> Page:
    """One page of people matching ``query``, by name, after its cursor."""
    with hub.db.read() as s:
        people = current_people(hub, s)
    if query.list_name and query.list_name not in people.lists:
        raise NotFound(f"no list {query.list_name!r}")
    book = _sorted(people)
    start = bisect.bisect_right(book.keys, decode_cursor(query.cursor)) if query.cursor else 0
    members = people.lists.get(query.list_name) if query.list_name else None
    static = frozenset().union(*(m for n, m in people.lists.items()
                                 if n not in people.rule_lists)) if query.unsorted else None
    needle = query.q.strip().casefold()

    def wanted(p: Person) -> bool:
        return ((members is None or p.id in members)
                and (static is None or p.id not in static)
                and (not query.network or any(i.kind.value == query.network
                                              for i in p.identities))
                and (not needle or needle in book.haystack[p.id]))

    narrowed = members is not None or static is not None or query.network or needle
    hits = [i for i, p in enumerate(book.order) if wanted(p)] if narrowed \
        else range(len(book.order))
    first = bisect.bisect_left(hits, start)
    chosen = hits[first:first + limit]
    rows = tuple(Row(book.order[i], book.lists.get(book.order[i].id, ())) for i in chosen)
    more = first + limit < len(hits)
    return Page(rows, len(hits), encode_cursor(book.keys[chosen[-1]]) if more else "")


def list_page(hub: Hub, name: str, query: Query, *, limit: int = PAGE) -> Page:
    """One page of a list's members, each with why they are in."""
    page = people_page(hub, Query(query.q, name, query.network, query.unsorted,
                                  query.cursor), limit=limit)
    why = explain_list(hub, name, [r.person.id for r in page.rows])
    return Page(page.rows, page.total, page.next_cursor, tuple(why))


@dataclass(frozen=True)
class PersonPage:
    """Everything the person page shows (see the template people/detail.html)."""

    person: PersonRow
    identities: list[IdentityRow]
    static_lists: list[tuple[str, str]]              # (list, "added by hand on …")
    rule_lists: list[tuple[str, str, list[str]]]     # (list, rule, why)
    relationships: list[RelationshipRow]
    audit: dict[str, Any]


def person_page(hub: Hub, person_id: str, *, cursor: str | None = None) -> PersonPage:
    from hub.services.audit_queries import person_audit

    with hub.db.read() as s:
        person = s.get(PersonRow, person_id)
        if person is None:
            raise NotFound(f"no person {person_id!r}")
        idents = list(s.exec(select(IdentityRow).where(IdentityRow.person_id == person_id)
                             .order_by(col(IdentityRow.id))))
        added = list(s.exec(select(ListMemberRow).where(ListMemberRow.person_id == person_id)
                            .order_by(col(ListMemberRow.list_name))))
        i, h = IdentityRow, held()
        rel = aliased(RelationshipRow, h)
        rels = list({(r.account, r.kind, r.address): r for r in s.exec(  # DID and handle: once
            select(rel).join(i, holds(h, col(i.kind), col(i.value)))
            .where(col(i.person_id) == person_id))}.values())
        people = current_people(hub, s)
    rules = []
    for name in sorted(people.rule_lists):
        if PersonId(person_id) in people.lists.get(name, frozenset()):
            kept = rule_list(hub, name)
            assert kept is not None
            rules.append((name, kept.text,
                          hub.policies.current.rule_lists.why(name, PersonId(person_id),
                                                              people)))
    static = [(m.list_name, f"added by hand on {m.added.date().isoformat()}") for m in added
              if m.list_name not in people.rule_lists]
    audit = person_audit(hub, person_id, include_public=False, cursor=cursor)
    rels.sort(key=lambda r: (r.account, r.kind, r.address))
    return PersonPage(person, idents, static, rules, rels, audit)
