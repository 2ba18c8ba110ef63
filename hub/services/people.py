"""The owner's address book: people, their identities and lists (imports are
:mod:`hub.services.people_import`; identity rules :mod:`hub.domain.identities`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from hub.domain.events import ListMembershipChanged, PersonChanged
from hub.domain.identities import check_list_name, normalise_identity, parse_identity
from hub.domain.model import IdentityKind
from hub.domain.text import check_clean
from hub.errors import Conflict, InvalidInput, NotFound
from hub.ids import new_id
from hub.runtime import Hub
from hub.store.tables import IdentityRow, ListMemberRow, ListRow, PersonRow

__all__ = ["NewPerson", "PersonExists", "add_identity", "add_people", "add_person",
           "all_lists", "change_lists", "check_list_name", "find_person", "identities_of",
           "list_people", "lists_of",
           "normalise_identity", "parse_identity", "people_named", "remove_identity",
           "remove_person", "show_list", "update_person"]


class PersonExists(Conflict):
    """Someone already has this name: add to them, or say a second person is meant."""

    field = "name"

    def __init__(self, name: str, existing: Sequence[PersonRow]) -> None:
        self.person_ids = [p.id for p in existing]
        who = ", ".join(f"{p.name} ({p.id})" for p in existing)
        super().__init__(f"{who} already exists: add identities or lists to them, or ask for "
                         f"a second person called {name}")


@dataclass(frozen=True)
class NewPerson:
    name: str
    identities: Sequence[tuple[IdentityKind | str, str]] = ()
    lists: Sequence[str] = ()
    note: str = ""


def _add(hub: Hub, s: Session, person: NewPerson, actor: str) -> PersonRow:
    now = hub.now()
    name = _person_name(person.name)
    row = PersonRow(id=new_id("u"), name=name, note=person.note, created=now)
    s.add(row)
    s.flush()
    for kind, value in person.identities:
        _add_identity(s, row, *normalise_identity(str(kind), value))
    hub.audit.append(s, PersonChanged(actor=actor, subject=row.id, change="added",
                                      details={"identities": len(person.identities)}), now=now)
    for list_name in person.lists:
        _ensure_list(hub, s, list_name)
        s.add(ListMemberRow(list_name=list_name, person_id=row.id, added=now))
        hub.audit.append(s, ListMembershipChanged(actor=actor, subject=list_name,
                                                  list_name=list_name, added=[row.id]), now=now)
    return row


def _person_name(name: str) -> str:
    name = check_clean(name.strip(), field="name", label="name", one_line=True)
    if not name or len(name) > 200:
        raise InvalidInput("a person needs a name (at most 200 characters)", field="name")
    return name


def _add_identity(s: Session, person: PersonRow, kind: IdentityKind, value: str) -> None:
    taken = s.exec(select(IdentityRow).where(IdentityRow.kind == kind.value,
                                             IdentityRow.value == value)).first()
    if taken is not None:
        owner = s.get(PersonRow, taken.person_id)
        raise InvalidInput(f"{kind.value} identity {value} already belongs to "
                           f"{owner.name if owner else taken.person_id}", field="identities")
    s.add(IdentityRow(person_id=person.id, kind=kind.value, value=value))
    s.flush()


def _ensure_list(hub: Hub, s: Session, name: str) -> None:
    from hub.services.people_lists import rule_list

    check_list_name(name)
    kept = rule_list(hub, name)
    if kept is not None:
        raise Conflict(f"list {name} keeps itself: its members are whoever the rule "
                       f"{kept.text!r} ({kept.source}) names; change the rule, or the "
                       "lists and relationships it names")
    if s.get(ListRow, name) is None:
        s.add(ListRow(name=name, created=hub.now()))
        s.flush()


def add_person(hub: Hub, person: NewPerson, *, actor: str = "owner",
               allow_same_name: bool = True) -> PersonRow:
    """Add a person; with ``allow_same_name=False`` refuse (409, naming who) when someone of
    that name (ignoring case) exists already."""
    with hub.db.transaction() as s:
        if not allow_same_name:
            same = list(s.exec(select(PersonRow).where(
                func.lower(PersonRow.name) == person.name.strip().lower())))
            if same:
                raise PersonExists(person.name.strip(), same)
        return _add(hub, s, person, actor)


def people_named(hub: Hub, name: str) -> list[PersonRow]:
    """Everyone whose name is ``name`` (ignoring case and surrounding spaces)."""
    with hub.db.read() as s:
        return list(s.exec(select(PersonRow).where(
            func.lower(PersonRow.name) == name.strip().lower())))


def find_person(s: Session, ref: str) -> PersonRow:
    """A person by id, exact name (case-insensitive) or identity value."""
    row = s.get(PersonRow, ref)
    if row is not None:
        return row
    by_name = list(s.exec(select(PersonRow).where(func.lower(PersonRow.name) == ref.lower())))
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise InvalidInput(f"{len(by_name)} people are called {ref!r}; use an id: "
                           + ", ".join(p.id for p in by_name), field="person")
    ident = s.exec(select(IdentityRow).where(
        func.lower(IdentityRow.value).in_([ref.lower(), "@" + ref.lower().lstrip("@")]))).first()
    if ident is not None:
        found = s.get(PersonRow, ident.person_id)
        if found is not None:
            return found
    raise NotFound(f"nobody matches {ref!r} (by id, name or identity)")


def identities_of(s: Session, person_id: str) -> list[IdentityRow]:
    return list(s.exec(select(IdentityRow).where(IdentityRow.person_id == person_id)
                       .order_by(col(IdentityRow.id))))


def list_people(hub: Hub) -> list[tuple[PersonRow, list[IdentityRow], list[str]]]:
    with hub.db.transaction() as s:
        out = []
        for p in s.exec(select(PersonRow).order_by(func.lower(PersonRow.name))):
            lists = list(s.exec(select(ListMemberRow.list_name)
                                .where(ListMemberRow.person_id == p.id)))
            out.append((p, identities_of(s, p.id), sorted(lists)))
        return out


def lists_of(hub: Hub, person_id: str) -> list[str]:
    """The lists kept by hand that ``person_id`` is in (404 for an unknown id)."""
    with hub.db.read() as s:
        if s.get(PersonRow, person_id) is None:
            raise NotFound(f"no person {person_id!r}")
        return sorted(s.exec(select(ListMemberRow.list_name)
                             .where(ListMemberRow.person_id == person_id)))


def add_identity(hub: Hub, ref: str, spec: str, *, actor: str = "owner") -> None:
    kind, value = parse_identity(spec)
    with hub.db.transaction() as s:
        person = find_person(s, ref)
        _add_identity(s, person, kind, value)
        hub.audit.append(s, PersonChanged(actor=actor, subject=person.id,
                                          change="identity-added",
                                          details={"kind": kind.value}), now=hub.now())


def update_person(hub: Hub, ref: str, *, name: str | None = None, note: str | None = None,
                  actor: str = "owner") -> PersonRow:
    """Rename a person or change their note."""
    with hub.db.transaction() as s:
        person = find_person(s, ref)
        changed: dict[str, str] = {}
        if name is not None:
            name = _person_name(name)
            if name != person.name:
                person.name, changed["name"] = name, "changed"
        if note is not None and note != person.note:
            person.note, changed["note"] = note, "changed"
        if changed:
            s.add(person)
            hub.audit.append(s, PersonChanged(actor=actor, subject=person.id, change="updated",
                                              details=changed), now=hub.now())
        return person


def remove_identity(hub: Hub, ref: str, spec: str, *, actor: str = "owner") -> None:
    """Remove one identity (``kind:value``) from a person."""
    kind, value = parse_identity(spec)
    with hub.db.transaction() as s:
        person = find_person(s, ref)
        row = s.exec(select(IdentityRow).where(IdentityRow.person_id == person.id,
                                               IdentityRow.kind == kind.value,
                                               IdentityRow.value == value)).first()
        if row is None:
            raise NotFound(f"{person.name} has no {kind.value} identity {value}")
        s.delete(row)
        hub.audit.append(s, PersonChanged(actor=actor, subject=person.id,
                                          change="identity-removed",
                                          details={"kind": kind.value}), now=hub.now())


def remove_person(hub: Hub, ref: str, *, actor: str = "owner") -> str:
    with hub.db.transaction() as s:
        person = find_person(s, ref)
        for m in s.exec(select(ListMemberRow).where(ListMemberRow.person_id == person.id)):
            hub.audit.append(s, ListMembershipChanged(actor=actor, subject=m.list_name,
                                                      list_name=m.list_name,
                                                      removed=[person.id]), now=hub.now())
            s.delete(m)
        for i in identities_of(s, person.id):
            s.delete(i)
        s.delete(person)
        hub.audit.append(s, PersonChanged(actor=actor, subject=person.id, change="removed"),
                         now=hub.now())
        return person.name


def change_lists(hub: Hub, list_name: str, *, add: Iterable[str] = (),
                 remove: Iterable[str] = (), actor: str = "owner") -> tuple[list[str], list[str]]:
    """Add/remove people (by id, name or identity) to/from a list, creating the list."""
    from hub.services.feeds import retire_member_links

    now = hub.now()
    with hub.db.transaction() as s:
        _ensure_list(hub, s, list_name)
        added, removed = [], []
        for ref in add:
            p = find_person(s, ref)
            if s.get(ListMemberRow, (list_name, p.id)) is None:
                s.add(ListMemberRow(list_name=list_name, person_id=p.id, added=now))
                added.append(p.id)
        for ref in remove:
            p = find_person(s, ref)
            m = s.get(ListMemberRow, (list_name, p.id))
            if m is None:
                raise InvalidInput(f"{p.name} is not in {list_name}", field="person")
            s.delete(m)
            retire_member_links(hub, s, list_name, p.id)   # re-adding gives a new feed link
            removed.append(p.id)
        if added or removed:
            hub.audit.append(s, ListMembershipChanged(actor=actor, subject=list_name,
                                                      list_name=list_name, added=added,
                                                      removed=removed), now=now)
        return added, removed


def show_list(hub: Hub, list_name: str) -> list[tuple[PersonRow, list[IdentityRow]]]:
    with hub.db.transaction() as s:
        if s.get(ListRow, list_name) is None:
            raise NotFound(f"no list {list_name!r}")
        rows = s.exec(select(PersonRow).join(ListMemberRow, col(ListMemberRow.person_id) ==
                                             col(PersonRow.id))
                      .where(ListMemberRow.list_name == list_name)
                      .order_by(func.lower(PersonRow.name)))
        return [(p, identities_of(s, p.id)) for p in rows]


def all_lists(hub: Hub) -> list[tuple[str, int]]:
    with hub.db.transaction() as s:
        counts = dict(s.exec(select(ListMemberRow.list_name, func.count())
                             .group_by(ListMemberRow.list_name)).all())
        return [(r.name, counts.get(r.name, 0))
                for r in s.exec(select(ListRow).order_by(ListRow.name))]


def add_people(hub: Hub, people: Sequence[NewPerson], *, actor: str = "owner") -> int:
    """Add several people in one transaction; the first problem names the person (by its
    place in ``people``) and nothing is added."""
    with hub.db.transaction() as s:
        for n, person in enumerate(people, 1):
            try:
                _add(hub, s, person, actor)
            except InvalidInput as exc:
                raise InvalidInput(f"entry {n} ({person.name}): {exc.message}") from exc
    return len(people)


# The steps an import writes through (``hub.services.people_import`` batches them).
insert_person, insert_identity, ensure_list, check_person_name = (
    _add, _add_identity, _ensure_list, _person_name)
