"""What submit and the publish-time re-check read about the hub besides the post: the address
book and the Mastodon accounts' domains, each cached per version.

Database triggers bump ``people_version.n`` in the writer's own transaction: row 1 on every
change to people, identities, lists or memberships (migration ``0007_perf``), row 2 on every
change to the accounts (``0013_perf``). A reader reads both numbers with one statement inside
its own transaction and is handed what was already built for them, or builds it there: a change
committed before the read is never missed, and while nothing changed the two cost one
primary-key SELECT.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy import select
from sqlmodel import Session, col

from hub.domain.model import PeopleSnapshot
from hub.store.people import PeopleCache
from hub.store.repos import local_domains
from hub.store.tables import PeopleVersionRow

PEOPLE, ACCOUNTS = 1, 2


_VERSIONS = (select(col(PeopleVersionRow.id), col(PeopleVersionRow.n))
             .where(col(PeopleVersionRow.id).in_((PEOPLE, ACCOUNTS))))


def read_versions(session: Session) -> dict[int, int]:
    """The versions of the address book and of the accounts, as this transaction sees them
    (a Core statement built once, on the session's connection: every submit and every
    delivery re-check reads them)."""
    return {int(i): int(n) for i, n in session.connection().execute(_VERSIONS)}


class LocalDomains:
    """The last ``local_domains`` read and the accounts version it was read at (thread-safe,
    one per process), kept like :class:`hub.store.people.PeopleCache`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[int, Mapping[str, str]] = (-1, MappingProxyType({}))

    def get(self, session: Session, version: int | None) -> Mapping[str, str]:
        if version is None:      # no counter row: read every time
            return local_domains(session)
        seen, domains = self._last
        if seen >= version:
            return domains
        with self._lock:
            seen, domains = self._last
            if seen < version:
                domains = MappingProxyType(local_domains(session))
                self._last = (version, domains)
            return domains


def book(people: PeopleCache, domains: LocalDomains, session: Session
         ) -> tuple[PeopleSnapshot, Mapping[str, str]]:
    """The people snapshot and the Mastodon domains ``route()`` needs, as of ``session``."""
    versions = read_versions(session)
    return (people.snapshot(session, versions.get(PEOPLE)),
            domains.get(session, versions.get(ACCOUNTS)))
