"""Importing people, all or nothing: CSV or vCard, told apart by one sniff (the file name,
else the content), each broken row or card named. Importing the same file again updates the
people it already brought in (matched by identity, else by their one exact name)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import regex
import vobject
from sqlmodel import Session, func, select

from hub.domain.events import ListMembershipChanged, PersonChanged
from hub.domain.identities import check_list_name, normalise_identity
from hub.domain.model import IdentityKind
from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services.people import NewPerson, _add, _add_identity, _ensure_list
from hub.store.tables import IdentityRow, ListMemberRow, PersonRow

FORMATS = ("csv", "vcard")


def sniff_format(filename: str, data: str) -> str:
    """``vcard`` for a .vcf/.vcard name or content starting ``BEGIN:VCARD``, else ``csv``."""
    if filename.lower().endswith((".vcf", ".vcard")):
        return "vcard"
    return "vcard" if data.lstrip().upper().startswith("BEGIN:VCARD") else "csv"


def parse_people(data: str, *, filename: str = "", fmt: str | None = None) -> list[NewPerson]:
    """The people in ``data`` as ``fmt`` says, or as :func:`sniff_format` finds."""
    fmt = fmt or sniff_format(filename, data)
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use csv or vcard")
    return parse_vcard(data) if fmt == "vcard" else parse_csv(data)


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
    """All or nothing: one transaction; the first problem names the person and rolls back.
    Returns how many entries were added or updated (:func:`upsert_people` tells them apart)."""
    added, updated = upsert_people(hub, people, actor=actor)
    return added + updated


def upsert_people(hub: Hub, people: Sequence[NewPerson], *, actor: str = "owner"
                  ) -> tuple[int, int]:
    """Add each entry, or update the person it already is: the one holding any of its
    identities, else the only person with its exact name. Updating adds the identities and
    lists it lacks and takes a non-empty note; it removes nothing. (added, updated)."""
    added = updated = 0
    with hub.db.transaction() as s:
        for n, person in enumerate(people, 1):
            try:
                existing = _existing(s, person)
                if existing is None:
                    _add(hub, s, person, actor)
                    added += 1
                else:
                    _update(hub, s, existing, person, actor)
                    updated += 1
                s.flush()
            except InvalidInput as exc:
                raise InvalidInput(f"entry {n} ({person.name}): {exc.message}") from exc
    return added, updated


def _existing(s: Session, person: NewPerson) -> PersonRow | None:
    owners = set()
    for kind, value in person.identities:
        k, v = normalise_identity(str(kind), value)
        row = s.exec(select(IdentityRow).where(IdentityRow.kind == k.value,
                                               IdentityRow.value == v)).first()
        if row is not None:
            owners.add(row.person_id)
    if len(owners) > 1:
        raise InvalidInput("its identities belong to different people ("
                           + ", ".join(sorted(owners)) + "); merge them first")
    if owners:
        return s.get(PersonRow, owners.pop())
    named = list(s.exec(select(PersonRow).where(
        func.lower(PersonRow.name) == person.name.strip().lower())))
    return named[0] if len(named) == 1 else None


def _update(hub: Hub, s: Session, row: PersonRow, person: NewPerson, actor: str) -> None:
    now = hub.now()
    have = {(i.kind, i.value) for i in s.exec(select(IdentityRow).where(
        IdentityRow.person_id == row.id))}
    new_idents = [normalise_identity(str(k), v) for k, v in person.identities]
    fresh = [(k, v) for k, v in dict.fromkeys(new_idents) if (k.value, v) not in have]
    for k, v in fresh:
        _add_identity(s, row, k, v)
    changed: dict[str, str | int] = {}
    if fresh:
        changed["identities_added"] = len(fresh)
    if person.note and person.note != row.note:
        row.note, changed["note"] = person.note, "changed"
        s.add(row)
    if changed:
        hub.audit.append(s, PersonChanged(actor=actor, subject=row.id, change="updated",
                                          details=changed), now=now)
    for list_name in dict.fromkeys(person.lists):
        _ensure_list(hub, s, list_name)
        if s.get(ListMemberRow, (list_name, row.id)) is None:
            s.add(ListMemberRow(list_name=list_name, person_id=row.id, added=now))
            hub.audit.append(s, ListMembershipChanged(actor=actor, subject=list_name,
                                                      list_name=list_name, added=[row.id]),
                             now=now)
