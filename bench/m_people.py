"""Reading the people a post can reach, with an address book of 10,000 people in 20 lists
(each in one list, every fifth in a second; each with an email identity, every third with a
Mastodon one), on SQLite, beside ``SELECT 1`` in the same kind of read transaction.

The subject is the read that submitting a post and re-checking a delivery perform
(``hub.store.versions.book``: one version read while the book and the accounts are unchanged);
the read right after a change (the whole book, once) is reported beside it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench._procs import hub_dir
from bench._suite import Figures, Measure, Ratio

PEOPLE = 10_000
LISTS = 20
POLICY = """\
version: 1
accounts: [feed:site]
targets:
  l0-feed: {account: feed:site, list: l0}
audiences:
  l0: {reach: recipients, targets: [l0-feed]}
"""


def fill(hub: Any, n: int = PEOPLE, lists: int = LISTS) -> None:
    """Write the address book straight into the tables (``import_people`` would take minutes
    for 10,000 people on this machine; the reads measured here only see the rows)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from hub.store.tables import IdentityRow, ListMemberRow, ListRow, PersonRow

    now = datetime.now(UTC)
    persons, idents, members = [], [], []
    for i in range(n):
        pid = f"pbench{i:06d}"
        persons.append({"id": pid, "name": f"Person {i}", "note": "", "created": now})
        idents.append({"person_id": pid, "kind": "email", "value": f"person{i}@example.org"})
        if i % 3 == 0:
            idents.append({"person_id": pid, "kind": "mastodon",
                           "value": f"@person{i}@social.example"})
        members.append({"list_name": f"l{i % lists}", "person_id": pid, "added": now})
        if i % 5 == 0:
            members.append({"list_name": f"l{(i + 7) % lists}", "person_id": pid, "added": now})
    with hub.db.transaction() as s:
        s.execute(insert(PersonRow.__table__), persons)  # type: ignore[attr-defined]
        s.execute(insert(IdentityRow.__table__), idents)  # type: ignore[attr-defined]
        s.execute(insert(ListRow.__table__),  # type: ignore[attr-defined]
                  [{"name": f"l{k}", "description": "", "created": now} for k in range(lists)])
        s.execute(insert(ListMemberRow.__table__), members)  # type: ignore[attr-defined]


def _timed(call: Callable[[], object], budget: float = 0.4, most: int = 50) -> float:
    times: list[float] = []
    spent = 0.0
    while len(times) < 3 or (spent < budget and len(times) < most):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return statistics.median(times)


class PeoplePair:
    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def baseline(self) -> Figures:
        from sqlalchemy import text

        def one() -> None:
            with self.hub.db.read() as s:
                s.execute(text("SELECT 1")).one()

        return {"ms": _timed(one) * 1000}

    def subject(self) -> Figures:
        from sqlalchemy import text

        from hub.store.versions import book

        def read() -> None:   # what submit and the re-check read: the people and the domains
            with self.hub.db.read() as s:
                book(self.hub.people, self.hub.domains, s)

        def changed() -> None:   # a change to the book (a trigger bumps its version), then
            with self.hub.db.transaction() as s:       # the read that follows it
                s.execute(text("UPDATE person SET note = note || '.' WHERE id = 'pbench000001'"))
            read()

        warm = _timed(read)
        return {"ms": warm * 1000, "after_change_ms": _timed(changed, budget=1.0, most=3) * 1000}


@contextmanager
def _open() -> Iterator[PeoplePair]:
    with hub_dir(POLICY) as hd:
        hub = hd.build()
        fill(hub)
        try:
            yield PeoplePair(hub)
        finally:
            hub.db.dispose()


MEASURES = [Measure(f"people read, {PEOPLE:,} people in {LISTS} lists vs SELECT 1", _open, (
    Ratio("one read (book unchanged)", lambda b, s: s["ms"] / b["ms"], "≤ 5 ms absolute",
          lambda r, s: s["ms"] <= 5, "ms"),
    Ratio("the first read after a change", lambda b, s: s["after_change_ms"] / b["ms"],
          "(reported)", lambda r, s: True, "after_change_ms", "ms")))]
