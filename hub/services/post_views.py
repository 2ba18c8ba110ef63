"""Reading posts: a post with its decisions and deliveries, and the status words the owner
sees ("scheduled", "awaiting approval", "finished with problems")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from hub.domain.delivery import FINAL, DeliveryStatus
from hub.domain.model import Post
from hub.errors import NotFound
from hub.runtime import Hub
from hub.store.repos import post_from_row
from hub.store.tables import DecisionRow, DeliveryRow, PostRow


@dataclass(frozen=True)
class DeliveryView:
    id: str
    target: str
    account: str
    platform: str
    reach: str
    status: DeliveryStatus
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
class DecisionView:
    """A decision as just written by a submit (the same fields as ``DecisionRow``, bar its
    id): the submit answers from what it wrote instead of building ORM objects."""

    post_id: str
    target: str
    account: str
    reach: str
    outcome: str
    rule_ids: list[str]
    reasons: list[str]
    audiences: list[str]
    policy_digest: str
    phase: str
    created: datetime


@dataclass(frozen=True)
class PostView:
    post: Post
    policy_digest: str
    decisions: tuple[DecisionRow | DecisionView, ...]
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
            return "done" if states <= {DeliveryStatus.PUBLISHED} else "finished with problems"
        if DeliveryStatus.HELD in states:
            return "awaiting approval"
        untouched = all(d.attempts == 0 for d in self.deliveries)
        if self.post.schedule_at and states <= {DeliveryStatus.PENDING} | FINAL and untouched:
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
            "thread_parts": len(p.thread), "variants": [v.key for v in p.variants],
            "decisions": [{"target": d.target, "account": d.account, "reach": d.reach,
                           "outcome": d.outcome, "rule_ids": d.rule_ids, "reasons": d.reasons,
                           "phase": d.phase} for d in self.decisions],
            "deliveries": [d.as_json() for d in self.deliveries],
        }


def view_in(s: Session, post_id: str) -> PostView:
    row = s.get(PostRow, post_id)
    if row is None:
        raise NotFound(f"no post {post_id!r}")
    decisions = tuple(s.exec(select(DecisionRow).where(DecisionRow.post_id == post_id)
                             .order_by(col(DecisionRow.id))))
    deliveries = tuple(
        DeliveryView(d.id, d.target, d.account, d.platform, d.reach, DeliveryStatus(d.status),
                     d.attempts,
                     d.due_at, d.last_error, d.remote_id, d.remote_url)
        for d in s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id)
                        .order_by(col(DeliveryRow.created), col(DeliveryRow.target))))
    return PostView(post_from_row(row), row.policy_digest, decisions, deliveries, row.deleted)


def get_post(hub: Hub, post_id: str) -> PostView:
    with hub.db.read() as s:
        return view_in(s, post_id)


def list_posts(hub: Hub, *, limit: int = 50, before: datetime | None = None) -> list[PostView]:
    with hub.db.read() as s:
        q = select(PostRow.id).order_by(col(PostRow.created).desc()).limit(limit)
        if before is not None:
            q = q.where(PostRow.created < before)
        return [view_in(s, pid) for pid in s.exec(q)]


def views_in(s: Session, post_ids: list[str]) -> list[PostView]:
    """The views of ``post_ids``, in that order, in three queries whatever their number."""
    if not post_ids:
        return []
    posts = {r.id: r for r in s.exec(select(PostRow).where(col(PostRow.id).in_(post_ids)))}
    decisions: dict[str, list[DecisionRow]] = {pid: [] for pid in post_ids}
    for d in s.exec(select(DecisionRow).where(col(DecisionRow.post_id).in_(post_ids))
                    .order_by(col(DecisionRow.id))):
        decisions[d.post_id].append(d)
    deliveries: dict[str, list[DeliveryView]] = {pid: [] for pid in post_ids}
    for r in s.exec(select(DeliveryRow).where(col(DeliveryRow.post_id).in_(post_ids))
                    .order_by(col(DeliveryRow.created), col(DeliveryRow.target))):
        deliveries[r.post_id].append(DeliveryView(
            r.id, r.target, r.account, r.platform, r.reach, DeliveryStatus(r.status),
            r.attempts, r.due_at, r.last_error, r.remote_id, r.remote_url))
    return [PostView(post_from_row(posts[pid]), posts[pid].policy_digest,
                     tuple(decisions[pid]), tuple(deliveries[pid]), posts[pid].deleted)
            for pid in post_ids if pid in posts]
