"""Deleting a post everywhere: cancel what has not gone out, remove every published copy, and
say honestly which copies are still live (sent email cannot be recalled). Safe to run again:
a second run retries the copies the first could not remove."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlmodel import select

from hub.domain.delivery import DeliveryStatus
from hub.domain.events import DeliveryDeleted, PostDeleted
from hub.errors import HubError, NotFound
from hub.ports import Receipt
from hub.runtime import Hub
from hub.store.deliveries import DbSteps
from hub.store.tables import DeliveryRow, PostRow


@dataclass(frozen=True)
class CopyOutcome:
    target: str
    removed: bool
    reason: str = ""


def _start(hub: Hub, post_id: str, actor: str) -> list[DeliveryRow]:
    """Mark the post deleted, cancel unsent deliveries; return the published ones."""
    now = hub.now()
    with hub.db.transaction() as s:
        post = s.get(PostRow, post_id)
        if post is None:
            raise NotFound(f"no post {post_id!r}")
        rows = list(s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id)))
        if post.deleted is None:
            post.deleted = now
            s.add(post)
            hub.audit.append(s, PostDeleted(actor=actor, post_id=post_id,
                                            policy_digest=hub.policies.current.digest), now=now)
        for d in rows:
            if d.status in (DeliveryStatus.PENDING, DeliveryStatus.HELD):
                d.status, d.finished, d.updated = DeliveryStatus.CANCELLED, now, now
                d.last_error = "cancelled: the post was deleted before it was sent"
                s.add(d)
        return [d for d in rows if d.status == DeliveryStatus.PUBLISHED and d.remote_id]


def _record(hub: Hub, delivery_id: str, *, removed: bool, reason: str, actor: str) -> None:
    now = hub.now()
    with hub.db.transaction() as s:
        d = s.get(DeliveryRow, delivery_id)
        if d is None:
            return
        d.updated = now
        if removed:
            d.status, d.last_error = DeliveryStatus.DELETED, ""
            hub.audit.append(s, DeliveryDeleted(
                actor=actor, post_id=d.post_id, delivery_id=d.id, target=d.target,
                remote_id=d.remote_id, policy_digest=hub.policies.current.digest), now=now)
        else:
            d.last_error = f"still live: {reason}"
        s.add(d)


async def delete_everywhere(hub: Hub, post_id: str, *, actor: str = "owner"
                            ) -> list[CopyOutcome]:
    """Delete the post and every copy the networks allow; report each published copy."""
    published = await asyncio.to_thread(_start, hub, post_id, actor)
    outcomes = []
    for d in published:
        spec = hub.policies.specs.get(d.platform)
        if spec is not None and not spec.facts.can_recall:   # the adapter says why not
            reason = spec.facts.recall
            await asyncio.to_thread(_record, hub, d.id, removed=False, reason=reason,
                                    actor=actor)
            outcomes.append(CopyOutcome(d.target, False, reason))
            continue
        receipt = Receipt(remote_id=d.remote_id or "", url=d.remote_url,
                          details=dict((d.receipt or {}).get("details") or {}))
        try:
            publisher = hub.publishers.get(d.account)
            await publisher.delete(receipt, steps=DbSteps(hub.db, d.id, hub.now))
        except HubError as exc:
            reason = f"could not delete it ({exc.message}); try again later"
            await asyncio.to_thread(_record, hub, d.id, removed=False, reason=reason,
                                    actor=actor)
            outcomes.append(CopyOutcome(d.target, False, reason))
            continue
        await asyncio.to_thread(_record, hub, d.id, removed=True, reason="", actor=actor)
        outcomes.append(CopyOutcome(d.target, True))
    return outcomes
