"""Moving a post's deliveries on by hand: releasing held ones (re-checked against the policy
when they go out) and sending a failed one again."""

from __future__ import annotations

from sqlmodel import select

from hub.domain.delivery import DeliveryStatus
from hub.domain.events import DeliveryApproved
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.runtime import Hub
from hub.services.post_views import PostView, view_in
from hub.store.tables import DeliveryRow, PostRow


def approve(hub: Hub, post_id: str, *, approver: str = "owner") -> PostView:
    """Release a post's held deliveries; they are re-checked against the policy when sent."""
    now = hub.now()
    with hub.db.transaction() as s:
        post = s.get(PostRow, post_id)
        if post is None:
            raise NotFound(f"no post {post_id!r}")
        rule = hub.policies.current.separate_approver
        if approver == post.author and (
                rule == "everyone" or (rule == "tokens" and post.author.startswith("token:"))):
            raise Forbidden(f"post {post_id} must be approved by someone other than its author "
                            f"({post.author}): the policy's approval.separate_approver is {rule}")
        held = list(s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id,
                                                     DeliveryRow.status == DeliveryStatus.HELD)))
        if not held:
            raise InvalidInput(f"post {post_id} has no delivery awaiting approval")
        for d in held:
            d.status, d.approved, d.approved_by, d.updated = (
                DeliveryStatus.PENDING, now, approver, now)
            d.due_at = max(d.due_at, now)
            s.add(d)
            hub.audit.append(s, DeliveryApproved(
                actor=approver, post_id=post_id, delivery_id=d.id,
                policy_digest=hub.policies.current.digest, target=d.target), now=now)
        view = view_in(s, post_id)
    hub.wake([d.id for d in held])
    return view


def retry(hub: Hub, delivery_id: str, *, actor: str = "owner") -> PostView:
    """Send a failed delivery again (e.g. after connecting its account)."""
    now = hub.now()
    with hub.db.transaction() as s:
        d = s.get(DeliveryRow, delivery_id)
        if d is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        if d.status != DeliveryStatus.FAILED:
            raise InvalidInput(f"delivery {delivery_id} is {d.status}; only failed ones retry")
        d.status, d.attempts, d.due_at, d.updated, d.finished = (
            DeliveryStatus.PENDING, 0, now, now, None)
        d.last_error = ""    # the old failure no longer describes it (the audit keeps it)
        s.add(d)
        view = view_in(s, d.post_id)
    hub.wake([delivery_id])
    return view
