"""People to sort: identities seen through contact sync that no person in the address book
holds yet (and the owner has not ignored), each with suggestions of who it might be:

* a person with the same name as the identity's display name;
* a Bluesky handle on a domain that is someone's email domain;
* a Mastodon profile field (``fields``, rel=me style) linking to an identity someone holds —
  their Bluesky profile, Mastodon account, Matrix id or email — or to a website on someone's
  email domain (fields the instance verified say so).

Accepting one adds a person or an identity through the address book's own (audited)
services; merging, splitting and ignoring are :mod:`hub.services.contacts_sort`. Nothing here
rewrites the past."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import regex
from sqlalchemy import select as sa_select
from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from hub.domain.identities import normalise_identity
from hub.errors import Conflict, InvalidInput, NotFound
from hub.runtime import Hub
from hub.services.contacts import direction_of
from hub.services.people import NewPerson, add_identity, add_person
from hub.store.contact_tables import (
    IgnoredIdentityRow,
    RelationshipRow,
    Text,
    also_held_by,
    held,
    holds,
)
from hub.store.tables import IdentityRow, PersonRow

_HANDLE = regex.compile(r"^@?([A-Za-z0-9_.-]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$")


@dataclass(frozen=True)
class Suggestion:
    """A person the identity may belong to, and why."""

    person_id: str
    name: str
    reason: str


@dataclass(frozen=True)
class Unsorted:
    """An identity seen on a network (with how it relates to which accounts) and no person."""

    kind: str
    address: str
    display_name: str
    relations: tuple[str, ...]          # "mastodon:main: mutual"
    suggestions: tuple[Suggestion, ...]
    links: tuple[str, ...] = ()
    handle: str = ""                    # Bluesky: the DID's verified handle, if known

    @property
    def identity(self) -> str:
        return f"{self.kind}:{self.address}"


def link_identities(link: str) -> list[tuple[str, str]]:
    """The identities a profile link may name: (kind, value), normalised; a bare website
    gives ("site", host)."""
    link = link.strip()
    found: list[tuple[str, str]] = []
    handle = _HANDLE.match(link)
    if handle:
        found += [("mastodon", f"@{handle[1]}@{handle[2]}"), ("email", f"{handle[1]}@{handle[2]}")]
    if link.lower().startswith("mailto:"):
        found.append(("email", unquote(link[7:]).split("?", 1)[0]))
    parts = urlsplit(link if "://" in link else "")
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    if host in ("bsky.app", "staging.bsky.app") and path.startswith("/profile/"):
        found.append(("bluesky", path.split("/")[2]))
    elif host == "matrix.to":
        found.append(("matrix", unquote(parts.fragment).lstrip("/").split("?", 1)[0]))
    elif host and path.startswith("/@") and len(path) > 2:
        found.append(("mastodon", f"@{path[2:].split('/')[0]}@{host}"))
    if host:
        found.append(("site", host.removeprefix("www.")))
    out = []
    for kind, value in found:
        if kind == "site":
            out.append((kind, value))
            continue
        try:
            k, v = normalise_identity(kind, value)
        except InvalidInput:
            continue
        out.append((k.value, v))
    return out


def _held_rows(s: Session, kind: Text, value: Text, table: Any
               ) -> set[tuple[str, str, str]]:
    """(account, kind, address) of every relationship row an identity in ``table`` holds
    (the address book's, or the ignored ones), matched the one way relationships meet
    identities (:func:`held`: on Bluesky the DID or its verified handle)."""
    h = held()
    return {(a, k, v) for a, k, v in s.connection().execute(
        sa_select(h.c.account, h.c.kind, h.c.address).select_from(h)
        .join(table, holds(h, kind, value)))}


def inbox(hub: Hub) -> list[Unsorted]:
    """Every synced identity no person holds and the owner has not ignored, oldest first
    seen first."""
    with hub.db.read() as s:
        holders = {(k, v): pid for k, v, pid in s.exec(
            select(IdentityRow.kind, IdentityRow.value, IdentityRow.person_id)).all()}
        people = list(s.exec(select(PersonRow)))
        i, g = IdentityRow, IgnoredIdentityRow
        sorted_ = (_held_rows(s, col(i.kind), col(i.value), i)
                   | _held_rows(s, col(g.kind), col(g.address), g))
        rows = [r for r in s.exec(select(RelationshipRow).order_by(
            col(RelationshipRow.first_seen), col(RelationshipRow.address)))
            if (r.account, r.kind, r.address) not in sorted_]
    by_name: dict[str, list[PersonRow]] = {}
    for p in people:
        by_name.setdefault(p.name.strip().lower(), []).append(p)
    names = {p.id: p.name for p in people}
    domains: dict[str, set[str]] = {}
    for (kind, value), pid in holders.items():
        if kind == "email":
            domains.setdefault(value.rsplit("@", 1)[-1], set()).add(pid)
    grouped: dict[tuple[str, str], list[RelationshipRow]] = {}
    for r in rows:
        if r.follows_me or r.i_follow:
            grouped.setdefault((r.kind, r.address), []).append(r)
    out = []
    for (kind, address), rels in grouped.items():
        display = next((r.display_name for r in rels if r.display_name), "")
        handle = next((r.handle for r in rels if r.handle), "")
        found: dict[str, Suggestion] = {}
        for p in by_name.get(display.strip().lower(), []) if display else []:
            found[p.id] = Suggestion(p.id, p.name, f"same name as {display!r}")
        host = _handle_domain(kind, handle or address)
        for domain, ids in domains.items():
            if host and (host == domain or host.endswith("." + domain)):
                for pid in ids:
                    found.setdefault(pid, Suggestion(pid, names[pid],
                                                     f"handle on {domain}, their email domain"))
        links = list(dict.fromkeys(link for r in rels for link in r.links))
        verified = {link for r in rels for link in r.links_verified}
        for link in links:
            how = "verified profile link" if link in verified else "profile link"
            for k, v in link_identities(link):
                if k == "site":
                    for pid in domains.get(v, ()):
                        found.setdefault(pid, Suggestion(
                            pid, names[pid], f"{how} to {v}, their email domain"))
                elif (k, v) in holders:
                    pid = holders[(k, v)]
                    found.setdefault(pid, Suggestion(pid, names[pid],
                                                     f"{how} to {k}:{v}, which is theirs"))
        out.append(Unsorted(kind, address, display,
                            tuple(f"{r.account}: {direction_of(r)}" for r in rels),
                            tuple(found.values()), tuple(links), handle))
    return out


def _handle_domain(kind: str, address: str) -> str:
    if kind == "bluesky" and not address.startswith("did:"):
        return address.split(".", 1)[-1] if address.count(".") > 1 else address
    return ""


def check_unsorted(hub: Hub, kind: str, address: str) -> None:
    """Refuse (nothing changed) an identity that is not waiting in the inbox: never seen by
    a sync, already held by someone, or ignored."""
    with hub.db.read() as s:
        seen(s, kind, address)
        who = held_by(s, kind, address)
        if who is not None:
            raise Conflict(f"{kind}:{address} is already filed on {who}")
        g = IgnoredIdentityRow
        if s.exec(select(g).where(tuple_(col(g.kind), col(g.address)).in_(
                also_held_by(kind, address)))).first() is not None:
            raise Conflict(f"{kind}:{address} is ignored; un-ignore it first "
                           "(hub contacts unignore)")


def seen(s: Session, kind: str, address: str) -> None:
    """Refuse an identity no contact sync has seen (by address, or a Bluesky handle)."""
    h = held()
    if s.connection().execute(sa_select(h.c.account).where(holds(h, kind, address))
                              .limit(1)).first() is None:
        raise NotFound(f"{kind}:{address} was not seen by any contact sync")


def held_by(s: Session, kind: str, address: str) -> str | None:
    """Who in the address book holds what contact sync saw as ``kind:address`` (see
    :func:`holder`), in words: "Ana" or "Ana (as bluesky:ana.test)"; None if nobody."""
    taken = holder(s, kind, address)
    if taken is None:
        return None
    owner = s.get(PersonRow, taken.person_id)
    return (owner.name if owner else taken.person_id) + (
        f" (as {taken.kind}:{taken.value})" if (taken.kind, taken.value) != (kind, address)
        else "")


def holder(s: Session, kind: str, address: str) -> IdentityRow | None:
    """The address-book identity that already holds what contact sync saw as ``kind``:
    ``address`` itself, or on Bluesky the DID's verified handle (or the DID of a handle)."""
    exact = s.exec(select(IdentityRow).where(IdentityRow.kind == kind,
                                             IdentityRow.value == address)).first()
    if exact is not None:
        return exact
    i = IdentityRow
    return s.exec(select(i).where(tuple_(col(i.kind), col(i.value)).in_(
        also_held_by(kind, address))).order_by(col(i.id))).first()


def split_identity(spec: str) -> tuple[str, str]:
    """``kind:address`` from the CLI or a form, normalised."""
    kind, sep, address = spec.strip().partition(":")
    if not sep or not address:
        raise InvalidInput(f"{spec!r} is not kind:address (e.g. mastodon:@ana@example.social)",
                           field="identity")
    k, v = normalise_identity(kind, address)
    return k.value, v


def accept(hub: Hub, kind: str, address: str, *, name: str | None = None,
           person: str | None = None, actor: str = "owner") -> str:
    """File an unsorted identity: on ``person`` (id, name or identity), or as a new person
    called ``name``. Returns the person's name. Audited by the address book's services."""
    check_unsorted(hub, kind, address)
    if person:
        add_identity(hub, person, f"{kind}:{address}", actor=actor)
        return person
    if not name:
        name = next((u.display_name for u in inbox(hub)
                     if (u.kind, u.address) == (kind, address) and u.display_name), address)
    return add_person(hub, NewPerson(name, [(kind, address)]), actor=actor).name
