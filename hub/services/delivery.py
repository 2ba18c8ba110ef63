"""Publishing one delivery: claim, re-check the policy, prepare, publish, record. The job code
that in-process workers and arq workers both run; safe to run more than once."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import update
from sqlmodel import Session, col, select

from hub.audit import SnapshotMember
from hub.domain.delivery import AttemptOutcome, Delivery, DeliveryStatus
from hub.domain.events import (
    AccountCredentialsRejected,
    DeliveryDenied,
    DeliveryFailed,
    DeliverySucceeded,
    RouteDecided,
)
from hub.domain.model import Decision, Outcome, PeopleSnapshot, Reach, Routing
from hub.errors import (
    AccountNotConnected,
    ContentRejected,
    CredentialsRejected,
    PermanentDeliveryError,
    PolicyFileInvalid,
    TransientDeliveryError,
)
from hub.policy import Policy
from hub.policy.engine import route
from hub.ports import Draft, Receipt
from hub.runtime import Hub
from hub.store.deliveries import DbSteps, claimable, delivery_from_row
from hub.store.policy_state import recorded_digest
from hub.store.repos import post_from_row
from hub.store.tables import AccountRow, DeliveryRow, PostRow
from hub.store.versions import book

log = structlog.get_logger("hub.delivery")


@dataclass(frozen=True)
class Attempt:
    """What one run of :func:`deliver` did, on which platform, under which policy (the one
    the delivery was checked against; a reload meanwhile does not change it)."""

    status: AttemptOutcome
    reason: str = ""
    retry_at: datetime | None = None
    platform: str = ""
    policy_digest: str = ""


@dataclass(frozen=True)
class _Run:
    """One attempt in progress: the claimed delivery, by whom, under which policy."""

    delivery: Delivery
    worker: str
    policy: Policy

    def outcome(self, status: AttemptOutcome, reason: str = "",
                retry_at: datetime | None = None) -> Attempt:
        return Attempt(status, reason, retry_at, self.delivery.platform, self.policy.digest)


def backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1-based): 5 s doubling, at most 15 minutes."""
    return float(min(5 * 2 ** max(attempt - 1, 0), 900))


def due_ids(hub: Hub, *, limit: int = 100) -> list[str]:
    """Deliveries that are due and not in flight (or whose lease ran out): the sweeper's list."""
    now = hub.now()
    with hub.db.read() as s:
        q = (select(DeliveryRow.id).where(claimable(now))
             .order_by(col(DeliveryRow.due_at)).limit(limit))
        return list(s.exec(q))


def claim(hub: Hub, delivery_id: str, worker: str) -> bool:
    """Take the lease on a due delivery; False if it is not due or another worker holds it."""
    return take(hub, delivery_id, worker) is not None


def take(hub: Hub, delivery_id: str, worker: str) -> Delivery | None:
    """Take the lease on a due delivery and return it as leased; None if it is not due or
    another worker holds it."""
    with hub.db.transaction() as s:
        row = _lease(hub, s, delivery_id, worker)
        return delivery_from_row(row) if row is not None else None


def _lease(hub: Hub, s: Session, delivery_id: str, worker: str) -> DeliveryRow | None:
    now = hub.now()
    lease = now + timedelta(seconds=hub.settings.lease_seconds)
    # one statement: the conditional UPDATE hands back the leased row (RETURNING)
    return s.scalars(
        update(DeliveryRow)
        .where(col(DeliveryRow.id) == delivery_id, claimable(now))
        .values(status=DeliveryStatus.IN_FLIGHT, lease_owner=worker, lease_until=lease,
                updated=now, attempts=DeliveryRow.attempts + 1)
        .returning(DeliveryRow),
        execution_options={"synchronize_session": False, "populate_existing": True}).first()


def _mine(s: Session, run: _Run) -> DeliveryRow | None:
    d = s.get(DeliveryRow, run.delivery.id, with_for_update=True)
    if d is None or d.status != DeliveryStatus.IN_FLIGHT or d.lease_owner != run.worker:
        return None   # our lease ran out and another worker took over: it records the outcome
    return d


_Checked = Attempt | tuple[Decision, PeopleSnapshot, PostRow]


_Taken = tuple[_Run, _Checked] | Attempt | None


@dataclass(frozen=True)
class Claimed:
    """What :func:`claim_many` did for one delivery: give it to ``deliver(claimed=...)``."""

    taken: _Taken


def claim_many(hub: Hub, claims: Sequence[tuple[str, str]]) -> dict[str, Claimed] | None:
    """Take the lease on each of ``claims`` (delivery id, worker) and re-check the policy for
    each, all in one transaction: one turn at the write lock for a post's deliveries instead
    of one each (the embedded dispatcher starts them together). None if the re-check raised:
    nothing was written, and each delivery goes the way of :func:`deliver` alone."""
    policy = hub.policies.current
    try:
        with hub.db.transaction() as s:
            in_force = policy_in_force(hub, s, policy)
            out: dict[str, Claimed] = {}
            routed: _Routed = {}     # one book read and one route() per post of the batch
            for delivery_id, worker in claims:
                out[delivery_id] = Claimed(_take_in(hub, s, delivery_id, worker, policy,
                                                    in_force, routed))
            return out
    except Exception:  # noqa: BLE001 - a bug in one re-check must not stop the others
        log.exception("delivery.batch_claim_failed", deliveries=len(claims))
        return None


async def deliver(hub: Hub, delivery_id: str, *, worker: str,
                  claimed: Claimed | None = None) -> Attempt:
    """Publish one delivery if it is due and unclaimed. Returns what happened. ``claimed``:
    its claim and re-check were made already (:func:`claim_many`)."""
    policy = hub.policies.current        # this attempt is checked and recorded under it
    bound = log.bind(delivery_id=delivery_id, worker=worker)
    started = hub.now()
    taken: tuple[_Run, _Checked | Exception] | Attempt | None
    try:
        taken = claimed.taken if claimed is not None else await asyncio.to_thread(
            _take_checked, hub, delivery_id, worker, policy)
    except Exception as exc:  # the re-check failed (a bug?): nothing was written; retry later
        bound.exception("delivery.crashed")
        delivery = await asyncio.to_thread(take, hub, delivery_id, worker)
        taken = None if delivery is None else (_Run(delivery, worker, policy), exc)
    if taken is None:
        return Attempt(AttemptOutcome.SKIPPED,
                       "not due, already done, or claimed by another worker",
                       policy_digest=policy.digest)
    if isinstance(taken, Attempt):
        bound.warning("delivery.waiting_for_policy", reason=taken.reason)
        return taken
    run, check = taken
    policy = run.policy
    bound = bound.bind(platform=run.delivery.platform)
    try:
        if isinstance(check, Exception):
            raise check
        attempt = check if isinstance(check, Attempt) else await _publish(hub, run, check)
    except Exception as exc:  # a bug or an unexpected library error: retry, then give up
        if exc is not check:
            bound.exception("delivery.crashed")
        attempt = await asyncio.to_thread(
            _transient, hub, run, f"internal error ({type(exc).__name__}); retrying", None)
    bound.info("delivery.attempt", outcome=attempt.status.value, reason=attempt.reason or None,
               policy=policy.digest[:12],
               duration_ms=round((hub.now() - started).total_seconds() * 1000))
    return attempt


async def _publish(hub: Hub, run: _Run, checked: tuple[Decision, PeopleSnapshot, PostRow]
                   ) -> Attempt:
    decision, people, post_row = checked
    post = post_from_row(post_row)
    delivery = run.delivery
    try:
        publisher = hub.publishers.get(delivery.account)
        # the text this target gets (its variant, if any): what the re-check just judged,
        # rendered once (the draft check() rendered at submit, when nothing changed since)
        draft = hub.publishers.prepare(post.as_sent_to(decision.target), decision.target,
                                       people)
        async with hub.limits.account(delivery.account):
            receipt = await publisher.publish(draft, key=delivery.key,
                                              steps=DbSteps(hub.db, delivery.id, hub.now))
    except TransientDeliveryError as exc:
        return await asyncio.to_thread(_transient, hub, run, exc.message, exc.retry_after)
    except (PermanentDeliveryError, ContentRejected, AccountNotConnected) as exc:
        if isinstance(exc, CredentialsRejected):
            await hub.publishers.forget(delivery.account)
        return await asyncio.to_thread(_fail, hub, run, exc)
    carried = post.as_sent_to(decision.target)
    variant = post.variant_for(decision.target)
    return await asyncio.to_thread(_succeed, hub, run, decision, people, draft, receipt,
                                   _sha256(carried.text), variant.key if variant else None)


def _take_checked(hub: Hub, delivery_id: str, worker: str, policy: Policy) -> _Taken:
    """Take the lease and evaluate the policy again, in one transaction (one turn at the
    write lock): rules added since the post was accepted still apply. The policy is the one
    in force (:func:`policy_in_force`); while this process cannot load it, nothing is taken."""
    with hub.db.transaction() as s:
        return _take_in(hub, s, delivery_id, worker, policy, policy_in_force(hub, s, policy))


def _take_in(hub: Hub, s: Session, delivery_id: str, worker: str, policy: Policy,
             in_force: Policy | None, routed: _Routed | None = None) -> _Taken:
    if in_force is None:    # left pending: the sweeper offers it again
        return Attempt(AttemptOutcome.SKIPPED, "the policy in force is not loaded here yet",
                       policy_digest=policy.digest)
    d = _lease(hub, s, delivery_id, worker)
    if d is None:
        return None
    run = _Run(delivery_from_row(d), worker, in_force)
    return run, _recheck(hub, s, run, d, routed)


def policy_in_force(hub: Hub, s: Session, policy: Policy) -> Policy | None:
    """The policy the hub loaded last, as the database records it (every load writes it):
    ``policy`` if it is that one, else the files loaded again here. None while the files here
    do not give it (not synced yet, or caught half-written): nothing may be published then."""
    recorded = recorded_digest(s)
    if recorded is None or recorded == policy.digest:
        return policy
    try:
        fresh, _ = hub.policies.reload()
    except PolicyFileInvalid as exc:
        log.error("policy.rejected", file=exc.file, line=exc.line, reason=exc.reason)
        return None
    log.info("policy.followed", digest=fresh.digest[:12], recorded=recorded[:12])
    return fresh if fresh.digest == recorded else None


_Routed = dict[str, tuple[PeopleSnapshot, Routing]]
"""Within one claim transaction: each post's people and routing, computed once."""


def _recheck(hub: Hub, s: Session, run: _Run, d: DeliveryRow,
             routed: _Routed | None = None) -> _Checked:
    now = hub.now()
    policy = run.policy
    post_row = s.get(PostRow, d.post_id)
    assert post_row is not None
    if post_row.deleted is not None:   # deleted while this delivery waited or was claimed
        _finish(d, DeliveryStatus.CANCELLED,
                "cancelled: the post was deleted before it was sent", now)
        s.add(d)
        return run.outcome(AttemptOutcome.CANCELLED, d.last_error)
    if routed is not None and d.post_id in routed:
        people, routing = routed[d.post_id]
    else:
        people, domains = book(hub.people, hub.domains, s)
        people = policy.with_lists(people)   # rule lists: members as of now
        routing = route(post_from_row(post_row), policy, people, now, recheck=True,
                        local_domains=domains)
        if routed is not None:
            routed[d.post_id] = (people, routing)
    decision = next((x for x in routing.decisions if x.target.name == d.target), None)
    if decision is None or decision.target.account != d.account:
        rule, why = ("target-removed", f"target {d.target!r} is no longer in the policy") \
            if decision is None else \
            ("target-changed", f"target {d.target!r} now points at another account")
        return _deny(hub, s, run, d, (rule,), (why,), now)
    if decision.outcome is Outcome.DENY:
        return _deny(hub, s, run, d, decision.rule_ids, decision.reasons, now)
    if decision.outcome is Outcome.HOLD and d.approved is None:
        d.status, d.lease_owner, d.lease_until, d.updated = (
            DeliveryStatus.HELD, None, None, now)
        d.attempts -= 1
        s.add(d)
        hub.audit.append(s, RouteDecided(
            actor=f"worker:{run.worker}", post_id=d.post_id, delivery_id=d.id,
            policy_digest=policy.digest, phase="publish",
            decisions=[{"target": d.target, "outcome": "hold",
                        "rule_ids": list(decision.rule_ids)}]), now=now)
        return run.outcome(AttemptOutcome.HELD, "; ".join(decision.reasons))
    return decision, people, post_row


def _deny(hub: Hub, s: Session, run: _Run, d: DeliveryRow, rule_ids: tuple[str, ...],
          reasons: tuple[str, ...], now: datetime) -> Attempt:
    reason = "stopped by the policy at publish time: " + "; ".join(reasons)
    _finish(d, DeliveryStatus.DENIED, reason, now)
    s.add(d)
    hub.audit.append(s, DeliveryDenied(
        actor="policy", post_id=d.post_id, delivery_id=d.id, policy_digest=run.policy.digest,
        target=d.target, rule_ids=list(rule_ids), reasons=list(reasons)), now=now)
    return run.outcome(AttemptOutcome.DENIED, reason)


def _finish(d: DeliveryRow, status: DeliveryStatus, reason: str, now: datetime) -> None:
    d.status, d.last_error, d.updated, d.finished = status, reason, now, now
    d.lease_owner, d.lease_until = None, None


def _transient(hub: Hub, run: _Run, reason: str, retry_after: float | None) -> Attempt:
    now = hub.now()
    with hub.db.transaction() as s:
        d = _mine(s, run)
        if d is None:
            return run.outcome(AttemptOutcome.SKIPPED, "lease lost")
        if d.attempts >= hub.settings.max_attempts:
            return _fail_row(hub, s, run, d, f"gave up after {d.attempts} attempts: {reason}",
                             now)
        wait = retry_after if retry_after is not None else backoff(d.attempts)
        d.status, d.last_error, d.updated = DeliveryStatus.PENDING, f"will retry: {reason}", now
        d.due_at = now + timedelta(seconds=max(wait, 0.0))
        d.lease_owner, d.lease_until = None, None
        s.add(d)
        return run.outcome(AttemptOutcome.RETRY, reason, d.due_at)


def _fail(hub: Hub, run: _Run, exc: Exception) -> Attempt:
    now = hub.now()
    reason = getattr(exc, "message", str(exc))
    with hub.db.transaction() as s:
        d = _mine(s, run)
        if d is None:
            return run.outcome(AttemptOutcome.SKIPPED, "lease lost")
        if isinstance(exc, CredentialsRejected):
            account = s.get(AccountRow, d.account)
            if account is not None:
                account.status, account.status_reason, account.updated = "rejected", reason, now
                s.add(account)
                hub.audit.append(s, AccountCredentialsRejected(
                    actor="platform", subject=d.account, reason=reason), now=now)
        return _fail_row(hub, s, run, d, reason, now)


def _fail_row(hub: Hub, s: Session, run: _Run, d: DeliveryRow, reason: str,
              now: datetime) -> Attempt:
    _finish(d, DeliveryStatus.FAILED, reason, now)
    s.add(d)
    hub.audit.append(s, DeliveryFailed(
        actor="platform", post_id=d.post_id, delivery_id=d.id,
        policy_digest=run.policy.digest, target=d.target, account=d.account,
        reason=reason, attempts=d.attempts), now=now)
    return run.outcome(AttemptOutcome.FAILED, reason)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _succeed(hub: Hub, run: _Run, decision: Decision, people: PeopleSnapshot, draft: Draft,
             receipt: Receipt, text_sha256: str, variant: str | None) -> Attempt:
    now = hub.now()
    with hub.db.transaction() as s:
        d = _mine(s, run)
        if d is None:
            return run.outcome(AttemptOutcome.SKIPPED, "lease lost")
        members, lower_bound, extra = _who_could_see(decision, people, draft, receipt)
        snapshot = hub.audit.snapshot(s, reach=d.reach, members=members,
                                      lower_bound=lower_bound, extra=extra, now=now)
        _finish(d, DeliveryStatus.PUBLISHED, "", now)
        d.remote_id, d.remote_url = receipt.remote_id, receipt.url
        d.receipt = {"details": dict(receipt.details), "snapshot": snapshot,
                     "notes": list(draft.notes)}
        s.add(d)
        controls = receipt.details.get("controls")
        hub.audit.append(s, DeliverySucceeded(
            actor=f"worker:{run.worker}", post_id=d.post_id, delivery_id=d.id,
            subject=snapshot, policy_digest=run.policy.digest, target=d.target,
            account=d.account, reach=d.reach, remote_id=receipt.remote_id, url=receipt.url,
            lower_bound=lower_bound, recipients=len(members), attempts=d.attempts,
            controls=controls if isinstance(controls, dict) else {}, text_sha256=text_sha256,
            variant=variant), now=now)
        return run.outcome(AttemptOutcome.PUBLISHED)


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
