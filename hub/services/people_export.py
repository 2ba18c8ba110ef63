"""The whole address book as CSV or vCard, in the forms :mod:`hub.services.people_import`
reads back: every person with every identity, the lists kept by hand (rule lists follow from
the policy, not from the file) and the note. Importing an export into a fresh hub and
exporting again gives the same bytes; importing it into the same hub updates nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import vobject

from hub.runtime import Hub
from hub.services.csv_cells import csv_cell
from hub.services.people_import import CSV_COLUMNS
from hub.store.people import read_people
from hub.store.tables import ListRow, PersonRow

__all__ = ["EXPORT_FORMATS", "export_people"]

EXPORT_FORMATS = ("csv", "vcard")
_KINDS = ("email", "mastodon", "bluesky", "matrix")
_VCARD_KEYS = {"mastodon": "X-MASTODON", "bluesky": "X-BLUESKY", "matrix": "X-MATRIX"}

_Entry = tuple[str, dict[str, list[str]], list[str], str]   # name, identities, lists, note


def _entries(hub: Hub) -> list[_Entry]:
    from sqlmodel import select

    with hub.db.read() as s:
        people = read_people(s)
        notes = dict(s.exec(select(PersonRow.id, PersonRow.note)).all())
        stored = set(s.exec(select(ListRow.name)))
    member_of: dict[str, list[str]] = {}
    for name in sorted(stored):
        for pid in people.lists.get(name, ()):
            member_of.setdefault(pid, []).append(name)
    out = []
    for person in people.people.values():
        idents: dict[str, list[str]] = {k: [] for k in _KINDS}
        for i in person.identities:
            idents[i.kind.value].append(i.value)
        out.append((person.name, {k: sorted(v) for k, v in idents.items()},
                    member_of.get(person.id, []), notes.get(person.id, "")))
    # an order that does not depend on ids, so another hub exports the same file
    return sorted(out, key=lambda e: (e[0].casefold(), e[0], sorted(e[1].items()), e[2], e[3]))


def export_people(hub: Hub, fmt: str = "csv") -> str:
    """The address book as ``csv`` (the import's columns) or ``vcard`` (3.0)."""
    entries = _entries(hub)
    return _vcards(entries) if fmt == "vcard" else _csv(entries)


def _csv(entries: Iterable[_Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, idents, lists, note in entries:
        row = {"name": name, "lists": ";".join(lists), "note": note,
               **{k: " ".join(v) for k, v in idents.items()}}
        writer.writerow([csv_cell(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _vcards(entries: Iterable[_Entry]) -> str:
    cards = []
    for name, idents, lists, note in entries:
        card = vobject.vCard()
        card.add("fn").value = name
        card.add("n").value = vobject.vcard.Name(family="", given=name)
        for value in idents["email"]:
            card.add("email").value = value
        for kind, key in _VCARD_KEYS.items():
            for value in idents[kind]:
                card.add(key.lower()).value = value
        if lists:
            card.add("categories").value = lists
        if note:
            card.add("note").value = note
        cards.append(card.serialize())
    return "".join(cards)
