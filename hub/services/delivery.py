"""Publishing one delivery: claim, re-check the policy, prepare, publish, record. The job code
that in-process workers and arq workers both run; safe to run more than once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import structlog
from sqlalchemy import Table, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.domain.delivery import AttemptOutcome, Delivery, DeliveryStatus
from hub.domain.events import (
    DeliveryDenied,
    RouteDecided,
)
from hub.domain.model import Decision, Outcome, PeopleSnapshot, Post, Routing
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
from hub.runtime import Hub
from hub.services.delivery_outcomes import (
    Attempt,
    Run,
    backoff,
    fail,
    finish,
    retry_later,
    sha256,
    succeed,
)
from hub.store.deliveries import DbSteps, claimable, delivery_from_row
from hub.store.policy_state import recorded_digest
from hub.store.repos import post_from_row
from hub.store.tables import DeliveryRow, PostRow, UTCDateTime
from hub.store.versions import book

log = structlog.get_logger("hub.delivery")
DELIVERY: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
POST: Table = PostRow.__table__  # type: ignore[attr-defined]
_POST = sa_select(POST).where(POST.c.id == bindparam("post_id"))
"""The post a re-check judges: a Core read built once (no ORM object; nothing changes it)."""

__all__ = ["Attempt", "Claimed", "backoff", "claim", "claim_many", "deliver", "due_ids",
           "policy_in_force", "take"]


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
    """The leased row as a Core row (its attributes are a ``DeliveryRow``'s; a re-check that
    changes the delivery loads the ORM object, :func:`_orm`), or None."""
    now = hub.now()
    # one statement: the conditional UPDATE hands back the leased row (RETURNING)
    return cast(DeliveryRow | None, s.connection().execute(_LEASE, {
        "lease_id": delivery_id, "lease_now": now, "status": DeliveryStatus.IN_FLIGHT,
        "lease_owner": worker, "updated": now,
        "lease_until": now + timedelta(seconds=hub.settings.lease_seconds)}).first())


_LEASE = (DELIVERY.update()
          .where(DELIVERY.c.id == bindparam("lease_id"),
                 claimable(bindparam("lease_now", type_=UTCDateTime())))
          .values(status=bindparam("status"), lease_owner=bindparam("lease_owner"),
                  lease_until=bindparam("lease_until"), updated=bindparam("updated"),
                  attempts=DELIVERY.c.attempts + 1)
          .returning(*DELIVERY.c))
"""The lease as a Core ``UPDATE … RETURNING`` built once (its compiled form is cached): the
ORM-enabled ``update()`` built per call was a third of a claim."""


def _orm(s: Session, d: DeliveryRow) -> DeliveryRow:
    """The leased delivery as the ORM object, to change it (a re-check that does not publish:
    cancelled, denied, held)."""
    row = s.get(DeliveryRow, d.id)
    assert row is not None     # leased by this very transaction
    return row


_Checked = Attempt | tuple[Decision, PeopleSnapshot, Post]


_Taken = tuple[Run, _Checked] | Attempt | None


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
    taken: tuple[Run, _Checked | Exception] | Attempt | None
    try:
        taken = claimed.taken if claimed is not None else await asyncio.to_thread(
            _take_checked, hub, delivery_id, worker, policy)
    except Exception as exc:  # the re-check failed (a bug?): nothing was written; retry later
        bound.exception("delivery.crashed")
        delivery = await asyncio.to_thread(take, hub, delivery_id, worker)
        taken = None if delivery is None else (Run(delivery, worker, policy), exc)
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
            retry_later, hub, run, f"internal error ({type(exc).__name__}); retrying", None)
    bound.info("delivery.attempt", outcome=attempt.status.value, reason=attempt.reason or None,
               policy=policy.digest[:12],
               duration_ms=round((hub.now() - started).total_seconds() * 1000))
    return attempt


async def _publish(hub: Hub, run: Run, checked: tuple[Decision, PeopleSnapshot, Post]
                   ) -> Attempt:
    decision, people, post = checked
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
        return await asyncio.to_thread(retry_later, hub, run, exc.message, exc.retry_after)
    except (PermanentDeliveryError, ContentRejected, AccountNotConnected) as exc:
        if isinstance(exc, CredentialsRejected):
            await hub.publishers.forget(delivery.account)
        return await asyncio.to_thread(fail, hub, run, exc)
    carried = post.as_sent_to(decision.target)
    variant = post.variant_for(decision.target)
    return await asyncio.to_thread(succeed, hub, run, decision, people, draft, receipt,
                                   sha256(carried.text), variant.key if variant else None)


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
    run = Run(delivery_from_row(d), worker, in_force)
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


def _recheck(hub: Hub, s: Session, run: Run, d: DeliveryRow,
             routed: _Routed | None = None) -> _Checked:
    now = hub.now()
    policy = run.policy
    post_row = s.connection().execute(_POST, {"post_id": d.post_id}).first()
    assert post_row is not None
    post = post_from_row(cast(PostRow, post_row))   # a Core row: the same attributes
    if post_row.deleted is not None:   # deleted while this delivery waited or was claimed
        d = _orm(s, d)
        finish(d, DeliveryStatus.CANCELLED,
                "cancelled: the post was deleted before it was sent", now)
        s.add(d)
        return run.outcome(AttemptOutcome.CANCELLED, d.last_error)
    if routed is not None and d.post_id in routed:
        people, routing = routed[d.post_id]
    else:
        people, domains = book(hub.people, hub.domains, s)
        people = policy.with_lists(people)   # rule lists: members as of now
        routing = route(post, policy, people, now, recheck=True,
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
        d = _orm(s, d)
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
    return decision, people, post


def _deny(hub: Hub, s: Session, run: Run, d: DeliveryRow, rule_ids: tuple[str, ...],
          reasons: tuple[str, ...], now: datetime) -> Attempt:
    reason = "stopped by the policy at publish time: " + "; ".join(reasons)
    d = _orm(s, d)
    finish(d, DeliveryStatus.DENIED, reason, now)
    s.add(d)
    hub.audit.append(s, DeliveryDenied(
        actor="policy", post_id=d.post_id, delivery_id=d.id, policy_digest=run.policy.digest,
        target=d.target, rule_ids=list(rule_ids), reasons=list(reasons)), now=now)
    return run.outcome(AttemptOutcome.DENIED, reason)


