"""Changing the copies of an edited post on the networks, each exactly once.

A ``copy_edit`` row is claimed with a lease (two runs never work on one copy at once), then
its action runs against the network with durable steps: a *native* edit checkpoints each
status; a *replacement* publishes the new version under the key chosen at confirmation (so a
repeat finds it instead of writing again) before deleting the old copy; a *correction* is sent
under its own key; a *retraction* deletes the copy. The steps of each new copy live under a
``v<version>:`` prefix of the delivery's steps, beside the original publish's.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from hub.domain.delivery import CopyEditStatus, DeliveryStatus, EditAction
from hub.domain.edit_events import (
    CopyCorrected,
    CopyEdited,
    CopyEditHeld,
    CopyNotChanged,
    CopyReplaced,
    CopyRetracted,
)
from hub.domain.model import Outcome, PeopleSnapshot, Post, Target
from hub.errors import (
    AccountNotConnected,
    ContentRejected,
    HubError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.policy.engine import route
from hub.ports import Corrector, Editor, EditWay, Receipt, Steps
from hub.runtime import Hub
from hub.services.delivery import backoff, policy_in_force
from hub.services.edit_versions import copy_target, sent_text, text_sha256, version_post
from hub.services.notices import Waiting, notify
from hub.store.deliveries import DbSteps
from hub.store.edit_tables import CopyEditRow, PostVersionRow
from hub.store.repos import post_from_row
from hub.store.tables import DeliveryRow, PostRow, SnapshotMemberRow

log = structlog.get_logger("hub.edits")
_CANNOT_RECALL = {EditWay.NONE, EditWay.CORRECT}


class PrefixedSteps:
    """``hub.ports.Steps`` of one delivery under a name prefix (one namespace per copy)."""

    def __init__(self, steps: Steps, prefix: str) -> None:
        self._steps, self._prefix = steps, prefix

    async def get(self, name: str) -> str | None:
        return await self._steps.get(self._prefix + name)

    async def record(self, name: str, value: str) -> None:
        await self._steps.record(self._prefix + name, value)


async def run_copy_edits(hub: Hub, post_id: str) -> None:
    """Run every pending copy edit of the post (also ones whose lease ran out), here and now
    (tests and tools; the hub's workers run them through ``run_copy_edit``)."""
    for edit_id in await asyncio.to_thread(_due, hub, post_id):
        await run_copy_edit(hub, edit_id)


async def run_copy_edit(hub: Hub, edit_id: str) -> bool:
    """The workers' job for one copy edit: claim it (False if it is not due or another
    worker holds it) and run it once."""
    lease = await asyncio.to_thread(claim, hub, edit_id)
    if lease is None:
        return False
    await _run_one(hub, edit_id, lease)
    return True


async def resume_due_edits(hub: Hub) -> int:
    """Run, here, copy edits whose retry is due (a transient failure backs off like a
    delivery) or whose run died (its lease ran out). Returns how many ran."""
    ran = 0
    for edit_id in await asyncio.to_thread(due_edits, hub):
        ran += await run_copy_edit(hub, edit_id)
    return ran


def _claimable(now: Any) -> Any:
    return or_(col(CopyEditRow.status) == CopyEditStatus.PENDING,
               and_(col(CopyEditRow.status) == CopyEditStatus.IN_FLIGHT,
                    col(CopyEditRow.lease_until) < now))


def due_edits(hub: Hub, limit: int = 50) -> list[str]:
    """The sweepers' question: copy edits to run now (pending past their backoff, or in
    flight under a lease that ran out: their worker died)."""
    now = hub.now()
    with hub.db.read() as s:
        rows = s.exec(select(CopyEditRow).where(_claimable(now))
                      .order_by(col(CopyEditRow.updated)).limit(limit))
        return [e.id for e in rows if e.status == CopyEditStatus.IN_FLIGHT or
                e.updated + timedelta(seconds=backoff(max(e.attempts, 1))) <= now]


def _due(hub: Hub, post_id: str) -> list[str]:
    now = hub.now()
    with hub.db.read() as s:
        return list(s.exec(select(CopyEditRow.id).where(
            CopyEditRow.post_id == post_id, _claimable(now))
            .order_by(col(CopyEditRow.created))))


def claim(hub: Hub, edit_id: str) -> int | None:
    """Take the lease on a pending copy edit (or one whose lease ran out) for
    ``lease_seconds``, as a worker takes a delivery: the lease's number (the attempt count it
    set), which every write of this run compares (:func:`_held`), or None if not claimable."""
    now = hub.now()
    with hub.db.transaction() as s:
        attempts = s.execute(update(CopyEditRow).where(
            col(CopyEditRow.id) == edit_id, _claimable(now))
            .values(status=CopyEditStatus.IN_FLIGHT.value,
                    lease_until=now + timedelta(seconds=hub.settings.lease_seconds),
                    updated=now, attempts=CopyEditRow.attempts + 1)
            .returning(col(CopyEditRow.attempts)),
            execution_options={"synchronize_session": False}).scalar()
        return None if attempts is None else int(attempts)


def _held(s: Session, job: _Job) -> CopyEditRow | None:
    """The copy edit, locked, if this run still holds its lease; else None: the lease ran
    out and another run took the edit over (and writes its outcome), so this one writes
    nothing."""
    edit = s.get(CopyEditRow, job.edit.id, with_for_update=True)
    if edit is None or edit.status != CopyEditStatus.IN_FLIGHT.value \
            or edit.attempts != job.lease:
        log.info("edit.lease_lost", edit_id=job.edit.id, lease=job.lease)
        return None
    return edit


class _Job:
    """What one copy edit needs, read in one transaction."""

    def __init__(self, edit: CopyEditRow, delivery: DeliveryRow, post: Post,
                 target: Target | None, outcome: Outcome, reasons: tuple[str, ...],
                 people: PeopleSnapshot, way: EditWay, members: set[str],
                 rule_ids: tuple[str, ...] = (), audiences: tuple[str, ...] = ()) -> None:
        self.edit, self.delivery, self.post, self.target = edit, delivery, post, target
        self.outcome, self.reasons, self.people, self.way = outcome, reasons, people, way
        self.members = members
        self.rule_ids, self.audiences = rule_ids, audiences
        self.lease = edit.attempts      # the lease this run holds (set by run_copy_edit)
        self.action = EditAction(edit.action)   # what runs (an approved hold: the network's way)
        # the post as this copy gets it (its variant, else the main text): what the policy
        # judged for it, what the network renders, what the audit's digest is of
        chosen = target or copy_target(delivery)
        self.sent = post.as_sent_to(chosen)
        self.text, self.variant = sent_text(post, chosen)
        receipt = delivery.receipt or {}
        self.prefix = str(receipt.get("steps_prefix") or "")
        self.receipt = Receipt(remote_id=delivery.remote_id or "", url=delivery.remote_url,
                               details=dict(receipt.get("details") or {}))


class _PolicyNotHere(Exception):
    """The policy the database says is in force cannot be loaded from this process's files
    yet (not synced, or caught half-written): nothing may be changed on a network then."""


def _load(hub: Hub, edit_id: str) -> _Job:
    now = hub.now()
    with hub.db.read() as s:
        # the policy in force, as deliveries judge (a worker follows a reload it has not
        # been told about), not only what this process loaded last
        policy = policy_in_force(hub, s, hub.policies.current)
        if policy is None:
            raise _PolicyNotHere
        edit = s.get(CopyEditRow, edit_id)
        assert edit is not None
        d = s.get(DeliveryRow, edit.delivery_id)
        row = s.get(PostRow, edit.post_id)
        version = s.get(PostVersionRow, (edit.post_id, edit.version))
        assert d is not None and row is not None and version is not None
        post = version_post(post_from_row(row), version)
        people = policy.with_lists(hub.people.snapshot(s))
        snapshot = (d.receipt or {}).get("snapshot")
        members = {m.identity.casefold() for m in s.exec(select(SnapshotMemberRow).where(
            SnapshotMemberRow.snapshot_hash == snapshot))} if snapshot else set()
    # The policy judges again as each copy changes (a rule added since the preview applies).
    decision = next((x for x in route(post, policy, people, now, recheck=True).decisions
                     if x.target.name == d.target and x.target.account == d.account), None)
    target = decision.target if decision is not None else None
    spec = hub.policies.specs[d.platform]
    way = spec.edit_way(spec.options.model_validate(dict(target.options))) \
        if target is not None else EditWay.REPLACE
    outcome = decision.outcome if decision is not None else Outcome.DENY
    reasons = decision.reasons if decision is not None else ("target removed from the policy",)
    rule_ids = decision.rule_ids if decision is not None else ("target-removed",)
    return _Job(edit, d, post, target, outcome, reasons, people, way, members, rule_ids,
                tuple(post.audiences))


_APPROVED_WAY = {EditWay.NATIVE: EditAction.EDIT, EditWay.REPLACE: EditAction.REPLACE,
                 EditWay.CORRECT: EditAction.CORRECT, EditWay.IN_PLACE: EditAction.IN_PLACE}


def _action(job: _Job) -> EditAction:
    """What runs: a copy denied by now is retracted; an approved hold goes the network's
    way (or settles: in place for a feed, unchanged where nothing can change)."""
    if job.outcome is Outcome.DENY:
        return EditAction.RETRACT
    if job.outcome is Outcome.HOLD and job.action is not EditAction.APPROVED:
        return EditAction.HOLD     # held by now (a rule or the people changed since)
    if job.action is EditAction.APPROVED:
        return _APPROVED_WAY.get(job.way, EditAction.UNCHANGED)
    return job.action


async def _run_one(hub: Hub, edit_id: str, lease: int) -> None:
    try:
        job = await asyncio.to_thread(_load, hub, edit_id)
    except _PolicyNotHere:
        await asyncio.to_thread(_unclaim, hub, edit_id, lease)
        return
    job.lease = lease
    action = job.action = _action(job)
    steps = DbSteps(hub.db, job.delivery.id, hub.now)
    try:
        if action is EditAction.RETRACT:
            await _retract(hub, job, steps)
        elif action is EditAction.HOLD:
            if await asyncio.to_thread(_hold, hub, job):
                await asyncio.to_thread(notify, hub, Waiting(
                    job.delivery.post_id, job.audiences, "owner", (job.delivery.target,),
                    job.rule_ids, job.edit.version))
        elif action in (EditAction.IN_PLACE, EditAction.UNCHANGED):
            await asyncio.to_thread(_settle, hub, job)
        else:
            assert job.target is not None
            publisher = hub.publishers.get(job.delivery.account)
            draft = publisher.prepare(job.sent, job.target, job.people)
            if action is EditAction.EDIT:
                if not isinstance(publisher, Editor):
                    raise PermanentDeliveryError(f"{job.delivery.platform} cannot edit a copy")
                new = await publisher.edit(job.receipt, draft,
                                           steps=PrefixedSteps(steps, job.prefix))
                await asyncio.to_thread(_edited, hub, job, new)
            elif action is EditAction.REPLACE:
                await _replace(hub, job, publisher.publish, publisher.delete, draft, steps)
            elif action is EditAction.CORRECT:
                if not isinstance(publisher, Corrector):
                    raise PermanentDeliveryError(f"{job.delivery.platform} sends no corrections")
                note = publisher.correction(draft, original=job.receipt)
                note = replace(note, recipients=tuple(
                    r for r in note.recipients if r.address.casefold() in job.members))
                assert job.edit.key is not None
                sent = await publisher.publish(note, key=job.edit.key, steps=PrefixedSteps(
                    steps, f"v{job.edit.version}:correction:"))
                await asyncio.to_thread(_corrected, hub, job, sent, len(note.recipients))
    except TransientDeliveryError as exc:
        await asyncio.to_thread(_later, hub, job, exc.message)
    except (PermanentDeliveryError, ContentRejected, AccountNotConnected) as exc:
        await asyncio.to_thread(_failed, hub, job, exc.message)
    except HubError as exc:
        await asyncio.to_thread(_failed, hub, job, exc.message)


async def _retract(hub: Hub, job: _Job, steps: Steps) -> None:
    if job.way in _CANNOT_RECALL:
        await asyncio.to_thread(_retracted, hub, job, False,
                                "sent email cannot be recalled: it stays in the inboxes")
        return
    publisher = hub.publishers.get(job.delivery.account)
    await publisher.delete(job.receipt, steps=PrefixedSteps(steps, job.prefix))
    await asyncio.to_thread(_retracted, hub, job, True, "")


async def _replace(hub: Hub, job: _Job, publish: Any, delete: Any, draft: Any,
                   steps: Steps) -> None:
    """New copy first (under the key chosen at confirmation), then the old one goes: a
    failure in between leaves the old copy live, never none."""
    assert job.edit.key is not None
    prefix = f"v{job.edit.version}:"
    raw = job.edit.new_receipt
    if raw is None:
        new: Receipt = await publish(draft, key=job.edit.key,
                                     steps=PrefixedSteps(steps, prefix))
        raw = {"remote_id": new.remote_id, "url": new.url, "details": dict(new.details)}
        if not await asyncio.to_thread(_keep_receipt, hub, job, raw):
            return      # another run holds the edit now: it deletes the old copy, not us
    await delete(job.receipt, steps=PrefixedSteps(steps, job.prefix))
    await asyncio.to_thread(_replaced, hub, job, raw, prefix)


def _keep_receipt(hub: Hub, job: _Job, raw: dict[str, Any]) -> bool:
    with hub.db.transaction() as s:
        edit = _held(s, job)
        if edit is None:
            return False
        edit.new_receipt = raw
        s.add(edit)
        return True


def _close(hub: Hub, job: _Job, status: CopyEditStatus, reason: str, *,
           receipt: dict[str, Any] | None = None,
           delivery_status: DeliveryStatus | None = None, event: Any = None) -> bool:
    """Record the run's outcome (False, writing nothing, if this run lost its lease)."""
    now = hub.now()
    with hub.db.transaction() as s:
        edit = _held(s, job)
        if edit is None:
            return False    # lost lease: the run that took over records the outcome
        d = s.get(DeliveryRow, job.delivery.id)
        assert d is not None
        edit.status, edit.reason, edit.updated, edit.lease_until = status.value, reason, now, None
        edit.action = job.action.value
        s.add(edit)
        if receipt is not None or delivery_status is not None:
            if receipt is not None:
                d.remote_id = str(receipt["remote_id"])
                d.remote_url = receipt.get("url")
                d.receipt = {**(d.receipt or {}), "details": receipt["details"],
                             **({"steps_prefix": receipt["steps_prefix"]}
                                if "steps_prefix" in receipt else {})}
            if delivery_status is not None:
                d.status, d.last_error = delivery_status.value, ""
            d.updated = now
            s.add(d)
        if event is not None:
            hub.audit.append(s, event, now=now)
        return True


def _common(hub: Hub, job: _Job) -> dict[str, Any]:
    return {"post_id": job.delivery.post_id, "delivery_id": job.delivery.id,
            "policy_digest": hub.policies.current.digest, "target": job.delivery.target,
            "version": job.edit.version}


def _carried(job: _Job) -> dict[str, Any]:
    """The digest of the text the copy now carries, and its variant (as the send path)."""
    return {"text_sha256": text_sha256(job.text), "variant": job.variant}


def _edited(hub: Hub, job: _Job, new: Receipt) -> None:
    _close(hub, job, CopyEditStatus.DONE, "edited in place", receipt={
        "remote_id": new.remote_id, "url": new.url, "details": dict(new.details)},
        event=CopyEdited(actor="owner", remote_id=new.remote_id, way="native",
                         **_common(hub, job), **_carried(job)))


def _replaced(hub: Hub, job: _Job, raw: dict[str, Any], prefix: str) -> None:
    _close(hub, job, CopyEditStatus.DONE, "replaced by a new copy",
           receipt={**raw, "steps_prefix": prefix},
           event=CopyReplaced(actor="owner", old_remote_id=job.delivery.remote_id,
                              new_remote_id=str(raw["remote_id"]), url=raw.get("url"),
                              key=job.edit.key or "", **_common(hub, job), **_carried(job)))


def _corrected(hub: Hub, job: _Job, sent: Receipt, recipients: int) -> None:
    _close(hub, job, CopyEditStatus.DONE, f"correction sent to {recipients} recipients",
           event=CopyCorrected(actor="owner", remote_id=sent.remote_id, recipients=recipients,
                               key=job.edit.key or "", **_common(hub, job), **_carried(job)))


def _retracted(hub: Hub, job: _Job, removed: bool, reason: str) -> None:
    _close(hub, job, CopyEditStatus.DONE if removed else CopyEditStatus.FAILED,
           "retracted: the policy denies the edited post here" if removed
           else f"still live: {reason}",
           delivery_status=DeliveryStatus.DELETED if removed else None,
           event=CopyRetracted(actor="policy", removed=removed,
                               remote_id=job.delivery.remote_id,
                               rule_ids=list(job.edit.rule_ids), reason=reason,
                               **_common(hub, job)))


def _hold(hub: Hub, job: _Job) -> bool:
    """The policy holds the edited post here by the time the copy edit runs: it waits for
    approval (``approve_edits``) as a hold the preview saw does; the copy stays as it was."""
    return _close(hub, job, CopyEditStatus.HELD, "waits for approval: the policy now holds "
                  "the edited post here; the copy stays as it was until then",
                  event=CopyEditHeld(actor="policy", post_id=job.delivery.post_id,
                                     delivery_id=job.delivery.id,
                                     policy_digest=hub.policies.current.digest,
                                     target=job.delivery.target, version=job.edit.version,
                                     rule_ids=list(job.rule_ids)))


def _settle(hub: Hub, job: _Job) -> None:
    """An approved edit on a copy that changes without the network (feed) or cannot change."""
    if job.way is EditWay.IN_PLACE:
        _close(hub, job, CopyEditStatus.DONE, "the entry shows the new version", event=CopyEdited(
            actor="owner", remote_id=job.delivery.remote_id, way="in-place",
            **_common(hub, job), **_carried(job)))
        return
    _close(hub, job, CopyEditStatus.DONE, "cannot be changed", event=CopyNotChanged(
        actor="owner", reason="this network cannot change a sent copy", **_common(hub, job)))


def _unclaim(hub: Hub, edit_id: str, lease: int) -> None:
    """Give the edit back, untried (its attempt too): the policy in force is not readable
    here yet; the sweepers offer it again after its backoff."""
    with hub.db.transaction() as s:
        edit = s.get(CopyEditRow, edit_id, with_for_update=True)
        if edit is None or edit.status != CopyEditStatus.IN_FLIGHT.value \
                or edit.attempts != lease:
            return
        edit.status, edit.lease_until = CopyEditStatus.PENDING.value, None
        edit.attempts, edit.updated = edit.attempts - 1, hub.now()
        s.add(edit)
    log.warning("edit.policy_not_loaded", edit_id=edit_id)


def _later(hub: Hub, job: _Job, reason: str) -> None:
    if job.edit.attempts + 1 >= hub.settings.max_attempts:    # this run was one more
        _failed(hub, job, f"gave up after {job.edit.attempts + 1} attempts: {reason}")
        return
    _close(hub, job, CopyEditStatus.PENDING, f"will retry: {reason}")
    log.info("edit.retry", edit_id=job.edit.id, reason=reason)


def _failed(hub: Hub, job: _Job, reason: str) -> None:
    _close(hub, job, CopyEditStatus.FAILED, f"could not be changed: {reason}", event=CopyNotChanged(
        actor="platform", reason=reason, **_common(hub, job)))
