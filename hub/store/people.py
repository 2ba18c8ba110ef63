"""The address book as routing and the publish-time re-check read it: one snapshot per version.

Every write to people, identities, lists or memberships bumps ``people_version.n`` in the
writer's own transaction (database triggers, migration ``0007_perf``). A reader reads that
number inside its own transaction and gets the snapshot already built for it, or builds it
there: a change committed before the read is never missed, and an address book that did not
change costs one primary-key SELECT however many people it holds.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from sqlalchemy import select
from sqlmodel import Session, col

from hub.domain.model import (
    Identity,
    IdentityKind,
    PeopleSnapshot,
    Person,
    PersonId,
    Relationship,
)
from hub.store.contact_tables import held, holds
from hub.store.tables import IdentityRow, ListMemberRow, ListRow, PeopleVersionRow, PersonRow

_KINDS = {k.value: k for k in IdentityKind}


def read_people(session: Session) -> PeopleSnapshot:
    """Every person with identities, and every list with its members, as of now (columns, not
    ORM objects: ten thousand people read in a fraction of a second)."""
    idents: dict[str, list[Identity]] = defaultdict(list)
    for person_id, kind, value in session.execute(
            select(col(IdentityRow.person_id), col(IdentityRow.kind), col(IdentityRow.value))
            .order_by(col(IdentityRow.id))):
        idents[person_id].append(Identity(_KINDS[kind], value))
    people = {PersonId(pid): Person(PersonId(pid), name, tuple(idents.get(pid, ())))
              for pid, name in session.execute(select(col(PersonRow.id), col(PersonRow.name)))}
    lists: dict[str, set[PersonId]] = {name: set() for name in
                                       session.scalars(select(col(ListRow.name)))}
    for list_name, person_id in session.execute(
            select(col(ListMemberRow.list_name), col(ListMemberRow.person_id))):
        lists.setdefault(list_name, set()).add(PersonId(person_id))
    return PeopleSnapshot(people=people, lists={k: frozenset(v) for k, v in lists.items()},
                          relationships=read_relationships(session))


def read_relationships(session: Session, person_id: str | None = None
                       ) -> dict[PersonId, tuple[Relationship, ...]]:
    """Each person's current follows with the owner's accounts (contact sync's rows matched to
    the person's identities by :func:`~hub.store.contact_tables.held`: a Bluesky DID, or
    the handle it was verified to have), what rule lists are evaluated over; ended ones are
    left out. A person filed by both the DID and the handle gets the follow once."""
    i, h = IdentityRow, held()
    r = h.c
    query = (select(col(i.person_id), r.account, r.follows_me, r.i_follow,
                    r.follows_me_since, r.i_follow_since)
             .select_from(i).join(h, holds(h, col(i.kind), col(i.value)))
             .where(r.follows_me | r.i_follow)
             .distinct()
             .order_by(col(i.person_id), r.account))
    if person_id is not None:
        query = query.where(col(i.person_id) == person_id)
    found: dict[PersonId, list[Relationship]] = defaultdict(list)
    for pid, account, follows_me, i_follow, since_me, since_them in session.execute(query):
        found[PersonId(pid)].append(Relationship(account, follows_me, i_follow, since_me,
                                                 since_them))
    return {pid: tuple(rels) for pid, rels in found.items()}


def people_version(session: Session) -> int:
    """The address book's version as this transaction sees it."""
    return int(session.scalars(select(col(PeopleVersionRow.n))
                               .where(col(PeopleVersionRow.id) == 1)).one())


class PeopleCache:
    """The last snapshot read and the version it was read at (thread-safe; one per process).

    The version is read before the rows, so a snapshot is never older than its label; a
    reader whose transaction sees version *v* may be handed a snapshot labelled *v* or later
    (rows committed a moment after its own read began), never an earlier one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[int, PeopleSnapshot] = (-1, PeopleSnapshot())

    def snapshot(self, session: Session, version: int | None = None) -> PeopleSnapshot:
        """The snapshot as of ``session``; ``version`` if the caller read it already (in the
        same transaction: ``hub.store.versions.book``)."""
        if version is None:
            version = people_version(session)
        seen, people = self._last
        if seen >= version:
            return people
        with self._lock:   # one reader builds, the others wait for its result
            seen, people = self._last
            if seen < version:
                people = read_people(session)
                self._last = (version, people)
            return people
