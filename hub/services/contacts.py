"""Syncing the owner's connections from a network: followers and follows of one account,
page by page through a :class:`hub.ports.ContactReader`.

Each page is written in its own short transaction (at most one page of rows), together with
the cursor that follows it, so a sync that stops — crash, ``kill -9``, Ctrl-C — resumes at the
page it was reading and writes nothing twice. A rate limit (429) is waited out and the same
page asked again when the network says it resets soon enough (``contacts_sync_max_wait``);
otherwise the run is paused and the next run (or the schedule) resumes it. A run that reaches
the last page marks who was not seen in it as gone (a lost follower, or someone the owner no
longer follows), a few hundred rows a transaction, so the write lock is never held for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.ids import new_id
from hub.ports import Contact, ContactDirection, ContactPage, ContactReader
from hub.runtime import Hub
from hub.store.contact_tables import ContactSyncRow, RelationshipRow

ALL_DIRECTIONS = (ContactDirection.FOLLOWERS, ContactDirection.FOLLOWING)
END_BATCH = 500          # rows marked gone per transaction at the end of a run
MAX_RETRIES = 5          # 429s in a row on one page before the run is paused instead


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
    paused_until: datetime | None = None    # rate-limited: the next run resumes after this
    waiting_until: datetime | None = None   # rate-limited: this run retries by itself then
    error: str = ""               # why this direction could not be read (others still run)


Progress = Callable[[SyncProgress], None]
Sleep = Callable[[float], Awaitable[None]]


async def sync_account(hub: Hub, account: str, reader: ContactReader, *,
                       directions: Sequence[ContactDirection] | None = None,
                       progress: Progress | None = None, max_wait: float | None = None,
                       sleep: Sleep = asyncio.sleep) -> list[SyncProgress]:
    """Sync ``directions`` of ``account`` (default: those the reader has, ``reader.
    directions``, else both); each ends done, paused by a rate limit (the next call resumes
    it) or refused by the network (``error``; the other directions still run). A 429 that
    resets within ``max_wait`` seconds (default: the setting) is waited out with ``sleep``
    and the page asked again. Other errors propagate with the cursor kept."""
    wait_limit = hub.settings.contacts_sync_max_wait if max_wait is None else max_wait
    if directions is None:   # what the network has (Matrix: room members only)
        directions = getattr(reader, "directions", ALL_DIRECTIONS)
    results = []
    for direction in directions:
        try:
            results.append(await _sync_direction(hub, account, reader, direction, progress,
                                                 wait_limit, sleep))
        except PermanentDeliveryError as exc:
            _stop(hub, account, direction, "failed", error=exc.message)
            state = SyncProgress(account, direction, 0, 0, error=exc.message)
            if progress:
                progress(state)
            results.append(state)
    return results


async def _sync_direction(hub: Hub, account: str, reader: ContactReader,
                          direction: ContactDirection, progress: Progress | None,
                          max_wait: float, sleep: Sleep) -> SyncProgress:
    run, cursor, pages, seen, new, finishing = _begin(hub, account, direction)
    limited = 0
    while not finishing:
        try:
            page = await reader.page(direction, cursor)
        except TransientDeliveryError as exc:
            if exc.retry_after is None and exc.status_code != 429:
                _stop(hub, account, direction, "paused", hub.now() + timedelta(minutes=5),
                      error=exc.message)     # the cursor is kept: the next run resumes
                raise
            wait = 60.0 if exc.retry_after is None else max(0.0, exc.retry_after)
            until = hub.now() + timedelta(seconds=wait)
            limited += 1
            if wait <= max_wait and limited <= MAX_RETRIES:
                _stop(hub, account, direction, "waiting", until)
                if progress:
                    progress(SyncProgress(account, direction, pages, seen, new,
                                          waiting_until=until))
                await sleep(wait + 0.05)
                _stop(hub, account, direction, "running")
                continue
            _stop(hub, account, direction, "paused", until)
            state = SyncProgress(account, direction, pages, seen, new, paused_until=until)
            if progress:
                progress(state)
            return state
        limited = 0
        added = _write_page(hub, account, direction, run, page)
        pages, seen, new, cursor = pages + 1, seen + len(page.contacts), new + added, page.cursor
        finishing = cursor is None
        if progress and not finishing:
            progress(SyncProgress(account, direction, pages, seen, new))
    lost = _finish(hub, account, direction, run)
    state = SyncProgress(account, direction, pages, seen, new, lost, done=True)
    if progress:
        progress(state)
    return state


def _begin(hub: Hub, account: str, direction: ContactDirection
           ) -> tuple[str, str | None, int, int, int, bool]:
    """The run to continue (id, cursor, figures so far, whether only its end is left), or a
    new one."""
    with hub.db.transaction() as s:
        row = s.get(ContactSyncRow, (account, direction.value))
        if row is None:
            row = ContactSyncRow(account=account, direction=direction.value)
        if row.run is None:
            row.run, row.cursor, row.pages, row.seen, row.new = new_id("r"), None, 0, 0, 0
            row.started, row.finished, row.lost = hub.now(), None, 0
        finishing = row.status == "finishing"
        row.status, row.retry_after, row.error = ("finishing" if finishing else "running",
                                                  None, "")
        row.updated = hub.now()
        s.add(row)
        return row.run, row.cursor, row.pages, row.seen, row.new, finishing


def _stop(hub: Hub, account: str, direction: ContactDirection, status: str,
          until: datetime | None = None, *, error: str = "") -> None:
    with hub.db.transaction() as s:
        row = s.get(ContactSyncRow, (account, direction.value))
        if row is None:
            row = ContactSyncRow(account=account, direction=direction.value)
        row.status, row.retry_after, row.error = status, until, error[:500]
        row.updated = hub.now()
        s.add(row)


def _write_page(hub: Hub, account: str, direction: ContactDirection, run: str,
                page: ContactPage) -> int:
    """One transaction: the page's relationships and the cursor after it (the last page
    leaves the run ``finishing``). Returns how many relationships began."""
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
            if contact.links or contact.verified:
                row.links = [link[:300] for link in contact.links][:20]
                row.links_verified = [link[:300] for link in contact.verified][:20]
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
        state.cursor, state.pages = page.cursor, state.pages + 1
        state.seen, state.new = state.seen + len(page.contacts), state.new + begun
        if page.cursor is None:
            state.status = "finishing"
        state.updated = now
        s.add(state)
        return begun


def _rows(s: Session, account: str, contacts: Iterable[Contact]
          ) -> dict[tuple[str, str], RelationshipRow]:
    addresses = [c.address for c in contacts]
    if not addresses:
        return {}
    rows = s.exec(select(RelationshipRow).where(RelationshipRow.account == account,
                                                col(RelationshipRow.address).in_(addresses)))
    return {(r.kind, r.address): r for r in rows}


def _finish(hub: Hub, account: str, direction: ContactDirection, run: str) -> int:
    """Mark the relationships this run did not see as ended, ``END_BATCH`` a transaction
    (safe to repeat after a crash: each batch only takes rows still marked), then close the
    run. Returns how many ended."""
    followers = direction is ContactDirection.FOLLOWERS
    flag, seen_run = ((col(RelationshipRow.follows_me), col(RelationshipRow.followers_run))
                      if followers else
                      (col(RelationshipRow.i_follow), col(RelationshipRow.following_run)))
    lost_at = "follower_lost" if followers else "following_lost"
    flag_name = "follows_me" if followers else "i_follow"
    ended = 0
    while True:
        now = hub.now()
        with hub.db.transaction() as s:
            gone = list(s.exec(select(RelationshipRow.kind, RelationshipRow.address).where(
                RelationshipRow.account == account, flag.is_(True),
                (seen_run.is_(None)) | (seen_run != run)).limit(END_BATCH)))
            for kind, address in gone:
                s.execute(update(RelationshipRow).where(
                    col(RelationshipRow.account) == account, col(RelationshipRow.kind) == kind,
                    col(RelationshipRow.address) == address).values(
                    {flag_name: False, lost_at: now}))
            state = s.get(ContactSyncRow, (account, direction.value))
            assert state is not None and state.run == run, "the sync run changed under us"
            state.lost += len(gone)
            ended = state.lost
            if len(gone) < END_BATCH:
                state.run, state.status, state.finished = None, "done", now
            state.updated = now
            s.add(state)
        if len(gone) < END_BATCH:
            return ended


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
