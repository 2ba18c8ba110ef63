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
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from hub.domain.model import IdentityKind
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.ids import new_id
from hub.ports import Contact, ContactDirection, ContactPage, ContactReader
from hub.runtime import Hub
from hub.store.contact_tables import ContactSyncRow, RelationshipRow

ALL_DIRECTIONS = (ContactDirection.FOLLOWERS, ContactDirection.FOLLOWING)
END_BATCH = 500          # rows marked gone per transaction at the end of a run
PACE_MAX = 0.25         # the longest pause after a page's write transaction
MAX_RETRIES = 5          # 429s in a row on one page before the run is paused instead
_REL = RelationshipRow.__table__  # type: ignore[attr-defined]


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
        began = time.monotonic()
        added = _write_page(hub, account, direction, run, page)
        # As long again without the lock: a writer of another process (hub serve beside
        # ``hub contacts sync``) gets its turn even when the network answers at once.
        await sleep(min(time.monotonic() - began, PACE_MAX))
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
    leaves the run ``finishing``). Returns how many relationships began.

    Plain ``INSERT`` (executemany) and ``UPDATE`` statements rather than ORM objects: the
    write lock is held for a page of rows only as long as the database needs to write them."""
    now = hub.now()
    followers = direction is ContactDirection.FOLLOWERS
    flag, since, seen_run = (("follows_me", "follows_me_since", "followers_run") if followers
                             else ("i_follow", "i_follow_since", "following_run"))
    contacts = {(c.kind.value, c.address): c for c in page.contacts
                if len(c.address) <= 300 and len(c.remote_id) <= 200}
    with hub.db.transaction() as s:
        conn = s.connection()
        existing: dict[tuple[str, str], bool] = {}
        if contacts:
            existing = {(k, a): bool(on) for k, a, on in conn.execute(
                sa_select(_REL.c.kind, _REL.c.address, _REL.c[flag]).where(
                    _REL.c.account == account,
                    _REL.c.address.in_([a for _, a in contacts])))}
        fresh, changed = [], []
        for key, c in contacts.items():
            values: dict[str, object] = {"remote_id": c.remote_id, seen_run: run}
            if c.display_name:
                values["display_name"] = c.display_name[:200]
            if c.links or c.verified:
                values["links"] = [link[:300] for link in c.links][:20]
                values["links_verified"] = [link[:300] for link in c.verified][:20]
            if c.kind is IdentityKind.BLUESKY:   # re-read every sync; none if unverified
                values["handle"] = _handle(c.handle)
            if key not in existing:
                fresh.append({"account": account, "kind": key[0], "address": key[1],
                              "display_name": "", "follows_me": False, "i_follow": False,
                              "first_seen": now, "links": [], "links_verified": [],
                              "handle": None,
                              **values, flag: True, since: now})
            else:
                if not existing[key]:
                    values.update({flag: True, since: now})
                changed.append((key, values))
        if fresh:
            conn.execute(insert(_REL), fresh)
        _update_many(conn, account, changed)
        _spread_handles(conn, account, [c for c in contacts.values()
                                        if c.kind is IdentityKind.BLUESKY])
        begun = len(fresh) + sum(1 for key, _ in changed if not existing[key])
        state = s.get(ContactSyncRow, (account, direction.value))
        assert state is not None and state.run == run, "the sync run changed under us"
        state.cursor, state.pages = page.cursor, state.pages + 1
        state.seen, state.new = state.seen + len(page.contacts), state.new + begun
        if page.cursor is None:
            state.status = "finishing"
        state.updated = now
        s.add(state)
        return begun


def _update_many(conn: Connection, account: str,
                 rows: list[tuple[tuple[str, str], dict[str, object]]]) -> None:
    """``UPDATE`` each (kind, address) row with its values: one executemany per set of
    columns (a page's rows share one or two)."""
    groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for (kind, address), values in rows:
        groups.setdefault(tuple(sorted(values)), []).append(
            {"b_kind": kind, "b_address": address, **{f"v_{k}": v for k, v in values.items()}})
    for columns, params in groups.items():
        conn.execute(update(_REL).where(
            _REL.c.account == account, _REL.c.kind == bindparam("b_kind"),
            _REL.c.address == bindparam("b_address")).values(
            {c: bindparam(f"v_{c}") for c in columns}), params)


def _handle(handle: str) -> str | None:
    """The handle as stored: lower-cased (as the address book stores handles), or None."""
    handle = handle.strip().lower()
    return handle if handle and len(handle) <= 253 and not handle.startswith("did:") else None


def _spread_handles(conn: Connection, account: str, contacts: list[Contact]) -> None:
    """A handle belongs to one DID at a time, the DID is the truth: the handle just read for
    a DID replaces the one its rows under the owner's other accounts remember, and any other
    DID's row that still remembers that handle (it moved) forgets it, so it matches nobody
    filed by that handle any more. Two indexed reads a page; rows are written only when
    something changed (rarely: a sync normally finds everything as it was)."""
    if not contacts:
        return
    r = _REL.c
    fresh = {c.address: _handle(c.handle) for c in contacts}
    owner_of = {h: a for a, h in fresh.items() if h is not None}
    bluesky = r.kind == IdentityKind.BLUESKY.value
    changes = [((acct, address), fresh[address]) for acct, address, handle in conn.execute(
        sa_select(r.account, r.address, r.handle).where(
            bluesky, r.address.in_(fresh), r.account != account))
        if handle != fresh[address]]
    if owner_of:
        changes += [((acct, address), None) for acct, address, handle in conn.execute(
            sa_select(r.account, r.address, r.handle).where(bluesky, r.handle.in_(owner_of)))
            if owner_of[handle] != address]
    if changes:
        conn.execute(update(_REL).where(
            bluesky, r.account == bindparam("b_account"), r.address == bindparam("b_address"))
            .values(handle=bindparam("b_handle")),
            [{"b_account": acct, "b_address": address, "b_handle": handle}
             for (acct, address), handle in changes])


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
            _update_many(s.connection(), account,
                         [((kind, address), {flag_name: False, lost_at: now})
                          for kind, address in gone])
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
