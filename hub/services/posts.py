"""Submitting, reading, approving and deleting posts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub.domain.events import (
    DeliveryApproved,
    DeliveryRejected,
    PostSubmitted,
    RouteDecided,
)
from hub.domain.model import Decision, Outcome, Post, PostId, Routing
from hub.errors import ContentRejected, Forbidden, InvalidInput, NotFound
from hub.ids import new_delivery_key, new_id
from hub.policy.engine import route
from hub.runtime import Hub
from hub.services.drafts import Author, MediaRef, PostInput, make_draft
from hub.store.repos import due, post_from_row, post_to_row
from hub.store.tables import DecisionRow, DeliveryRow, PostRow

__all__ = ["FINAL", "Author", "MediaRef", "PostInput", "PostView", "approve", "get_post",
           "list_posts", "retry", "submit_post"]

FINAL = {"published", "failed", "denied", "rejected", "cancelled"}


def submit_post(hub: Hub, data: PostInput, author: Author) -> PostView:
    """Route a new post and write post + decisions + deliveries + audit in one transaction.

    Nothing is written when the input is invalid, an audience is unknown or forbidden to the
    author, or every allowed target refuses the content."""
    draft = make_draft(hub, data, author, post_id=PostId(new_id("p")))
    post, people, now = draft.post, draft.people, draft.post.created
    if author.audiences is not None:
        refused = [a for a in post.audiences if a not in author.audiences]
        if refused:
            raise Forbidden(f"this token may post to {', '.join(sorted(author.audiences))} "
                            f"only; not to {', '.join(refused)}")
    policy = hub.policies.current
    routing = route(post, policy, people, now)
    rejections: dict[str, str] = {}
    for d in routing.allowed():
        if (why := hub.publishers.check(post, d.target, people)) is not None:
            rejections[d.target.name] = why
    if routing.allowed() and len(rejections) == len(routing.allowed()):
        raise ContentRejected("no target can carry this post: " + "; ".join(
            f"{t}: {r}" for t, r in rejections.items()))
    for attempt in range(3):
        try:
            view = _write_post(hub, post, routing, rejections, author, now)
            break
        except IntegrityError:   # a delivery key collided with another process's: new keys
            if attempt == 2:
                raise
    hub.wake([d.id for d in view.deliveries if d.status == "pending" and d.due_at <= now])
    return view


def _write_post(hub: Hub, post: Post, routing: Routing, rejections: dict[str, str],
                author: Author, now: datetime) -> PostView:
    with hub.db.transaction() as s:
        s.add(post_to_row(post, policy_digest=routing.policy_digest))
        s.flush()
        ids = _write_decisions(hub, s, post, routing.decisions, routing.policy_digest,
                               rejections, now)
        hub.audit.append(s, PostSubmitted(
            actor=author.name, post_id=post.id, policy_digest=routing.policy_digest,
            text_sha256=hashlib.sha256(post.text.encode()).hexdigest(),
            audiences=list(post.audiences), tags=list(post.tags),
            schedule_at=post.schedule_at.isoformat() if post.schedule_at else None,
            media=[m.sha256 for m in post.media]), now=now)
        hub.audit.append(s, RouteDecided(
            actor=author.name, post_id=post.id, policy_digest=routing.policy_digest,
            phase="submit", decisions=[_decision_json(d) for d in routing.decisions]), now=now)
        for target, reason in rejections.items():
            hub.audit.append(s, DeliveryRejected(
                actor=author.name, post_id=post.id, delivery_id=ids[target],
                policy_digest=routing.policy_digest, target=target, reason=reason), now=now)
        view = _view(s, post.id)
        return view


def _write_decisions(hub: Hub, s: Session, post: Post, decisions: Sequence[Decision],
                     digest: str, rejections: dict[str, str], now: datetime
                     ) -> dict[str, str]:
    ids: dict[str, str] = {}
    for d in decisions:
        s.add(DecisionRow(post_id=post.id, target=d.target.name, account=d.target.account,
                          reach=d.target.reach.value, outcome=d.outcome.value,
                          rule_ids=list(d.rule_ids), reasons=list(d.reasons),
                          audiences=list(d.audiences), policy_digest=digest, created=now))
        if d.outcome is Outcome.DENY:
            continue
        status = "held" if d.outcome is Outcome.HOLD else "pending"
        if d.target.name in rejections:
            status = "rejected"
        delivery = DeliveryRow(
            id=new_id("d"), post_id=post.id, target=d.target.name, account=d.target.account,
            platform=d.target.platform, reach=d.target.reach.value,
            key=new_delivery_key(now), status=status, due_at=due(post, now),
            last_error=rejections.get(d.target.name, ""), created=now, updated=now,
            finished=now if status == "rejected" else None)
        s.add(delivery)
        ids[d.target.name] = delivery.id
    s.flush()
    return ids


def _decision_json(d: Decision) -> dict[str, Any]:
    return {"target": d.target.name, "account": d.target.account, "reach": d.target.reach.value,
            "outcome": d.outcome.value, "rule_ids": list(d.rule_ids)}


@dataclass(frozen=True)
class DeliveryView:
    id: str
    target: str
    account: str
    platform: str
    reach: str
    status: str
    attempts: int
    due_at: datetime
    reason: str
    remote_id: str | None
    url: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "account": self.account,
                "platform": self.platform, "reach": self.reach, "status": self.status,
                "attempts": self.attempts, "due_at": self.due_at.isoformat(),
                "reason": self.reason or None, "remote_id": self.remote_id, "url": self.url}


@dataclass(frozen=True)
class PostView:
    post: Post
    policy_digest: str
    decisions: tuple[DecisionRow, ...]
    deliveries: tuple[DeliveryView, ...]
    deleted: datetime | None = None

    @property
    def status(self) -> str:
        states = {d.status for d in self.deliveries}
        if self.deleted:
            return "deleted"
        if not states:
            return "nothing to deliver"
        if states <= FINAL:
            return "done" if states <= {"published"} else "finished with problems"
        if "held" in states:
            return "awaiting approval"
        untouched = all(d.attempts == 0 for d in self.deliveries)
        if self.post.schedule_at and states <= {"pending"} | FINAL and untouched:
            return "scheduled"
        return "publishing"

    def as_json(self) -> dict[str, Any]:
        p = self.post
        return {
            "id": p.id, "status": self.status, "created": p.created.isoformat(),
            "schedule_at": p.schedule_at.isoformat() if p.schedule_at else None,
            "audiences": list(p.audiences), "tags": list(p.tags),
            "content_warning": p.content_warning, "language": p.language,
            "author": p.author, "policy_digest": self.policy_digest,
            "decisions": [{"target": d.target, "account": d.account, "reach": d.reach,
                           "outcome": d.outcome, "rule_ids": d.rule_ids, "reasons": d.reasons,
                           "phase": d.phase} for d in self.decisions],
            "deliveries": [d.as_json() for d in self.deliveries],
        }


def _view(s: Session, post_id: str) -> PostView:
    row = s.get(PostRow, post_id)
    if row is None:
        raise NotFound(f"no post {post_id!r}")
    decisions = tuple(s.exec(select(DecisionRow).where(DecisionRow.post_id == post_id)
                             .order_by(col(DecisionRow.id))))
    deliveries = tuple(
        DeliveryView(d.id, d.target, d.account, d.platform, d.reach, d.status, d.attempts,
                     d.due_at, d.last_error, d.remote_id, d.remote_url)
        for d in s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id)
                        .order_by(col(DeliveryRow.created), col(DeliveryRow.target))))
    return PostView(post_from_row(row), row.policy_digest, decisions, deliveries, row.deleted)


def get_post(hub: Hub, post_id: str) -> PostView:
    with hub.db.read() as s:
        return _view(s, post_id)


def list_posts(hub: Hub, *, limit: int = 50, before: datetime | None = None) -> list[PostView]:
    with hub.db.read() as s:
        q = select(PostRow.id).order_by(col(PostRow.created).desc()).limit(limit)
        if before is not None:
            q = q.where(PostRow.created < before)
        return [_view(s, pid) for pid in s.exec(q)]


def approve(hub: Hub, post_id: str, *, approver: str = "owner") -> PostView:
    """Release a post's held deliveries; they are re-checked against the policy when sent."""
    now = hub.now()
    with hub.db.transaction() as s:
        if s.get(PostRow, post_id) is None:
            raise NotFound(f"no post {post_id!r}")
        held = list(s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id,
                                                     DeliveryRow.status == "held")))
        if not held:
            raise InvalidInput(f"post {post_id} has no delivery awaiting approval")
        for d in held:
            d.status, d.approved, d.approved_by, d.updated = "pending", now, approver, now
            d.due_at = max(d.due_at, now)
            s.add(d)
            hub.audit.append(s, DeliveryApproved(
                actor=approver, post_id=post_id, delivery_id=d.id,
                policy_digest=hub.policies.current.digest, target=d.target), now=now)
        view = _view(s, post_id)
    hub.wake([d.id for d in held])
    return view


def retry(hub: Hub, delivery_id: str, *, actor: str = "owner") -> PostView:
    """Send a failed delivery again (e.g. after connecting its account)."""
    now = hub.now()
    with hub.db.transaction() as s:
        d = s.get(DeliveryRow, delivery_id)
        if d is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        if d.status != "failed":
            raise InvalidInput(f"delivery {delivery_id} is {d.status}; only failed ones retry")
        d.status, d.attempts, d.due_at, d.updated, d.finished = "pending", 0, now, now, None
        s.add(d)
        view = _view(s, d.post_id)
    hub.wake([delivery_id])
    return view
