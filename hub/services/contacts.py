"""Syncing the owner's connections from a network: followers and follows of one account,
page by page through a :class:`hub.ports.ContactReader`.

Each page is written in its own short transaction (at most one page of rows), together with
the cursor that follows it, so a sync that stops — crash, rate limit, Ctrl-C — resumes at the
page it was reading and writes nothing twice. A run that reaches the last page marks who was
not seen in it as gone (a lost follower, or someone the owner no longer follows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.ids import new_id
from hub.ports import Contact, ContactDirection, ContactPage, ContactReader
from hub.runtime import Hub
from hub.store.contact_tables import ContactSyncRow, RelationshipRow

ALL_DIRECTIONS = (ContactDirection.FOLLOWERS, ContactDirection.FOLLOWING)


@dataclass(frozen=True)
class SyncProgress:
    """Where one direction of one account's sync stands (after each page, and at the end)."""

    account: str
    direction: ContactDirection
    pages: int
    seen: int
    new: int = 0                  # relationships that began in this run
    lost: int = 0                 # relationships that ended (known once the run is done)
    done: bool = False
    paused_until: datetime | None = None
    error: str = ""               # why this direction could not be read (others still run)


Progress = Callable[[SyncProgress], None]


async def sync_account(hub: Hub, account: str, reader: ContactReader, *,
                       directions: Sequence[ContactDirection] = ALL_DIRECTIONS,
                       progress: Progress | None = None) -> list[SyncProgress]:
    """Sync ``directions`` of ``account``; each ends done, paused by a rate limit (the next
    call resumes it) or refused by the network (``error``; the other directions still run).
    Other errors propagate with the cursor kept for a resume."""
    results = []
    for direction in directions:
        try:
            results.append(await _sync_direction(hub, account, reader, direction, progress))
        except PermanentDeliveryError as exc:
            _stop(hub, account, direction, "failed")
            state = SyncProgress(account, direction, 0, 0, error=exc.message)
            if progress:
                progress(state)
            results.append(state)
    return results


async def _sync_direction(hub: Hub, account: str, reader: ContactReader,
                          direction: ContactDirection, progress: Progress | None
                          ) -> SyncProgress:
    run, cursor, pages, seen = _begin(hub, account, direction)
    new = 0
    while True:
        try:
            page = await reader.page(direction, cursor)
        except TransientDeliveryError as exc:
            if exc.retry_after is None and exc.status_code != 429:
                raise
            until = hub.now() + timedelta(seconds=exc.retry_after or 60)
            _stop(hub, account, direction, "paused", until)
            state = SyncProgress(account, direction, pages, seen, new, paused_until=until)
            if progress:
                progress(state)
            return state
        added, lost = _write_page(hub, account, direction, run, page)
        pages, seen, new, cursor = pages + 1, seen + len(page.contacts), new + added, page.cursor
        state = SyncProgress(account, direction, pages, seen, new, lost, done=cursor is None)
        if progress:
            progress(state)
        if cursor is None:
            return state


def _begin(hub: Hub, account: str, direction: ContactDirection
           ) -> tuple[str, str | None, int, int]:
    """The run to continue (its id, cursor and figures so far), or a new one."""
    with hub.db.transaction() as s:
        row = s.get(ContactSyncRow, (account, direction.value))
        if row is None:
            row = ContactSyncRow(account=account, direction=direction.value)
        if row.run is None:
            row.run, row.cursor, row.pages, row.seen = new_id("r"), None, 0, 0
            row.started, row.finished = hub.now(), None
        row.status, row.retry_after = "running", None
        s.add(row)
        return row.run, row.cursor, row.pages, row.seen


def _stop(hub: Hub, account: str, direction: ContactDirection, status: str,
          until: datetime | None = None) -> None:
    with hub.db.transaction() as s:
        row = s.get(ContactSyncRow, (account, direction.value))
        if row is not None:
            row.status, row.retry_after = status, until
            s.add(row)


def _write_page(hub: Hub, account: str, direction: ContactDirection, run: str,
                page: ContactPage) -> tuple[int, int]:
    """One transaction: the page's relationships, the cursor after it, and — on the last
    page — the ends of relationships this run did not see. Returns (begun, ended)."""
    now = hub.now()
    followers = direction is ContactDirection.FOLLOWERS
    with hub.db.transaction() as s:
        existing = _rows(s, account, page.contacts)
        begun = 0
        for contact in page.contacts:
            row = existing.get((contact.kind.value, contact.address))
            if row is None:
                row = RelationshipRow(account=account, kind=contact.kind.value,
                                      address=contact.address, remote_id=contact.remote_id,
                                      first_seen=now)
                existing[(row.kind, row.address)] = row
            row.remote_id = contact.remote_id
            row.display_name = (contact.display_name or row.display_name)[:200]
            if followers:
                if not row.follows_me:
                    row.follows_me, row.follows_me_since, begun = True, now, begun + 1
                row.followers_run = run
            else:
                if not row.i_follow:
                    row.i_follow, row.i_follow_since, begun = True, now, begun + 1
                row.following_run = run
            s.add(row)
        state = s.get(ContactSyncRow, (account, direction.value))
        assert state is not None and state.run == run, "the sync run changed under us"
        state.cursor, state.pages, state.seen = page.cursor, state.pages + 1, \
            state.seen + len(page.contacts)
        ended = 0
        if page.cursor is None:
            s.flush()
            ended = _end_unseen(s, account, followers, run, now)
            state.run, state.status, state.finished = None, "done", now
        s.add(state)
        return begun, ended


def _rows(s: Session, account: str, contacts: Iterable[Contact]
          ) -> dict[tuple[str, str], RelationshipRow]:
    addresses = [c.address for c in contacts]
    if not addresses:
        return {}
    rows = s.exec(select(RelationshipRow).where(RelationshipRow.account == account,
                                                col(RelationshipRow.address).in_(addresses)))
    return {(r.kind, r.address): r for r in rows}


def _end_unseen(s: Session, account: str, followers: bool, run: str, now: datetime) -> int:
    flag, seen_run = ((col(RelationshipRow.follows_me), col(RelationshipRow.followers_run))
                      if followers else
                      (col(RelationshipRow.i_follow), col(RelationshipRow.following_run)))
    gone = list(s.exec(select(RelationshipRow).where(
        RelationshipRow.account == account, flag.is_(True),
        (seen_run.is_(None)) | (seen_run != run))))
    for row in gone:
        if followers:
            row.follows_me, row.follower_lost = False, now
        else:
            row.i_follow, row.following_lost = False, now
        s.add(row)
    return len(gone)


def relationships(hub: Hub, account: str | None = None, *, lost: bool = False
                  ) -> list[RelationshipRow]:
    """Relationships (of one account, or all), or with ``lost`` the followers who left."""
    with hub.db.read() as s:
        query = select(RelationshipRow)
        if account:
            query = query.where(RelationshipRow.account == account)
        if lost:
            query = query.where(col(RelationshipRow.follows_me).is_(False),
                                col(RelationshipRow.follower_lost).is_not(None))
        else:
            query = query.where(col(RelationshipRow.follows_me) | col(RelationshipRow.i_follow))
        return list(s.exec(query.order_by(col(RelationshipRow.account),
                                          col(RelationshipRow.address))))


def sync_states(hub: Hub) -> list[ContactSyncRow]:
    with hub.db.read() as s:
        return list(s.exec(select(ContactSyncRow).order_by(col(ContactSyncRow.account),
                                                           col(ContactSyncRow.direction))))


def direction_of(row: RelationshipRow) -> str:
    """``mutual``, ``follows me`` or ``I follow`` (or ``none`` once both ended)."""
    if row.follows_me and row.i_follow:
        return "mutual"
    return "follows me" if row.follows_me else "I follow" if row.i_follow else "none"
