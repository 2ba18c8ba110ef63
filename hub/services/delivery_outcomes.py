"""How one attempt of a delivery ends: published (with who could see it, frozen in the audit
snapshot), retried later, or failed, each written in one short transaction that first checks
the attempt still holds its lease (another worker that took over records the outcome instead).
Used by :mod:`hub.services.delivery`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam
from sqlmodel import Session

from hub.audit import SnapshotMember
from hub.domain.delivery import AttemptOutcome, Delivery, DeliveryStatus
from hub.domain.events import AccountCredentialsRejected, DeliveryFailed, DeliverySucceeded
from hub.domain.model import Decision, PeopleSnapshot, Reach
from hub.errors import CredentialsRejected
from hub.policy import Policy
from hub.ports import Draft, Receipt
from hub.runtime import Hub
from hub.store.db import check_lengths
from hub.store.tables import AccountRow, DeliveryRow

DELIVERY: Table = DeliveryRow.__table__  # type: ignore[attr-defined]


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
class Run:
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


def mine(s: Session, run: Run) -> DeliveryRow | None:
    d = s.get(DeliveryRow, run.delivery.id, with_for_update=True)
    if d is None or d.status != DeliveryStatus.IN_FLIGHT or d.lease_owner != run.worker \
            or d.attempts != run.delivery.attempts:
        # our lease ran out and another run took over (a run is its owner name and the attempt
        # count its lease set: names repeat, arq's '<host>-<pid>#<job_try>' once the job's
        # retry key is gone): that run records the outcome
        return None
    return d


def finish(d: DeliveryRow, status: DeliveryStatus, reason: str, now: datetime) -> None:
    d.status, d.last_error, d.updated, d.finished = status, reason, now, now
    d.lease_owner, d.lease_until = None, None


def retry_later(hub: Hub, run: Run, reason: str, retry_after: float | None) -> Attempt:
    now = hub.now()
    with hub.db.transaction() as s:
        d = mine(s, run)
        if d is None:
            return run.outcome(AttemptOutcome.SKIPPED, "lease lost")
        if d.attempts >= hub.settings.max_attempts:
            return fail_row(hub, s, run, d, f"gave up after {d.attempts} attempts: {reason}",
                             now)
        wait = retry_after if retry_after is not None else backoff(d.attempts)
        d.status, d.last_error, d.updated = DeliveryStatus.PENDING, f"will retry: {reason}", now
        d.due_at = now + timedelta(seconds=max(wait, 0.0))
        d.lease_owner, d.lease_until = None, None
        s.add(d)
        return run.outcome(AttemptOutcome.RETRY, reason, d.due_at)


def fail(hub: Hub, run: Run, exc: Exception) -> Attempt:
    now = hub.now()
    reason = getattr(exc, "message", str(exc))
    with hub.db.transaction() as s:
        d = mine(s, run)
        if d is None:
            return run.outcome(AttemptOutcome.SKIPPED, "lease lost")
        if isinstance(exc, CredentialsRejected):
            account = s.get(AccountRow, d.account)
            if account is not None:
                account.status, account.status_reason, account.updated = "rejected", reason, now
                s.add(account)
                hub.audit.append(s, AccountCredentialsRejected(
                    actor="platform", subject=d.account, reason=reason), now=now)
        return fail_row(hub, s, run, d, reason, now)


def fail_row(hub: Hub, s: Session, run: Run, d: DeliveryRow, reason: str,
              now: datetime) -> Attempt:
    finish(d, DeliveryStatus.FAILED, reason, now)
    s.add(d)
    hub.audit.append(s, DeliveryFailed(
        actor="platform", post_id=d.post_id, delivery_id=d.id,
        policy_digest=run.policy.digest, target=d.target, account=d.account,
        reason=reason, attempts=d.attempts), now=now)
    return run.outcome(AttemptOutcome.FAILED, reason)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _LeaseLost(Exception):
    """Raised in an outcome's transaction when the attempt no longer holds its lease: the
    transaction rolls back (nothing it wrote stays)."""


_PUBLISHED = (DELIVERY.update()
              .where(DELIVERY.c.id == bindparam("mine_id"),
                     DELIVERY.c.status == bindparam("mine_status"),
                     DELIVERY.c.lease_owner == bindparam("mine_worker"),
                     DELIVERY.c.attempts == bindparam("mine_attempts"))
              .returning(DELIVERY.c.attempts))
"""The published outcome as one conditional ``UPDATE``: written only while the attempt holds
its lease (same owner, same attempt count; the row lock it takes is the ``SELECT … FOR
UPDATE`` of :func:`mine`), handing back the attempt count. Built once: the statement's
compiled form is cached."""


def succeed(hub: Hub, run: Run, decision: Decision, people: PeopleSnapshot, draft: Draft,
             receipt: Receipt, text_sha256: str, variant: str | None) -> Attempt:
    now = hub.now()
    delivery = run.delivery
    try:
        with hub.db.transaction() as s:
            members, lower_bound, extra = who_could_see(decision, people, draft, receipt)
            snapshot = hub.audit.snapshot(s, reach=delivery.reach.value, members=members,
                                          lower_bound=lower_bound, extra=extra, now=now)
            values = {"status": DeliveryStatus.PUBLISHED, "last_error": "", "updated": now,
                      "finished": now, "lease_owner": None, "lease_until": None,
                      "remote_id": receipt.remote_id, "remote_url": receipt.url,
                      "receipt": {"details": dict(receipt.details), "snapshot": snapshot,
                                  "notes": list(draft.notes)}}
            check_lengths(DELIVERY, [values])
            attempts = s.connection().execute(_PUBLISHED, {
                **values, "mine_id": delivery.id, "mine_status": DeliveryStatus.IN_FLIGHT,
                "mine_worker": run.worker, "mine_attempts": delivery.attempts}).scalar()
            if attempts is None:   # another worker took over: it records the outcome
                raise _LeaseLost
            controls = receipt.details.get("controls")
            hub.audit.append(s, DeliverySucceeded(
                actor=f"worker:{run.worker}", post_id=delivery.post_id, delivery_id=delivery.id,
                subject=snapshot, policy_digest=run.policy.digest, target=delivery.target,
                account=delivery.account, reach=delivery.reach.value,
                remote_id=receipt.remote_id, url=receipt.url, lower_bound=lower_bound,
                recipients=len(members), attempts=attempts,
                controls=controls if isinstance(controls, dict) else {},
                text_sha256=text_sha256, variant=variant), now=now)
    except _LeaseLost:
        return run.outcome(AttemptOutcome.SKIPPED, "lease lost")
    return run.outcome(AttemptOutcome.PUBLISHED)


def who_could_see(decision: Decision, people: PeopleSnapshot, draft: Draft, receipt: Receipt
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
