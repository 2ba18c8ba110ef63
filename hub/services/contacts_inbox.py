"""People to sort: identities seen through contact sync that no person in the address book
holds yet, each with suggestions of who it might be. Accepting one adds a person or an
identity through the address book's own (audited) services; nothing here rewrites the past."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from hub.runtime import Hub
from hub.services.contacts import direction_of
from hub.services.people import NewPerson, add_identity, add_person
from hub.store.contact_tables import RelationshipRow
from hub.store.tables import IdentityRow, PersonRow


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


def inbox(hub: Hub) -> list[Unsorted]:
    """Every synced identity no person holds, oldest first seen first."""
    with hub.db.read() as s:
        known = set(s.exec(select(IdentityRow.kind, IdentityRow.value)).all())
        people = list(s.exec(select(PersonRow)))
        emails = list(s.exec(select(IdentityRow).where(IdentityRow.kind == "email")))
        rows = list(s.exec(select(RelationshipRow).order_by(col(RelationshipRow.first_seen),
                                                            col(RelationshipRow.address))))
    by_name: dict[str, list[PersonRow]] = {}
    for p in people:
        by_name.setdefault(p.name.strip().lower(), []).append(p)
    names = {p.id: p.name for p in people}
    domains: dict[str, set[str]] = {}
    for e in emails:
        domains.setdefault(e.value.rsplit("@", 1)[-1], set()).add(e.person_id)
    grouped: dict[tuple[str, str], list[RelationshipRow]] = {}
    for r in rows:
        if (r.kind, r.address) not in known and (r.follows_me or r.i_follow):
            grouped.setdefault((r.kind, r.address), []).append(r)
    out = []
    for (kind, address), rels in grouped.items():
        display = next((r.display_name for r in rels if r.display_name), "")
        found: dict[str, Suggestion] = {}
        for p in by_name.get(display.strip().lower(), []) if display else []:
            found[p.id] = Suggestion(p.id, p.name, f"same name as {display!r}")
        host = _handle_domain(kind, address)
        for domain, ids in domains.items():
            if host and (host == domain or host.endswith("." + domain)):
                for pid in ids:
                    found.setdefault(pid, Suggestion(pid, names[pid],
                                                     f"handle on {domain}, their email domain"))
        out.append(Unsorted(kind, address, display,
                            tuple(f"{r.account}: {direction_of(r)}" for r in rels),
                            tuple(found.values())))
    return out


def _handle_domain(kind: str, address: str) -> str:
    if kind == "bluesky" and not address.startswith("did:"):
        return address.split(".", 1)[-1] if address.count(".") > 1 else address
    return ""


def accept(hub: Hub, kind: str, address: str, *, name: str | None = None,
           person: str | None = None, actor: str = "owner") -> str:
    """File an unsorted identity: on ``person`` (id, name or identity), or as a new person
    called ``name``. Returns the person's name. Audited by the address book's services."""
    if person:
        add_identity(hub, person, f"{kind}:{address}", actor=actor)
        return person
    if not name:
        name = next((u.display_name for u in inbox(hub)
                     if (u.kind, u.address) == (kind, address) and u.display_name), address)
    return add_person(hub, NewPerson(name, [(kind, address)]), actor=actor).name
