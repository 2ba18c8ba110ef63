"""Audiences that grow: a followers-only post is recorded as a lower bound, because whoever
follows the account later can read it too. This re-reads an account's followers (through the
contacts sync and its ``ContactReader`` port, read-only, rate-limit aware: a 429 pauses the
sync and the next run resumes it) and appends ``AudienceGrew`` events naming who newly could
see which of its followers-reach deliveries, from when. The index gets one ``grew`` row per
(delivery, new member), so the per-person answer says "could see since DATE (followed you
later)" and the per-post answer shows the growth over time. Nothing earlier is changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select as sa_select
from sqlmodel import col

from hub.audit.log import SnapshotMember
from hub.domain.events import AudienceGrew
from hub.ports import ContactDirection, ContactReader
from hub.runtime import Hub
from hub.services.contacts import sync_account
from hub.store.contact_tables import held, holds
from hub.store.tables import DeliveryRow, IdentityRow, VisibilityRow

log = structlog.get_logger("hub.audit")
_V = VisibilityRow.__table__  # type: ignore[attr-defined]
GROWING_REACHES = ("followers",)


@dataclass(frozen=True)
class Growth:
    """One account's run: events appended, (delivery, new member) pairs, a paused sync."""

    account: str
    events: int = 0
    pairs: int = 0
    paused: bool = False


def growing_accounts(hub: Hub) -> list[str]:
    """Accounts with published deliveries whose reach grows (followers)."""
    with hub.db.read() as s:
        return sorted({str(a) for a in s.connection().execute(
            sa_select(col(DeliveryRow.account)).where(
                col(DeliveryRow.reach).in_(GROWING_REACHES),
                col(DeliveryRow.status) == "published").distinct()).scalars()})


async def follow_growth(hub: Hub, account: str, reader: ContactReader) -> Growth:
    """Re-read ``account``'s followers, then record who newly could see its posts."""
    states = await sync_account(hub, account, reader, directions=[ContactDirection.FOLLOWERS])
    if any(st.paused_until is not None or st.error for st in states):
        return Growth(account, paused=True)   # partial list: record nothing until complete
    return await asyncio.to_thread(record_growth, hub, account)


def record_growth(hub: Hub, account: str) -> Growth:
    """Compare the account's current followers with who each of its followers-reach
    deliveries already names, and append one ``AudienceGrew`` per group of deliveries that
    gained the same people."""
    now = hub.now()
    with hub.db.transaction() as s:
        conn = s.connection()
        i, h = IdentityRow, held()   # who holds each follower (its DID, or its handle)
        holders: dict[str, set[str]] = {}
        for address, person in conn.execute(
                sa_select(h.c.address, col(i.person_id)).select_from(h)
                .outerjoin(i, holds(h, col(i.kind), col(i.value)))
                .where(h.c.account == account, h.c.follows_me.is_(True))):
            found = holders.setdefault(str(address), set())
            if person:
                found.add(str(person))
        wanted = {}
        for address, people in sorted(holders.items()):
            for p in sorted(people):
                wanted[p] = SnapshotMember(p, address)
            if not people:
                wanted[f"identity:{address}"] = SnapshotMember(None, address)
        deliveries: dict[str, dict[str, Any]] = {}
        for r in conn.execute(sa_select(_V.c.delivery_id, _V.c.post_id, _V.c.target,
                                        _V.c.reach, _V.c.url, _V.c.member)
                              .where(_V.c.account == account,
                                     _V.c.reach.in_(GROWING_REACHES))):
            d = deliveries.setdefault(r.delivery_id, {
                "delivery_id": r.delivery_id, "post_id": r.post_id, "target": r.target,
                "reach": r.reach, "url": r.url, "members": set()})
            d["members"].add(r.member)
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for d in deliveries.values():
            new = frozenset(set(wanted) - d.pop("members"))
            if new:
                groups.setdefault(new, []).append(d)
        pairs = 0
        for new, ds in groups.items():
            digest = hub.audit.snapshot(s, reach="followers", members=[wanted[m] for m in new],
                                        lower_bound=True, extra={"grew": account}, now=now)
            ds.sort(key=lambda d: str(d["delivery_id"]))
            hub.audit.append(s, AudienceGrew(actor="hub", subject=digest, account=account,
                                             added=len(new), deliveries=ds), now=now)
            pairs += len(new) * len(ds)
    return Growth(account, len(groups), pairs)


class GrowthSchedule:
    """``hub serve``'s background task: every ``audit_growth_seconds`` (default daily) it
    follows the growth of each account with followers-reach deliveries. A failing account is
    logged and tried again next time; it never stops the hub."""

    def __init__(self, hub: Hub, readers: Callable[[str], ContactReader]) -> None:
        self.hub = hub
        self.readers = readers
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None and self.hub.settings.audit_growth_seconds > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self, accounts: Sequence[str] | None = None) -> list[Growth]:
        done = []
        chosen = list(accounts) if accounts is not None else await asyncio.to_thread(
            growing_accounts, self.hub)
        for account in chosen:
            try:
                reader = await asyncio.to_thread(self.readers, account)
                try:
                    done.append(await follow_growth(self.hub, account, reader))
                finally:
                    await reader.aclose()
            except Exception as exc:  # noqa: BLE001 - one account down must not stop the rest
                log.warning("audit.growth_failed", account=account, error=type(exc).__name__,
                            detail=str(exc))
        return done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.hub.settings.audit_growth_seconds)
            for g in await self.run_once():
                log.info("audit.audience_grew", account=g.account, events=g.events,
                         pairs=g.pairs, paused=g.paused)
