"""Sorting people after contact sync: merge two people, split one, ignore an identity.

Each change is one transaction and is audited (``PeopleMerged``, ``PersonSplit``,
``IdentityIgnored``, with the list changes as ``ListMembershipChanged``); a refused change
(a person merged into themselves, a person who no longer exists, a split that would leave
someone without an identity, an identity ignored twice) raises before anything is written.

A merge moves the address book only. What was recorded at send time — who could see each
delivery (``audit_visibility``) and which feeds were fetched — stays as it was: it still names
the person merged away, and the person kept does not gain what the other could see. The merge
records who that was (``merged_person``: name, and whom they were merged into), so the audit's
answers still name them ("Bea (merged into Ana on 2026-12-01)").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import select

from hub.domain.events import (
    IdentityIgnored,
    ListMembershipChanged,
    PeopleMerged,
    PersonChanged,
    PersonSplit,
)
from hub.domain.identities import parse_identity
from hub.errors import Conflict, InvalidInput, NotFound
from hub.ids import new_id
from hub.runtime import Hub
from hub.services.contacts_inbox import held_by, seen, split_identity
from hub.services.people import find_person, identities_of
from hub.store.contact_tables import IgnoredIdentityRow, MergedPersonRow
from hub.store.tables import IdentityRow, ListMemberRow, PersonRow


def _identity_hash(kind: str, address: str) -> str:
    return hashlib.sha256(f"{kind}:{address}".encode()).hexdigest()


def merge(hub: Hub, into: str, other: str, *, actor: str = "owner") -> PersonRow:
    """Merge person ``other`` into ``into`` (each by id, name or identity): ``other``'s
    identities, lists and note move to ``into``, and ``other`` is removed."""
    now = hub.now()
    with hub.db.transaction() as s:
        keep, gone = find_person(s, into), find_person(s, other)
        if keep.id == gone.id:
            raise InvalidInput(f"cannot merge {keep.name} into themselves", field="person")
        moved = identities_of(s, gone.id)
        s.execute(update(IdentityRow).where(IdentityRow.person_id == gone.id)  # type: ignore[arg-type]
                  .values(person_id=keep.id))
        lists = []
        for m in list(s.exec(select(ListMemberRow).where(ListMemberRow.person_id == gone.id)
                             .order_by(ListMemberRow.list_name))):
            added = []
            if s.get(ListMemberRow, (m.list_name, keep.id)) is None:
                s.add(ListMemberRow(list_name=m.list_name, person_id=keep.id, added=now))
                added = [keep.id]
            s.delete(m)
            lists.append(m.list_name)
            hub.audit.append(s, ListMembershipChanged(
                actor=actor, subject=m.list_name, list_name=m.list_name, added=added,
                removed=[gone.id]), now=now)
        if gone.note.strip():
            keep.note = (keep.note.rstrip() + "\n\n" if keep.note.strip() else "") + gone.note
            s.add(keep)
        s.flush()
        # Who ``gone`` was, for the audit's answers (they keep naming the id): same
        # transaction, so a merge is never recorded without it.
        s.add(MergedPersonRow(id=gone.id, name=gone.name, into_id=keep.id,
                              into_name=keep.name, merged=now))
        s.delete(gone)
        hub.audit.append(s, PersonChanged(actor=actor, subject=gone.id, change="merged",
                                          details={"into": keep.id}), now=now)
        hub.audit.append(s, PeopleMerged(actor=actor, subject=keep.id, merged=gone.id,
                                         identities=len(moved), lists=sorted(lists)), now=now)
        return keep


def split(hub: Hub, ref: str, identities: Sequence[str], name: str, *,
          actor: str = "owner") -> PersonRow:
    """Move ``identities`` (``kind:value``) of person ``ref`` to a new person ``name``; the
    new person is in no list. The person split must keep at least one identity."""
    from hub.services.people import _person_name

    name = _person_name(name)
    wanted = [parse_identity(spec) for spec in identities]
    if not wanted:
        raise InvalidInput("name at least one identity to move to the new person",
                           field="identities")
    now = hub.now()
    with hub.db.transaction() as s:
        person = find_person(s, ref)
        held = {(i.kind, i.value): i for i in identities_of(s, person.id)}
        rows = []
        for kind, value in wanted:
            row = held.get((kind.value, value))
            if row is None:
                raise NotFound(f"{person.name} has no {kind.value} identity {value}")
            rows.append(row)
        if len({r.id for r in rows}) >= len(held):
            raise InvalidInput(f"the split would leave {person.name} with no identity; keep "
                               "one, or rename the person instead", field="identities")
        new = PersonRow(id=new_id("u"), name=name, created=now)
        s.add(new)
        s.flush()
        for row in rows:
            row.person_id = new.id
            s.add(row)
        hub.audit.append(s, PersonChanged(actor=actor, subject=new.id, change="added",
                                          details={"identities": len(rows),
                                                   "split_from": person.id}), now=now)
        hub.audit.append(s, PersonSplit(actor=actor, subject=person.id, new_person=new.id,
                                        kinds=sorted(r.kind for r in rows)), now=now)
        return new


def ignore(hub: Hub, spec: str, *, actor: str = "owner") -> str:
    """Stop offering identity ``spec`` (``kind:address``) in the inbox. Its relationships are
    still synced; ``unignore`` offers it again. Returns the identity as stored."""
    kind, address = split_identity(spec)
    with hub.db.transaction() as s:
        seen(s, kind, address)
        who = held_by(s, kind, address)
        if who is not None:
            raise Conflict(f"{kind}:{address} belongs to {who}; remove it from them instead "
                           "of ignoring it")
        if s.get(IgnoredIdentityRow, (kind, address)) is not None:
            raise Conflict(f"{kind}:{address} is already ignored")
        s.add(IgnoredIdentityRow(kind=kind, address=address, ignored=hub.now()))
        hub.audit.append(s, IdentityIgnored(actor=actor, subject=_identity_hash(kind, address),
                                            kind=kind, ignored=True), now=hub.now())
    return f"{kind}:{address}"


def unignore(hub: Hub, spec: str, *, actor: str = "owner") -> str:
    kind, address = split_identity(spec)
    with hub.db.transaction() as s:
        row = s.get(IgnoredIdentityRow, (kind, address))
        if row is None:
            raise NotFound(f"{kind}:{address} is not ignored")
        s.delete(row)
        hub.audit.append(s, IdentityIgnored(actor=actor, subject=_identity_hash(kind, address),
                                            kind=kind, ignored=False), now=hub.now())
    return f"{kind}:{address}"


def ignored(hub: Hub) -> list[IgnoredIdentityRow]:
    with hub.db.read() as s:
        return list(s.exec(select(IgnoredIdentityRow).order_by(IgnoredIdentityRow.kind,
                                                                IgnoredIdentityRow.address)))

