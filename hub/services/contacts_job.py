"""A contact sync as a background job (:mod:`hub.services.jobs`, kind ``contacts-sync``):
the job row carries its progress — relationships seen so far and a one-line message per page
("mastodon:main followers: page 3, 240 seen…") — for the CLI's progress line and the pages.

The work is :func:`hub.services.contacts.sync_account`, so a job that is interrupted (the hub
stopping, ``kill -9``) leaves the sync's cursor in place and the next sync of the account —
a re-run of the job, ``hub contacts sync``, the button or the schedule — carries on there.
The reader comes from the composition root through the job's services (``contact_reader``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.errors import InvalidInput
from hub.services.contacts import SyncProgress, sync_account
from hub.services.jobs import JobContext, JobKind, register

KIND = "contacts-sync"
register(KIND, JobKind("Sync contacts", "hub.services.contacts_job:contacts_sync_job"))


def describe(p: SyncProgress) -> str:
    """One line about a direction's progress, as the CLI prints it and the page shows it."""
    where = f"{p.account} {p.direction.value}"
    if p.error:
        return f"{where}: not synced: {p.error}"
    if p.waiting_until is not None:
        return (f"{where}: rate-limited after {p.seen} seen; waiting until "
                f"{p.waiting_until:%H:%M:%S} UTC, then going on")
    if p.paused_until is not None:
        return (f"{where}: rate-limited after {p.seen} seen; run again after "
                f"{p.paused_until:%H:%M:%S} UTC to resume")
    if p.done:
        return f"{where}: done, {p.seen} seen, {p.new} new, {p.lost} gone"
    return f"{where}: page {p.pages}, {p.seen} seen…"


def contacts_sync_job(ctx: JobContext) -> dict[str, Any]:
    """Sync one account (``params["account"]``); ``done`` counts relationships seen."""
    account = str(ctx.params.get("account") or "")
    make_reader = ctx.services.get("contact_reader")
    if not account or make_reader is None:
        raise InvalidInput("a contact sync job needs an account", field="account")
    before: dict[str, int] = {}

    def report(p: SyncProgress) -> None:
        before[p.direction.value] = p.seen
        ctx.progress.set(sum(before.values()), message=describe(p), force=True)

    async def run() -> list[SyncProgress]:
        reader = make_reader(account)
        try:
            return await sync_account(ctx.hub, account, reader, progress=report)
        finally:
            await reader.aclose()

    results = asyncio.run(run())
    ctx.progress.set(sum(r.seen for r in results), force=True,
                     message=f"{account}: " + ", ".join(
                         f"{r.direction.value} {'done' if r.done else 'not finished'}"
                         for r in results))
    return {"account": account, "directions": [
        {"direction": r.direction.value, "seen": r.seen, "new": r.new, "lost": r.lost,
         "done": r.done, "error": r.error,
         "paused_until": r.paused_until.isoformat() if r.paused_until else None}
        for r in results]}
