"""The owner's address book: people, their identities, lists; CSV and vCard import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import regex
import vobject
from sqlmodel import Session, col, func, select

from hub.domain.events import ListMembershipChanged, PersonChanged
from hub.domain.model import IdentityKind
from hub.errors import InvalidInput, NotFound
from hub.ids import new_id
from hub.runtime import Hub
from hub.store.tables import IdentityRow, ListMemberRow, ListRow, PersonRow

_EMAIL = regex.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_MASTODON = regex.compile(r"^@?[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*@[^@\s]+\.[^@\s]+$")
_BSKY_HANDLE = regex.compile(r"^@?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                             r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DID = regex.compile(r"^did:(plc|web):[A-Za-z0-9._:%-]+$")
_MATRIX = regex.compile(r"^@[A-Za-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(?::\d{1,5})?$")
_LIST = regex.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def normalise_identity(kind: str, value: str) -> tuple[IdentityKind, str]:
    """Validate and normalise an identity; raise InvalidInput naming what is wrong."""
    value = value.strip()
    try:
        k = IdentityKind(kind.strip().lower())
    except ValueError:
        raise InvalidInput(f"unknown identity kind {kind!r}: use email, mastodon, bluesky "
                           "or matrix",
                           field="identities") from None
    if k is IdentityKind.EMAIL and _EMAIL.match(value):
        return k, value.lower()
    if k is IdentityKind.MASTODON and _MASTODON.match(value):
        return k, "@" + value.lstrip("@").lower()
    if k is IdentityKind.BLUESKY and (_DID.match(value) or _BSKY_HANDLE.match(value)):
        return k, value if value.startswith("did:") else value.lstrip("@").lower()
    if k is IdentityKind.MATRIX and _MATRIX.match(value):
        return k, value   # as written: historical Matrix user ids may hold capitals
    examples = {"email": "ana@example.org", "mastodon": "@ana@example.social",
                "bluesky": "ana.bsky.social or did:plc:...", "matrix": "@ana:example.org"}
    raise InvalidInput(f"{value!r} is not a valid {k.value} identity (e.g. {examples[k.value]})",
                       field="identities")


def parse_identity(spec: str) -> tuple[IdentityKind, str]:
    """``kind:value`` as typed on the CLI (``email:ana@x.org``, ``mastodon:@ana@x.social``)."""
    kind, sep, value = spec.partition(":")
    if not sep:
        raise InvalidInput(f"identity {spec!r} needs a kind: email:…, mastodon:… or bluesky:…",
                           field="identities")
    return normalise_identity(kind, value)


def check_list_name(name: str) -> str:
    if not _LIST.match(name):
        raise InvalidInput(f"list name {name!r}: use lowercase letters, digits, - and _",
                           field="list")
    return name


@dataclass(frozen=True)
class NewPerson:
    name: str
    identities: Sequence[tuple[IdentityKind | str, str]] = ()
    lists: Sequence[str] = ()
    note: str = ""


def _add(hub: Hub, s: Session, person: NewPerson, actor: str) -> PersonRow:
    now = hub.now()
    name = person.name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a person needs a name (at most 200 characters)", field="name")
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
    check_list_name(name)
    if s.get(ListRow, name) is None:
        s.add(ListRow(name=name, created=hub.now()))
        s.flush()


def add_person(hub: Hub, person: NewPerson, *, actor: str = "owner") -> PersonRow:
    with hub.db.transaction() as s:
        return _add(hub, s, person, actor)


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
            name = name.strip()
            if not name or len(name) > 200:
                raise InvalidInput("a person needs a name (at most 200 characters)",
                                   field="name")
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


# -- import -------------------------------------------------------------------------------

CSV_COLUMNS = ("name", "email", "mastodon", "bluesky", "lists", "note")


def parse_csv(data: str) -> list[NewPerson]:
    """Columns: name (required), email, mastodon, bluesky (several separated by spaces),
    lists (separated by ; or spaces), note. Any bad row refuses the whole file, naming it."""
    reader = csv.DictReader(io.StringIO(data))
    if reader.fieldnames is None:
        raise InvalidInput("the CSV file is empty")
    headers = [h.strip().lower() for h in reader.fieldnames]
    unknown = [h for h in headers if h not in CSV_COLUMNS]
    if "name" not in headers or unknown:
        raise InvalidInput(f"CSV line 1: columns must be {', '.join(CSV_COLUMNS)} (name "
                           f"required){'; unknown: ' + ', '.join(unknown) if unknown else ''}")
    people = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InvalidInput(f"CSV line {line}: more fields than columns")
        clean = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        try:
            people.append(_csv_person(clean))
        except InvalidInput as exc:
            raise InvalidInput(f"CSV line {line}: {exc.message}") from exc
    return people


def _csv_person(row: dict[str, str]) -> NewPerson:
    if not row.get("name"):
        raise InvalidInput("name is empty")
    idents = [normalise_identity(kind, v) for kind in ("email", "mastodon", "bluesky")
              for v in row.get(kind, "").split()]
    lists = [check_list_name(x) for x in regex.split(r"[;\s]+", row.get("lists", "")) if x]
    return NewPerson(row["name"], idents, lists, row.get("note", ""))


def parse_vcard(data: str) -> list[NewPerson]:
    """FN, EMAIL, X-MASTODON / X-BLUESKY (or IMPP/URL with those schemes), CATEGORIES → lists."""
    people = []
    try:
        cards = list(vobject.readComponents(data))
    except Exception as exc:  # vobject raises several unrelated types for bad input
        raise InvalidInput(f"vCard file could not be read: {exc}") from exc
    for n, card in enumerate(cards, 1):
        if card.name != "VCARD":
            continue
        name = card.fn.value.strip() if hasattr(card, "fn") else ""
        if not name:
            raise InvalidInput(f"vCard #{n}: it has no FN (name)")
        idents: list[tuple[IdentityKind, str]] = []
        lists: list[str] = []
        try:
            for child in card.getChildren():
                key, value = child.name.upper(), str(child.value).strip()
                if key == "EMAIL":
                    idents.append(normalise_identity("email", value))
                elif key == "X-MASTODON":
                    idents.append(normalise_identity("mastodon", value))
                elif key == "X-BLUESKY":
                    idents.append(normalise_identity("bluesky", value))
                elif key == "CATEGORIES":
                    values = child.value if isinstance(child.value, list) else [value]
                    lists += [check_list_name(v.strip().lower()) for v in values if v.strip()]
        except InvalidInput as exc:
            raise InvalidInput(f"vCard #{n} ({name}): {exc.message}") from exc
        people.append(NewPerson(name, idents, lists))
    if not people:
        raise InvalidInput("no vCard found in the file")
    return people


def import_people(hub: Hub, people: Sequence[NewPerson], *, actor: str = "owner") -> int:
    """All or nothing: one transaction; the first problem names the person and rolls back."""
    with hub.db.transaction() as s:
        for n, person in enumerate(people, 1):
            try:
                _add(hub, s, person, actor)
            except InvalidInput as exc:
                raise InvalidInput(f"entry {n} ({person.name}): {exc.message}") from exc
    return len(people)
