"""Importing people from CSV or vCard, told apart by one sniff (the file name, else the
content). Importing the same file again updates the people it already brought in (matched by
identity, else by their one exact name), so an import cut short can simply be run again.

How an import goes, and what a problem does (the same from the CLI, the page and a job):

1. **The whole file is checked first**, writing nothing: every row or card is parsed and
   validated, then matched against the address book as it is (read only, no write lock). The
   first problem is reported with its line (``CSV line 7: …``, ``vCard #3 (Ana): …``) and
   nothing is imported.
2. **Then it is written in short batches** (at most ``BATCH_ROWS`` entries or
   ``BATCH_SECONDS`` of work, each one transaction, with a pause after each), so the hub keeps
   answering — pages, the API, ``/healthz`` and the workers — while a large file goes in.
   A job's ``done`` count is written in the batch's own transaction: it is exactly what is
   committed. Should a batch still fail (the address book changed in between), the batches
   before it stay, the message names the entry and how many went in, and running the import
   again after fixing the file updates those instead of adding them twice.
"""

from __future__ import annotations

import csv
import functools
import io
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import regex
import vobject
from sqlmodel import Session, col, func, select

from hub.domain.events import ListMembershipChanged, PersonChanged
from hub.domain.identities import check_list_name, normalise_identity
from hub.domain.model import IdentityKind
from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services.csv_cells import csv_uncell
from hub.services.people import (
    NewPerson,
    check_person_name,
    ensure_list,
    insert_identity,
    insert_person,
)
from hub.store.tables import IdentityRow, ListMemberRow, PersonRow

FORMATS = ("csv", "vcard")


def sniff_format(filename: str, data: str) -> str:
    """``vcard`` for a .vcf/.vcard name or content starting ``BEGIN:VCARD``, else ``csv``."""
    if filename.lower().endswith((".vcf", ".vcard")):
        return "vcard"
    return "vcard" if data.lstrip().upper().startswith("BEGIN:VCARD") else "csv"


@dataclass(frozen=True)
class Entry:
    """One person to import and where the file holds it (``CSV line 7``, ``vCard #3``)."""

    where: str
    person: NewPerson


def parse_people(data: str, *, filename: str = "", fmt: str | None = None) -> list[NewPerson]:
    """The people in ``data`` as ``fmt`` says, or as :func:`sniff_format` finds."""
    return [e.person for e in parse_entries(data, filename=filename, fmt=fmt)]


def parse_entries(data: str, *, filename: str = "", fmt: str | None = None) -> list[Entry]:
    """Like :func:`parse_people`, each person with where the file holds it."""
    fmt = fmt or sniff_format(filename, data)
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use csv or vcard")
    return vcard_entries(data) if fmt == "vcard" else csv_entries(data)


CSV_COLUMNS = ("name", "email", "mastodon", "bluesky", "matrix", "lists", "note")


def parse_csv(data: str) -> list[NewPerson]:
    """Columns: name (required), email, mastodon, bluesky, matrix (several separated by spaces),
    lists (separated by ; or spaces), note. Any bad row refuses the whole file, naming it."""
    return [e.person for e in csv_entries(data)]


def csv_entries(data: str) -> list[Entry]:
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
        clean = {k.strip().lower(): csv_uncell((v or "").strip()) for k, v in row.items() if k}
        try:
            people.append(Entry(f"CSV line {line}", _csv_person(clean)))
        except InvalidInput as exc:
            raise InvalidInput(f"CSV line {line}: {exc.message}") from exc
    return people


def _csv_person(row: dict[str, str]) -> NewPerson:
    if not row.get("name"):
        raise InvalidInput("name is empty")
    idents = [normalise_identity(kind, v) for kind in ("email", "mastodon", "bluesky", "matrix")
              for v in row.get(kind, "").split()]
    lists = [check_list_name(x) for x in regex.split(r"[;\s]+", row.get("lists", "")) if x]
    return NewPerson(row["name"], idents, lists, row.get("note", ""))


def parse_vcard(data: str) -> list[NewPerson]:
    """FN, EMAIL, X-MASTODON / X-BLUESKY / X-MATRIX, CATEGORIES → lists, NOTE."""
    return [e.person for e in vcard_entries(data)]


def vcard_entries(data: str) -> list[Entry]:
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
        note = ""
        try:
            for child in card.getChildren():
                key, value = child.name.upper(), str(child.value).strip()
                if key == "EMAIL":
                    idents.append(normalise_identity("email", value))
                elif key == "X-MASTODON":
                    idents.append(normalise_identity("mastodon", value))
                elif key == "X-BLUESKY":
                    idents.append(normalise_identity("bluesky", value))
                elif key == "X-MATRIX":
                    idents.append(normalise_identity("matrix", value))
                elif key == "NOTE":
                    note = str(child.value)
                elif key == "CATEGORIES":
                    values = child.value if isinstance(child.value, list) else [value]
                    lists += [check_list_name(v.strip().lower()) for v in values if v.strip()]
        except InvalidInput as exc:
            raise InvalidInput(f"vCard #{n} ({name}): {exc.message}") from exc
        people.append(Entry(f"vCard #{n}", NewPerson(name, idents, lists, note)))
    if not people:
        raise InvalidInput("no vCard found in the file")
    return people


BATCH_ROWS = 1000     # entries per write transaction at most …
BATCH_SECONDS = 0.2   # … or this much work, whichever comes first
PAUSE = 0.25          # then wait this share of the batch's time (other writers go first)

# (session, entries written so far, added, updated) after each batch, inside its transaction
BatchDone = Callable[[Session, int, int, int], None]


def import_people(hub: Hub, people: Sequence[NewPerson], *, actor: str = "owner") -> int:
    """Checked whole, then written in batches; the first problem names the entry and nothing
    is written. Returns how many entries were added or updated."""
    added, updated = upsert_people(hub, people, actor=actor)
    return added + updated


def upsert_people(hub: Hub, people: Sequence[NewPerson], *, actor: str = "owner"
                  ) -> tuple[int, int]:
    """Add each entry, or update the person it already is: the one holding any of its
    identities, else the only person with its name (written the same way, if several differ
    only in case) whom no earlier entry of the file is. Updating adds the identities and
    lists it lacks and takes a non-empty note; it removes nothing. (added, updated)."""
    return upsert_entries(hub, [Entry(f"entry {n}", p) for n, p in enumerate(people, 1)],
                          actor=actor)


def upsert_entries(hub: Hub, entries: Sequence[Entry], *, actor: str = "owner",
                   on_batch: BatchDone | None = None, on_check: Callable[[int], None] | None
                   = None, batch_rows: int = BATCH_ROWS,
                   pause: Callable[[float], None] = time.sleep) -> tuple[int, int]:
    """:func:`check_entries`, then write in batches of at most ``batch_rows`` entries, with
    ``pause(seconds)`` after each one's commit (see the module's docstring)."""
    check_entries(hub, entries, on_check=on_check)
    added = updated = written = 0
    taken: set[str] = set()
    for batch in _batches(entries, batch_rows):
        started = time.monotonic()
        try:
            with hub.db.transaction() as s:
                book = _Book(s, batch.entries, taken)
                lists: dict[str, list[str]] = {}
                counts = [added, updated]
                for entry in batch:
                    counts[not _write(hub, s, book, entry, actor, lists)] += 1
                    if time.monotonic() - started > BATCH_SECONDS:
                        batch.stop()
                for list_name, ids in lists.items():   # one membership event per list, batch
                    hub.audit.append(s, ListMembershipChanged(
                        actor=actor, subject=list_name, list_name=list_name, added=ids),
                        now=hub.now())
                if on_batch is not None:
                    on_batch(s, written + batch.taken, *counts)
        except InvalidInput as exc:   # the address book changed since the check
            if not written:
                raise
            raise InvalidInput(f"{exc.message}. The first {written:,} entries were imported "
                               "and stay; fix the file and import it again (they are "
                               "updated, not added twice)") from exc
        written += batch.taken
        added, updated = counts
        pause((time.monotonic() - started) * PAUSE)
    return added, updated


def check_entries(hub: Hub, entries: Sequence[Entry], *,
                  on_check: Callable[[int], None] | None = None) -> None:
    """Validate every entry against the address book as it is, writing nothing: the first
    problem raises ``InvalidInput`` naming where the file holds it."""
    for start in range(0, len(entries), BATCH_ROWS):
        chunk = entries[start:start + BATCH_ROWS]
        for entry in chunk:
            _located(entry, functools.partial(check_person_name, entry.person.name))
        if on_check is not None:
            on_check(start + len(chunk))
    with hub.db.read() as s:
        book = _Book(s, entries)
        for n, entry in enumerate(entries):
            owner = _located(entry, functools.partial(book.resolve, entry.person))
            book.record(entry.person, owner or f"new entry {n}")


def _located(entry: Entry, step: Callable[[], Any]) -> Any:
    try:
        return step()
    except InvalidInput as exc:
        raise InvalidInput(f"{entry.where} ({entry.person.name}): {exc.message}") from exc


class _Batch:
    """Up to ``BATCH_ROWS`` entries, cut short by ``stop`` (the rest go to the next batch)."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries, self.taken, self._stopped = entries, 0, False

    def __iter__(self) -> Iterator[Entry]:
        for entry in self.entries:
            if self._stopped:
                return
            self.taken += 1
            yield entry

    def stop(self) -> None:
        self._stopped = True


def _batches(entries: Sequence[Entry], rows: int) -> Iterator[_Batch]:
    at = 0
    while at < len(entries):
        batch = _Batch(entries[at:at + max(rows, 1)])
        yield batch
        at += batch.taken


def _identities(person: NewPerson) -> list[tuple[IdentityKind, str]]:
    return list(dict.fromkeys(normalise_identity(str(k), v) for k, v in person.identities))


def _ascii_lower(name: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in name)


class _Book:
    """What matching needs of the address book, for the given entries only: who holds each
    identity they name, and who bears each of their names; ``record`` adds what an entry
    brought, so later entries of the same file match it."""

    def __init__(self, s: Session, entries: Iterable[Entry],
                 taken: set[str] | None = None) -> None:
        idents = {i for e in entries for i in _identities(e.person)}
        names = {e.person.name.strip() for e in entries}
        self.owner: dict[tuple[str, str], str] = {}
        values = sorted({v for _, v in idents})
        wanted = {(k.value, v) for k, v in idents}
        for at in range(0, len(values), 500):
            for pid, kind, value in s.execute(
                    select(col(IdentityRow.person_id), col(IdentityRow.kind),
                           col(IdentityRow.value))
                    .where(col(IdentityRow.value).in_(values[at:at + 500]))):
                if (kind, value) in wanted:
                    self.owner[(kind, value)] = pid
        self.named: dict[str, set[str]] = {}
        self.spelled: dict[str, str] = {}   # person id -> name as written
        # people an earlier entry of the file already is (shared by the batches of one import)
        self.taken: set[str] = set() if taken is None else taken
        keys = sorted({k for n in names for k in (n.lower(), _ascii_lower(n))})
        for at in range(0, len(keys), 500):
            for pid, name in s.execute(
                    select(col(PersonRow.id), col(PersonRow.name))
                    .where(func.lower(PersonRow.name).in_(keys[at:at + 500]))):
                self.named.setdefault(name.strip().lower(), set()).add(pid)
                self.spelled[pid] = name.strip()

    def resolve(self, person: NewPerson) -> str | None:
        """The person this entry already is, or None (a new one)."""
        owners = {self.owner[(k.value, v)] for k, v in _identities(person)
                  if (k.value, v) in self.owner}
        if len(owners) > 1:
            raise InvalidInput("its identities belong to different people ("
                               + ", ".join(sorted(owners)) + "); merge them first")
        if owners:
            return owners.pop()
        # by name: never someone an earlier entry already is (two "Ana" rows are two people,
        # as an export writes them), and of "Ana" and "ana" the one written the same way
        name = person.name.strip()
        named = self.named.get(name.lower(), set()) - self.taken
        if len(named) > 1:
            named = {p for p in named if self.spelled.get(p) == name} or named
        return next(iter(named)) if len(named) == 1 else None

    def record(self, person: NewPerson, person_id: str) -> None:
        for k, v in _identities(person):
            self.owner[(k.value, v)] = person_id
        self.named.setdefault(person.name.strip().lower(), set()).add(person_id)
        self.spelled[person_id] = person.name.strip()
        self.taken.add(person_id)


def _write(hub: Hub, s: Session, book: _Book, entry: Entry, actor: str,
           lists: dict[str, list[str]]) -> bool:
    """Add or update one entry; True if it was added."""
    person = entry.person
    try:
        found = book.resolve(person)
        row = s.get(PersonRow, found) if found is not None else None
        if row is None:
            row = insert_person(hub, s, NewPerson(person.name, _identities(person), (),
                                                  person.note), actor)
            new = True
        else:
            _update(hub, s, row, person, actor)
            new = False
        book.record(person, row.id)
        for list_name in dict.fromkeys(person.lists):
            ensure_list(hub, s, list_name)
            if s.get(ListMemberRow, (list_name, row.id)) is None:
                s.add(ListMemberRow(list_name=list_name, person_id=row.id, added=hub.now()))
                lists.setdefault(list_name, []).append(row.id)
        s.flush()
    except InvalidInput as exc:
        raise InvalidInput(f"{entry.where} ({person.name}): {exc.message}") from exc
    return new


def _update(hub: Hub, s: Session, row: PersonRow, person: NewPerson, actor: str) -> None:
    have = {(i.kind, i.value) for i in s.exec(select(IdentityRow).where(
        IdentityRow.person_id == row.id))}
    fresh = [(k, v) for k, v in _identities(person) if (k.value, v) not in have]
    for k, v in fresh:
        insert_identity(s, row, k, v)
    changed: dict[str, str | int] = {}
    if fresh:
        changed["identities_added"] = len(fresh)
    if person.note and person.note != row.note:
        row.note, changed["note"] = person.note, "changed"
        s.add(row)
    if changed:
        hub.audit.append(s, PersonChanged(actor=actor, subject=row.id, change="updated",
                                          details=changed), now=hub.now())
