"""Importing people, all or nothing: CSV or vCard, told apart by one sniff (the file name,
else the content), each broken row or card named."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import regex
import vobject

from hub.domain.identities import check_list_name, normalise_identity
from hub.domain.model import IdentityKind
from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services.people import NewPerson, add_people

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
    """All or nothing: one transaction; the first problem names the person and rolls back."""
    return add_people(hub, people, actor=actor)
