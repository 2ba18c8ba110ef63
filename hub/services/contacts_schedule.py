"""Contact syncs in the background of ``hub serve``: on demand (the Contacts page's button)
and on a schedule (``contacts_sync_hours``), each run as a ``contacts-sync`` background job
(:mod:`hub.services.jobs`: its row shows the progress, and a job left running by a dead
process is marked interrupted).

Progress lives in the database (``contact_sync``: status, pages, seen, new, lost), so the
page shows a sync started from the CLI as well as one started here, and a sync that died with
its process (``kill -9``) is picked up again: its cursor is kept and it is resumed at the next
tick, as is a run paused by a rate limit once its ``retry_after`` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

import structlog
from sqlmodel import col, select

from hub.errors import Conflict, HubError, NotFound
from hub.ids import new_id
from hub.ports import ContactReader
from hub.runtime import Hub
from hub.services import jobs
from hub.services.accounts import list_accounts
from hub.services.contacts import sync_states
from hub.services.contacts_job import KIND
from hub.store.contact_tables import ContactSyncRow
from hub.store.job_tables import JobRow

log = structlog.get_logger("hub.contacts")

ReaderFactory = Callable[[Hub, str], ContactReader]
UNFINISHED = ("running", "waiting", "finishing", "paused")
STALE = timedelta(minutes=10)


def syncable_accounts(hub: Hub, platforms: Collection[str]) -> list[str]:
    """Connected accounts whose network has a contact reader."""
    return [a.name for a in list_accounts(hub) if a.name.partition(":")[0] in platforms]


def due_accounts(hub: Hub, accounts: Collection[str], *, every: timedelta | None,
                 now: datetime, busy: Collection[str] = ()) -> list[str]:
    """Which of ``accounts`` should sync now: never synced or last finished ``every`` ago
    (when there is a schedule), a run left unfinished by a dead process, or a paused run
    whose rate limit has reset. ``busy`` are running here already."""
    states: dict[str, list[ContactSyncRow]] = {}
    for row in sync_states(hub):
        states.setdefault(row.account, []).append(row)
    due = []
    for account in accounts:
        if account in busy:
            continue
        rows = states.get(account, [])
        unfinished = [r for r in rows if r.status in UNFINISHED]
        if unfinished:
            if all(_resumable(r, now) for r in unfinished):
                due.append(account)
            continue
        if every is None:
            continue
        stamps = [t for r in rows for t in (r.finished or r.started,) if t is not None]
        last = max(stamps, default=None)
        if last is None or now - last >= every:
            due.append(account)
    return due


def _resumable(row: ContactSyncRow, now: datetime) -> bool:
    """A paused run whose limit has reset, or a run nobody has moved on for ``STALE`` (its
    process died: a live one writes a page, or its wait, far more often)."""
    if row.status == "paused":
        return row.retry_after is None or row.retry_after <= now
    if row.status == "waiting" and row.retry_after is not None:
        return row.retry_after + STALE <= now
    return row.updated is None or row.updated + STALE <= now


def syncing_elsewhere(hub: Hub, me: str | None = None) -> set[str]:
    """Accounts a live ``contacts-sync`` job is syncing (this process or another, e.g. the
    CLI). Jobs whose process is gone (``kill -9``) are marked interrupted first (``me``
    names this process's runner), and one whose heartbeat is older than the jobs'
    ``STALE_AFTER`` is not counted."""
    jobs.recover(hub, me=me)
    now = hub.now()
    with hub.db.read() as s:
        rows = s.exec(select(JobRow).where(JobRow.kind == KIND,
                                           col(JobRow.state).in_(jobs.ACTIVE)))
        return {str(r.params.get("account")) for r in rows
                if now - (r.heartbeat or r.created) < jobs.STALE_AFTER}


class ContactSync:
    """Runs each sync as a ``contacts-sync`` job (:mod:`hub.services.contacts_job`) on a
    thread of its own, one per account at a time; ``runner`` is the job runner's name in
    ``hub serve`` (so its recovery knows these jobs are alive)."""

    def __init__(self, hub: Hub, make_reader: ReaderFactory, platforms: Collection[str], *,
                 runner: str | None = None) -> None:
        self.hub = hub
        self.make_reader = make_reader
        self.platforms = tuple(platforms)
        self.runner = runner or jobs.runner_name(new_id("c"))
        self.tasks: dict[str, asyncio.Task[JobRow | None]] = {}
        self.started: dict[str, JobRow] = {}     # the last job started for each account
        self._stop = threading.Event()
        self._loop_task: asyncio.Task[None] | None = None

    def running(self) -> set[str]:
        return {a for a, t in self.tasks.items() if not t.done()}

    def start(self, account: str | None = None) -> list[str]:
        """Start syncing ``account`` (or every syncable account not already syncing); the
        names started. An unknown account is NotFound; one already syncing a Conflict."""
        accounts = syncable_accounts(self.hub, self.platforms)
        busy = self.running() | syncing_elsewhere(self.hub, self.runner)
        if account is not None:
            if account not in accounts:
                raise NotFound(f"no connected account {account!r} to sync contacts from "
                               f"(only {', '.join(self.platforms)} accounts can)")
            if account in busy:
                raise Conflict(f"{account} is already syncing")
            accounts = [account]
        started = [a for a in accounts if a not in busy]
        for name in started:
            self._launch(name)
        return started

    def _launch(self, account: str) -> JobRow:
        """The job's row (written now: a page can link to it at once) and its task."""
        job = jobs.create(self.hub, KIND, {"account": account}, runner=self.runner)
        self.started[account] = job
        self.tasks[account] = asyncio.create_task(self._sync(account, job))
        return job

    async def _sync(self, account: str, job: JobRow) -> JobRow | None:
        try:
            return await asyncio.to_thread(
                jobs.run, self.hub, job.id, runner=self.runner, stop=self._stop,
                services={"contact_reader": lambda a: self.make_reader(self.hub, a)})
        except Exception:    # jobs.run records a job's own failure; this is bookkeeping
            log.exception("contacts.sync_crashed", account=account)
            return None

    async def wait(self) -> None:
        """Until every started sync has ended (tests, shutdown)."""
        tasks = [t for t in self.tasks.values() if not t.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the schedule ---------------------------------------------------------------------

    def tick(self) -> list[str]:
        """Start whatever is due (see :func:`due_accounts`); the names started."""
        hours = self.hub.settings.contacts_sync_hours
        every = timedelta(hours=hours) if hours > 0 else None
        accounts = syncable_accounts(self.hub, self.platforms)
        due = due_accounts(self.hub, accounts, every=every, now=self.hub.now(),
                           busy=self.running())
        elsewhere = syncing_elsewhere(self.hub, self.runner)
        due = [a for a in due if a not in elsewhere]
        for name in due:
            self._launch(name)
        return due

    async def start_schedule(self, tick_seconds: float = 60.0) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(tick_seconds))

    async def _run(self, tick_seconds: float) -> None:
        while True:
            try:
                for name in self.tick():
                    log.info("contacts.sync_started", account=name)
            except HubError as exc:
                log.warning("contacts.sync_not_started", reason=exc.message)
            except Exception:    # a broken account must not stop the hub: next tick
                log.exception("contacts.schedule_failed")
            await asyncio.sleep(tick_seconds)

    async def stop(self) -> None:
        """Stop the schedule; a running sync stops after its current page (its job ends
        interrupted, its cursor kept for the next run)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        self._stop.set()
        await self.wait()
