"""Publishing one delivery: claim, re-check the policy, prepare, publish, record. The job code
that in-process workers and arq workers both run; safe to run more than once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import Session, col, select

from hub.audit import SnapshotMember
from hub.domain.events import (
    AccountCredentialsRejected,
    DeliveryDenied,
    DeliveryFailed,
    DeliverySucceeded,
    RouteDecided,
)
from hub.domain.model import Decision, Outcome, PeopleSnapshot, Reach
from hub.errors import (
    AccountNotConnected,
    ContentRejected,
    CredentialsRejected,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.policy.engine import route
from hub.ports import Draft, Receipt
from hub.runtime import Hub
from hub.store.repos import post_from_row
from hub.store.tables import AccountRow, DeliveryRow, DeliveryStepRow, PostRow

log = structlog.get_logger("hub.delivery")


@dataclass(frozen=True)
class Attempt:
    """What one run of :func:`deliver` did."""

    status: str          # published | retry | failed | denied | held | cancelled | skipped
    reason: str = ""
    retry_at: datetime | None = None


def backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1-based): 5 s doubling, at most 15 minutes."""
    return float(min(5 * 2 ** max(attempt - 1, 0), 900))


class DbSteps:
    """``hub.ports.Steps`` over the ``delivery_step`` table; each record commits at once."""

    def __init__(self, hub: Hub, delivery_id: str) -> None:
        self._hub = hub
        self._id = delivery_id

    async def get(self, name: str) -> str | None:
        return await asyncio.to_thread(self._get, name)

    async def record(self, name: str, value: str) -> None:
        await asyncio.to_thread(self._record, name, value)

    def _get(self, name: str) -> str | None:
        with self._hub.db.read() as s:
            row = s.get(DeliveryStepRow, (self._id, name))
            return row.value if row else None

    def _record(self, name: str, value: str) -> None:
        with self._hub.db.transaction() as s:
            row = s.get(DeliveryStepRow, (self._id, name))
            if row is None:
                s.add(DeliveryStepRow(delivery_id=self._id, name=name, value=value,
                                      created=self._hub.now()))
            else:
                row.value = value
                s.add(row)


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Due and pending, or in flight with a lease that ran out (its worker died)."""
    return or_(and_(col(DeliveryRow.status) == "pending", col(DeliveryRow.due_at) <= now),
               and_(col(DeliveryRow.status) == "in_flight", col(DeliveryRow.lease_until) < now))


def due_ids(hub: Hub, *, limit: int = 100) -> list[str]:
    """Deliveries that are due and not in flight (or whose lease ran out): the sweeper's list."""
    now = hub.now()
    with hub.db.read() as s:
        q = (select(DeliveryRow.id).where(_claimable(now))
             .order_by(col(DeliveryRow.due_at)).limit(limit))
        return list(s.exec(q))


def claim(hub: Hub, delivery_id: str, worker: str) -> bool:
    """Take the lease on a due delivery; False if it is not due or another worker holds it."""
    now = hub.now()
    lease = now + timedelta(seconds=hub.settings.lease_seconds)
    with hub.db.transaction() as s:
        result = s.execute(
            update(DeliveryRow)
            .where(col(DeliveryRow.id) == delivery_id, _claimable(now))
            .values(status="in_flight", lease_owner=worker, lease_until=lease, updated=now,
                    attempts=DeliveryRow.attempts + 1))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _mine(s: Session, delivery_id: str, worker: str) -> DeliveryRow | None:
    d = s.get(DeliveryRow, delivery_id, with_for_update=True)
    if d is None or d.status != "in_flight" or d.lease_owner != worker:
        return None   # our lease ran out and another worker took over: it records the outcome
    return d


async def deliver(hub: Hub, delivery_id: str, *, worker: str) -> Attempt:
    """Publish one delivery if it is due and unclaimed. Returns what happened."""
    if not await asyncio.to_thread(claim, hub, delivery_id, worker):
        return Attempt("skipped", "not due, already done, or claimed by another worker")
    bound = log.bind(delivery_id=delivery_id, worker=worker)
    started = hub.now()
    try:
        attempt = await _attempt(hub, delivery_id, worker)
    except Exception as exc:  # a bug or an unexpected library error: retry, then give up
        bound.exception("delivery.crashed")
        attempt = await asyncio.to_thread(
            _transient, hub, delivery_id, worker,
            f"internal error ({type(exc).__name__}); retrying", None)
    bound.info("delivery.attempt", outcome=attempt.status, reason=attempt.reason or None,
               duration_ms=round((hub.now() - started).total_seconds() * 1000))
    return attempt


async def _attempt(hub: Hub, delivery_id: str, worker: str) -> Attempt:
    check = await asyncio.to_thread(_recheck, hub, delivery_id, worker)
    if isinstance(check, Attempt):
        return check
    decision, people, post_row, delivery = check
    post = post_from_row(post_row)
    try:
        publisher = hub.publishers.get(delivery.account)
        draft = publisher.prepare(post, decision.target, people)
        receipt = await publisher.publish(draft, key=delivery.key,
                                          steps=DbSteps(hub, delivery_id))
    except TransientDeliveryError as exc:
        return await asyncio.to_thread(_transient, hub, delivery_id, worker, exc.message,
                                       exc.retry_after)
    except (PermanentDeliveryError, ContentRejected, AccountNotConnected) as exc:
        if isinstance(exc, CredentialsRejected):
            await hub.publishers.forget(delivery.account)
        return await asyncio.to_thread(_fail, hub, delivery_id, worker, exc)
    return await asyncio.to_thread(_succeed, hub, delivery_id, worker, decision, people,
                                   draft, receipt)


def _recheck(hub: Hub, delivery_id: str, worker: str
             ) -> Attempt | tuple[Decision, PeopleSnapshot, PostRow, DeliveryRow]:
    """Evaluate the policy again right before publishing (rules added since still apply)."""
    now = hub.now()
    policy = hub.policies.current
    with hub.db.transaction() as s:
        d = _mine(s, delivery_id, worker)
        if d is None:
            return Attempt("skipped", "lease lost")
        post_row = s.get(PostRow, d.post_id)
        assert post_row is not None
        if post_row.deleted is not None:   # deleted while this delivery waited or was claimed
            _finish(d, "cancelled", "cancelled: the post was deleted before it was sent", now)
            s.add(d)
            return Attempt("cancelled", d.last_error)
        people = hub.people.snapshot(s)
        routing = route(post_from_row(post_row), policy, people, now, recheck=True)
        decision = next((x for x in routing.decisions if x.target.name == d.target), None)
        if decision is None or decision.target.account != d.account:
            rule, why = ("target-removed", f"target {d.target!r} is no longer in the policy") \
                if decision is None else \
                ("target-changed", f"target {d.target!r} now points at another account")
            return _deny(hub, s, d, (rule,), (why,), policy.digest, now)
        if decision.outcome is Outcome.DENY:
            return _deny(hub, s, d, decision.rule_ids, decision.reasons, policy.digest, now)
        if decision.outcome is Outcome.HOLD and d.approved is None:
            d.status, d.lease_owner, d.lease_until, d.updated = "held", None, None, now
            d.attempts -= 1
            s.add(d)
            hub.audit.append(s, RouteDecided(
                actor=f"worker:{worker}", post_id=d.post_id, delivery_id=d.id,
                policy_digest=policy.digest, phase="publish",
                decisions=[{"target": d.target, "outcome": "hold",
                            "rule_ids": list(decision.rule_ids)}]), now=now)
            return Attempt("held", "; ".join(decision.reasons))
        return decision, people, post_row, d


def _deny(hub: Hub, s: Session, d: DeliveryRow, rule_ids: tuple[str, ...],
          reasons: tuple[str, ...], digest: str, now: datetime) -> Attempt:
    reason = "stopped by the policy at publish time: " + "; ".join(reasons)
    _finish(d, "denied", reason, now)
    s.add(d)
    hub.audit.append(s, DeliveryDenied(
        actor="policy", post_id=d.post_id, delivery_id=d.id, policy_digest=digest,
        target=d.target, rule_ids=list(rule_ids), reasons=list(reasons)), now=now)
    return Attempt("denied", reason)


def _finish(d: DeliveryRow, status: str, reason: str, now: datetime) -> None:
    d.status, d.last_error, d.updated, d.finished = status, reason, now, now
    d.lease_owner, d.lease_until = None, None


def _transient(hub: Hub, delivery_id: str, worker: str, reason: str,
               retry_after: float | None) -> Attempt:
    now = hub.now()
    with hub.db.transaction() as s:
        d = _mine(s, delivery_id, worker)
        if d is None:
            return Attempt("skipped", "lease lost")
        if d.attempts >= hub.settings.max_attempts:
            return _fail_row(hub, s, d, f"gave up after {d.attempts} attempts: {reason}", now)
        wait = retry_after if retry_after is not None else backoff(d.attempts)
        d.status, d.last_error, d.updated = "pending", f"will retry: {reason}", now
        d.due_at = now + timedelta(seconds=max(wait, 0.0))
        d.lease_owner, d.lease_until = None, None
        s.add(d)
        return Attempt("retry", reason, d.due_at)


def _fail(hub: Hub, delivery_id: str, worker: str, exc: Exception) -> Attempt:
    now = hub.now()
    reason = getattr(exc, "message", str(exc))
    with hub.db.transaction() as s:
        d = _mine(s, delivery_id, worker)
        if d is None:
            return Attempt("skipped", "lease lost")
        if isinstance(exc, CredentialsRejected):
            account = s.get(AccountRow, d.account)
            if account is not None:
                account.status, account.status_reason, account.updated = "rejected", reason, now
                s.add(account)
                hub.audit.append(s, AccountCredentialsRejected(
                    actor="platform", subject=d.account, reason=reason), now=now)
        return _fail_row(hub, s, d, reason, now)


def _fail_row(hub: Hub, s: Session, d: DeliveryRow, reason: str, now: datetime) -> Attempt:
    _finish(d, "failed", reason, now)
    s.add(d)
    hub.audit.append(s, DeliveryFailed(
        actor="platform", post_id=d.post_id, delivery_id=d.id,
        policy_digest=hub.policies.current.digest, target=d.target, account=d.account,
        reason=reason, attempts=d.attempts), now=now)
    return Attempt("failed", reason)


def _succeed(hub: Hub, delivery_id: str, worker: str, decision: Decision,
             people: PeopleSnapshot, draft: Draft, receipt: Receipt) -> Attempt:
    now = hub.now()
    with hub.db.transaction() as s:
        d = _mine(s, delivery_id, worker)
        if d is None:
            return Attempt("skipped", "lease lost")
        members, lower_bound, extra = _who_could_see(decision, people, draft, receipt)
        snapshot = hub.audit.snapshot(s, reach=d.reach, members=members,
                                      lower_bound=lower_bound, extra=extra, now=now)
        _finish(d, "published", "", now)
        d.remote_id, d.remote_url = receipt.remote_id, receipt.url
        d.receipt = {"details": dict(receipt.details), "snapshot": snapshot,
                     "notes": list(draft.notes)}
        s.add(d)
        controls = receipt.details.get("controls")
        hub.audit.append(s, DeliverySucceeded(
            actor=f"worker:{worker}", post_id=d.post_id, delivery_id=d.id,
            subject=snapshot, policy_digest=hub.policies.current.digest, target=d.target,
            account=d.account, reach=d.reach, remote_id=receipt.remote_id, url=receipt.url,
            lower_bound=lower_bound, recipients=len(members), attempts=d.attempts,
            controls=controls if isinstance(controls, dict) else {}), now=now)
        return Attempt("published")


def _who_could_see(decision: Decision, people: PeopleSnapshot, draft: Draft, receipt: Receipt
                   ) -> tuple[list[SnapshotMember], bool, dict[str, object]]:
    """People (by person and identity) who could see the delivery at send time."""
    reach = decision.target.reach
    if reach in (Reach.WORLD, Reach.WORLD_UNLISTED):
        return [], False, {"anyone": True}
    members = [SnapshotMember(r.person_id, r.address, r.via_list) for r in draft.recipients]
    audience = receipt.details.get("audience")
    lower_bound = reach is Reach.FOLLOWERS
    extra: dict[str, object] = {}
    if isinstance(audience, dict):
        lower_bound = bool(audience.get("lower_bound", lower_bound))
        extra = {k: v for k, v in audience.items() if k != "identities"}
        listed = audience.get("identities")
        reached = {i.casefold() for i in (listed if isinstance(listed, list) else [])
                   if isinstance(i, str)}
        if audience.get("kind") in ("recipients", "room-members"):
            # the platform says exactly who received it (refused addresses are not here)
            members = [m for m in members if m.identity.casefold() in reached]
        by_identity = people.person_by_identity
        known = {m.identity.casefold() for m in members}
        for ident in sorted(reached - known):
            members.append(SnapshotMember(by_identity.get(ident), ident, None))
    return members, lower_bound, extra
