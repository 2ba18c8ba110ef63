"""Cancelling one target of a scheduled or held post before it goes out (the whole post: delete
it). A token with an audience allow-list cancels only on posts wholly inside it."""

from __future__ import annotations

from hub.domain.edit_events import DeliveryCancelled
from hub.errors import Conflict, NotFound
from hub.runtime import Hub
from hub.services.drafts import Author
from hub.services.edit_plan import check_author
from hub.services.posts import PostView, get_post
from hub.store.tables import DeliveryRow, PostRow


def cancel_delivery(hub: Hub, delivery_id: str, author: Author) -> PostView:
    """Stop one pending or held delivery for good; ``Conflict`` once it is out or going."""
    now = hub.now()
    with hub.db.transaction() as s:
        d = s.get(DeliveryRow, delivery_id, with_for_update=True)
        if d is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        post = s.get(PostRow, d.post_id)
        assert post is not None
        check_author(post, author)
        if d.status not in ("pending", "held"):
            raise Conflict(f"delivery {delivery_id} to {d.target} is {d.status}: only copies "
                           "not sent yet can be cancelled (delete the post to remove sent ones)")
        d.status, d.updated, d.finished = "cancelled", now, now
        d.last_error = f"cancelled by {author.name} before it was sent"
        s.add(d)
        hub.audit.append(s, DeliveryCancelled(
            actor=author.name, post_id=d.post_id, delivery_id=d.id,
            policy_digest=hub.policies.current.digest, target=d.target), now=now)
        post_id = d.post_id
    return get_post(hub, post_id)
