"""Submitting a post: route the clean draft, write post + decisions + deliveries + audit in
one transaction, then wake the workers. Reading (:mod:`~hub.services.post_views`) and
releasing or retrying (:mod:`~hub.services.approvals`) are re-exported here."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError

from hub.domain.delivery import FINAL, DeliveryStatus
from hub.domain.events import (
    DeliveryRejected,
    PostSubmitted,
    RouteDecided,
)
from hub.domain.model import Decision, Outcome, Post, PostId, Routing
from hub.errors import ContentRejected, Forbidden
from hub.ids import new_delivery_key, new_id
from hub.policy.engine import route
from hub.runtime import Hub
from hub.services.approvals import approve, retry
from hub.services.drafts import Author, MediaRef, PostInput, make_draft
from hub.services.notices import notify_held
from hub.services.post_views import (
    DecisionView,
    DeliveryView,
    PostView,
    get_post,
    list_posts,
)
from hub.store.db import check_lengths
from hub.store.repos import due, post_values
from hub.store.tables import DecisionRow, DeliveryRow, PostRow

POST: Table = PostRow.__table__  # type: ignore[attr-defined]
DECISION: Table = DecisionRow.__table__  # type: ignore[attr-defined]
DELIVERY: Table = DeliveryRow.__table__  # type: ignore[attr-defined]

__all__ = ["FINAL", "Author", "DeliveryView", "MediaRef", "PostInput", "PostView", "approve",
           "get_post", "list_posts", "retry", "submit_post"]



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
    people = policy.with_lists(people)   # rule lists' members as of now (hub.policy.lists)
    routing = route(post, policy, people, now, local_domains=draft.local_domains)
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
    hub.wake([d.id for d in view.deliveries
              if d.status is DeliveryStatus.PENDING and d.due_at <= now], due_now=True)
    notify_held(hub, view)     # tells the owner when something waits for approval
    return view


def _write_post(hub: Hub, post: Post, routing: Routing, rejections: dict[str, str],
                author: Author, now: datetime) -> PostView:
    """The post, its decisions and deliveries as three Core ``INSERT`` statements (one row,
    then many rows each) and the audit events, in one transaction. Core rows, not ORM
    objects: building and flushing a SQLModel object per row was a quarter of a submit."""
    digest = routing.policy_digest
    post_row = post_values(post, policy_digest=digest)
    decisions, deliveries = _rows(post, routing.decisions, digest, rejections, now)
    check_lengths(POST, [post_row])
    check_lengths(DECISION, decisions)
    check_lengths(DELIVERY, deliveries)
    with hub.db.transaction() as s:
        s.execute(POST.insert(), [post_row])
        if decisions:
            s.execute(DECISION.insert(), decisions)
        if deliveries:
            s.execute(DELIVERY.insert(), deliveries)
        ids = {d["target"]: d["id"] for d in deliveries}
        hub.audit.append(s, PostSubmitted(
            actor=author.name, post_id=post.id, policy_digest=digest,
            text_sha256=hashlib.sha256(post.text.encode()).hexdigest(),
            audiences=list(post.audiences), tags=list(post.tags),
            schedule_at=post.schedule_at.isoformat() if post.schedule_at else None,
            media=[m.sha256 for m in post.media], thread_parts=len(post.thread),
            variants={v.key: hashlib.sha256(v.text.encode()).hexdigest()
                      for v in post.variants}), now=now)
        hub.audit.append(s, RouteDecided(
            actor=author.name, post_id=post.id, policy_digest=digest,
            phase="submit", decisions=[_decision_json(d) for d in routing.decisions]), now=now)
        for target, reason in rejections.items():
            hub.audit.append(s, DeliveryRejected(
                actor=author.name, post_id=post.id, delivery_id=ids[target],
                policy_digest=digest, target=target, reason=reason), now=now)
    # the view from the rows just written, not read back (the write lock is already released)
    return PostView(post, digest, tuple(DecisionView(**d) for d in decisions), tuple(
        DeliveryView(d["id"], d["target"], d["account"], d["platform"], d["reach"],
                     d["status"], 0, d["due_at"], d["last_error"], None, None)
        for d in sorted(deliveries, key=lambda d: str(d["target"]))))


def _rows(post: Post, decisions: Sequence[Decision], digest: str,
          rejections: dict[str, str], now: datetime
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The decision and delivery rows of ``decisions``, every column given (each list is one
    multi-row statement; ``tests/unit/test_submit_rows.py`` keeps them complete)."""
    rows: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    due_at = due(post, now)
    for d in decisions:
        rows.append({"post_id": post.id, "target": d.target.name, "account": d.target.account,
                     "reach": d.target.reach.value, "outcome": d.outcome.value,
                     "rule_ids": list(d.rule_ids), "reasons": list(d.reasons),
                     "audiences": list(d.audiences), "policy_digest": digest,
                     "phase": "submit", "created": now})
        if d.outcome is Outcome.DENY:
            continue
        status = DeliveryStatus.HELD if d.outcome is Outcome.HOLD else DeliveryStatus.PENDING
        if d.target.name in rejections:
            status = DeliveryStatus.REJECTED
        deliveries.append({
            "id": new_id("d"), "post_id": post.id, "target": d.target.name,
            "account": d.target.account, "platform": d.target.platform,
            "reach": d.target.reach.value, "key": new_delivery_key(now), "status": status,
            "due_at": due_at, "attempts": 0, "lease_owner": None, "lease_until": None,
            "last_error": rejections.get(d.target.name, ""), "remote_id": None,
            "remote_url": None, "receipt": None, "approved": None, "approved_by": None,
            "created": now, "updated": now,
            "finished": now if status is DeliveryStatus.REJECTED else None})
    return rows, deliveries


def _decision_json(d: Decision) -> dict[str, Any]:
    return {"target": d.target.name, "account": d.target.account, "reach": d.target.reach.value,
            "outcome": d.outcome.value, "rule_ids": list(d.rule_ids)}
