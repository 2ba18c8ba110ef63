"""Editing a post after it was submitted: preview, confirm, then each copy changed the way its
network allows (``hub.services.edit_copies``). Scheduled and held copies simply go out with the
new version; a copy the policy now denies is retracted; a copy newly held keeps its old version
until approved. Micropub's ``action=update`` and the web, API and CLI all call ``edit_post``.

Confirming records the edit (the new version and one ``copy_edit`` row per copy to change) in
one transaction and wakes the workers: like publishing, the copies change in the outbox's
workers, durably (a hub killed mid-edit resumes it when its lease runs out), retried with
backoff, exactly once on the network. The answer says what will happen to each copy;
``copy_versions`` shows how far they got.

Usage: ``plan = plan_edit(hub, post_id, change, author)`` shows what would happen (nothing is
written); ``await edit_post(hub, post_id, change, author, confirm=plan.digest)`` records it, or
raises ``Conflict`` when the plan changed in between.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from hub.domain.delivery import (
    NETWORK_EDITS,
    UNFINISHED_EDIT,
    CopyEditStatus,
    DeliveryStatus,
    EditAction,
)
from hub.domain.edit_events import CopyEdited, CopyEditHeld, CopyNotChanged, PostEdited
from hub.domain.events import DeliveryApproved, DeliveryDenied, RouteDecided
from hub.domain.model import Post
from hub.errors import Conflict, InvalidInput
from hub.ids import new_delivery_key, new_id
from hub.runtime import Hub
from hub.services.drafts import Author
from hub.services.edit_copies import run_copy_edits
from hub.services.edit_plan import (
    CopyPlan,
    EditInput,
    EditPlan,
    check_author,
    current_version,
    load_post,
    plan_edit,
)
from hub.services.edit_versions import CARRYING, SAME, text_sha256
from hub.services.notices import notify, waiting_edit
from hub.store.edit_tables import CopyEditRow, PostVersionRow
from hub.store.repos import _variants_json, due, post_from_row
from hub.store.tables import DecisionRow, DeliveryRow, PostRow

__all__ = ["EditInput", "EditPlan", "approve_edits", "copies_by_delivery", "copy_versions",
           "edit_post", "plan_edit"]

@dataclass(frozen=True)
class EditResult:
    """The confirmed plan (what will happen to each copy) and, per copy, where it stands."""

    plan: EditPlan
    copies: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        queued = [c for c in self.copies if (c["edit"] or {}).get("status") in (
            CopyEditStatus.PENDING, CopyEditStatus.IN_FLIGHT)]
        return {**self.plan.as_json(), "applied": True, "copies": self.copies,
                "in_progress": [c["target"] for c in queued]}


async def edit_post(hub: Hub, post_id: str, change: EditInput, author: Author, *,
                    confirm: str, run: bool = False) -> EditResult:
    """Record the edit previewed as ``confirm`` (its ``EditPlan.digest``) and wake the
    workers, which change every copy once. ``run=True`` also runs the copy edits here before
    answering (tests, tools). ``Conflict`` if the preview is stale; nothing is written then."""
    plan = await asyncio.to_thread(plan_edit, hub, post_id, change, author)
    if confirm != plan.digest:
        raise Conflict("what this edit would do changed since its preview (or the preview was "
                       "not confirmed): preview it again and confirm the new answer")
    await asyncio.to_thread(_write, hub, plan, author.name)
    await asyncio.to_thread(notify, hub, waiting_edit(plan, author.name))   # held copies
    if run:
        await run_copy_edits(hub, post_id)
    return EditResult(plan, await asyncio.to_thread(copy_versions, hub, post_id))


def _write(hub: Hub, plan: EditPlan, actor: str) -> None:
    now = hub.now()
    woken: list[str] = []
    edits: list[str] = []
    with hub.db.transaction() as s:
        row = load_post(s, plan.post.id)
        if current_version(s, row.id) + 1 != plan.version:
            raise Conflict(f"post {row.id} was edited meanwhile; preview the edit again")
        if s.get(PostVersionRow, (row.id, 1)) is None:
            s.add(_version_row(row.id, 1, post_from_row(row), row.author, row.created))
        s.add(_version_row(row.id, plan.version, plan.post, actor, now))
        _update_post(row, plan.post)
        s.add(row)
        for d in plan.decisions:
            s.add(DecisionRow(post_id=row.id, target=d.target.name, account=d.target.account,
                              reach=d.target.reach.value, outcome=d.outcome.value,
                              rule_ids=list(d.rule_ids), reasons=list(d.reasons),
                              audiences=list(d.audiences), policy_digest=plan.policy_digest,
                              phase="edit", created=now))
        hub.audit.append(s, PostEdited(
            actor=actor, post_id=row.id, policy_digest=plan.policy_digest,
            version=plan.version, old_text_sha256=plan.old_text_sha256,
            new_text_sha256=text_sha256(plan.post.text), changed=list(plan.changed),
            schedule_at=plan.post.schedule_at.isoformat() if plan.post.schedule_at else None,
            variant_sha256={v.key: text_sha256(v.text) for v in plan.post.variants}),
            now=now)
        hub.audit.append(s, RouteDecided(
            actor=actor, post_id=row.id, policy_digest=plan.policy_digest, phase="edit",
            decisions=[{"target": d.target.name, "outcome": d.outcome.value,
                        "rule_ids": list(d.rule_ids)} for d in plan.decisions]), now=now)
        for older in s.exec(select(CopyEditRow).where(
                CopyEditRow.post_id == row.id,
                col(CopyEditRow.status).in_([x.value for x in UNFINISHED_EDIT]))):
            older.status, older.updated = CopyEditStatus.SUPERSEDED.value, now
            older.reason = f"superseded by version {plan.version}"
            s.add(older)
        for copy in plan.copies:
            woken_delivery, edit_id = _copy(hub, s, plan, copy, actor, now)
            woken += [woken_delivery] if woken_delivery else []
            edits += [edit_id] if edit_id else []
    hub.wake(woken)
    hub.wake_edits(edits)


_KEYED = {EditAction.REPLACE, EditAction.CORRECT, EditAction.HOLD}
"""Actions whose new copy (or correction) gets a delivery key when the edit is confirmed."""


def _copy(hub: Hub, s: Session, plan: EditPlan, copy: CopyPlan, actor: str, now: datetime
          ) -> tuple[str | None, str | None]:
    """Record what the edit does to one copy: (a delivery to wake, a copy edit to run)."""
    d = s.get(DeliveryRow, copy.delivery_id)
    assert d is not None
    if d.status != copy.status:
        raise Conflict(f"{copy.target} changed from {copy.status} to {d.status} since the "
                       "preview; preview the edit again")
    action = EditAction(copy.action)
    if action is EditAction.NONE and copy.same:
        # recorded (done): the copy carries the new version as it is, nothing is sent
        s.add(CopyEditRow(
            id=new_id("e"), post_id=d.post_id, delivery_id=d.id, version=plan.version,
            target=d.target, action=SAME, status=CopyEditStatus.DONE.value, reason=copy.says,
            rule_ids=[], created=now, updated=now))
        return None, None
    if action is EditAction.NONE:
        return None, None
    status = CopyEditStatus.PENDING if action in NETWORK_EDITS else \
        CopyEditStatus.HELD if action is EditAction.HOLD else CopyEditStatus.DONE
    edit_id = new_id("e")
    s.add(CopyEditRow(
        id=edit_id, post_id=d.post_id, delivery_id=d.id, version=plan.version,
        target=d.target, action=action.value, status=status.value,
        key=new_delivery_key(now) if action in _KEYED else None,
        reason=copy.says, rule_ids=list(copy.rule_ids), created=now, updated=now))
    digest = plan.policy_digest
    if action is EditAction.UPDATE and d.status == DeliveryStatus.PENDING:
        d.due_at, d.updated = due(plan.post, now), now
        s.add(d)
        return d.id, None
    if status is CopyEditStatus.PENDING:
        return None, edit_id
    if action is EditAction.CANCEL:
        reason = "stopped by the policy after an edit: " + "; ".join(copy.reasons or (
            copy.says,))
        d.status, d.last_error, d.updated, d.finished = (DeliveryStatus.CANCELLED.value, reason,
                                                         now, now)
        s.add(d)
        hub.audit.append(s, DeliveryDenied(
            actor="policy", post_id=d.post_id, delivery_id=d.id, policy_digest=digest,
            target=d.target, rule_ids=list(copy.rule_ids), reasons=list(copy.reasons)), now=now)
    elif action in (EditAction.WAIT, EditAction.HOLD):
        if action is EditAction.WAIT:
            d.status, d.updated = DeliveryStatus.HELD.value, now
            s.add(d)
        hub.audit.append(s, CopyEditHeld(
            actor="policy", post_id=d.post_id, delivery_id=d.id, policy_digest=digest,
            target=d.target, version=plan.version, rule_ids=list(copy.rule_ids)), now=now)
    elif action is EditAction.IN_PLACE:
        hub.audit.append(s, CopyEdited(
            actor=actor, post_id=d.post_id, delivery_id=d.id, policy_digest=digest,
            target=d.target, version=plan.version, remote_id=d.remote_id, way="in-place",
            text_sha256=text_sha256(copy.text), variant=copy.variant), now=now)
    elif action is EditAction.UNCHANGED:
        hub.audit.append(s, CopyNotChanged(
            actor=actor, post_id=d.post_id, delivery_id=d.id, policy_digest=digest,
            target=d.target, version=plan.version, reason=copy.says), now=now)
    return None, None


async def approve_edits(hub: Hub, post_id: str, *, approver: str = "owner",
                        author: Author | None = None, run: bool = False
                        ) -> list[dict[str, Any]]:
    """Release the held edits of a post to the workers: each copy then gets the edit
    (re-checked against the policy as it goes: a copy denied by then is retracted instead).
    ``run=True`` runs them here before answering."""
    released = await asyncio.to_thread(_release, hub, post_id, approver, author or Author())
    hub.wake_edits(released)
    if run:
        await run_copy_edits(hub, post_id)
    return await asyncio.to_thread(copy_versions, hub, post_id)


def _release(hub: Hub, post_id: str, approver: str, author: Author) -> list[str]:
    now = hub.now()
    with hub.db.transaction() as s:
        row = load_post(s, post_id)
        check_author(row, author)
        held = list(s.exec(select(CopyEditRow).where(CopyEditRow.post_id == post_id,
                                                      CopyEditRow.status ==
                                                      CopyEditStatus.HELD)))
        if not held:
            raise InvalidInput(f"post {post_id} has no edit awaiting approval")
        for e in held:
            e.status, e.action, e.updated = (CopyEditStatus.PENDING.value,
                                             EditAction.APPROVED.value, now)
            s.add(e)
            hub.audit.append(s, DeliveryApproved(
                actor=approver, post_id=post_id, delivery_id=e.delivery_id,
                policy_digest=hub.policies.current.digest, target=e.target), now=now)
        return [e.id for e in held]


def copy_versions(hub: Hub, post_id: str) -> list[dict[str, Any]]:
    """Per delivery: the version its copy carries, and the newest edit's state (pending, held,
    failed with its reason) — which copies carry which version, which could not be changed."""
    with hub.db.read() as s:
        latest = current_version(s, post_id)
        rows = list(s.exec(select(CopyEditRow).where(CopyEditRow.post_id == post_id)
                           .order_by(col(CopyEditRow.version))))
        out = []
        for d in s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id)
                        .order_by(col(DeliveryRow.created), col(DeliveryRow.target))):
            mine = [e for e in rows if e.delivery_id == d.id]
            carried = max((e.version for e in mine if e.status == CopyEditStatus.DONE
                           and (e.action in CARRYING or e.action == SAME)), default=1)
            last = mine[-1] if mine else None
            out.append({
                "delivery_id": d.id, "target": d.target, "status": d.status,
                "carries_version": carried, "latest_version": latest,
                "remote_id": d.remote_id, "url": d.remote_url,
                "edit": None if last is None else {
                    "version": last.version, "action": last.action, "status": last.status,
                    "reason": last.reason or None}})
        return out


def copies_by_delivery(hub: Hub, post_id: str) -> dict[str, dict[str, Any]]:
    """``copy_versions`` keyed by delivery id (for the post page)."""
    return {c["delivery_id"]: c for c in copy_versions(hub, post_id)}


def _version_row(post_id: str, version: int, post: Post, actor: str, when: datetime
                 ) -> PostVersionRow:
    return PostVersionRow(
        post_id=post_id, version=version, text=post.text, content_warning=post.content_warning,
        language=post.language, tags=list(post.tags),
        media=[{"sha256": m.sha256, "mime_type": m.mime_type, "alt": m.alt, "size": m.size}
               for m in post.media],
        text_sha256=text_sha256(post.text), variants=_variants_json(post), actor=actor,
        created=when)


def _update_post(row: PostRow, post: Post) -> None:
    row.text, row.tags = post.text, list(post.tags)
    row.content_warning, row.language, row.schedule_at = (post.content_warning, post.language,
                                                          post.schedule_at)
    row.media = [{"sha256": m.sha256, "mime_type": m.mime_type, "alt": m.alt, "size": m.size}
                 for m in post.media]
    row.variants = _variants_json(post)
