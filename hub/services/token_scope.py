"""What an audience-limited API token may see and act on: posts whose audiences all lie inside
its allow-list. Reading, approving, retrying, deleting and the audit answers all ask here;
only a token without an allow-list sees everything."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import col, select

from hub.errors import Forbidden, NotFound
from hub.runtime import Hub
from hub.services.drafts import Author
from hub.store.tables import DeliveryRow, PostRow


def in_scope(author: Author, post_audiences: Iterable[str]) -> bool:
    return author.audiences is None or set(post_audiences) <= author.audiences


def require_post(hub: Hub, author: Author, post_id: str) -> None:
    """``Forbidden`` when the post reaches an audience outside the token's allow-list."""
    with hub.db.read() as s:
        row = s.get(PostRow, post_id)
        if row is None:
            raise NotFound(f"no post {post_id!r}")
        audiences = list(row.audiences)
    if not in_scope(author, audiences):
        assert author.audiences is not None
        outside = sorted(set(audiences) - author.audiences)
        raise Forbidden(f"this token may see and act on posts to "
                        f"{', '.join(sorted(author.audiences))} only; post {post_id} also "
                        f"goes to {', '.join(outside)}")


def require_delivery(hub: Hub, author: Author, delivery_id: str) -> str:
    """The delivery's post id, after :func:`require_post`."""
    with hub.db.read() as s:
        row = s.get(DeliveryRow, delivery_id)
        if row is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        post_id = row.post_id
    require_post(hub, author, post_id)
    return post_id


def require_unlimited(author: Author, what: str) -> None:
    """Answers that span every audience (people, the whole log) need an unlimited token."""
    if author.audiences is not None:
        raise Forbidden(f"{what} spans every audience; this token may see "
                        f"{', '.join(sorted(author.audiences))} only")


def filter_person_audit(hub: Hub, author: Author, data: dict[str, Any]) -> dict[str, Any]:
    """A person's audit as an audience-limited token may see it: only posts inside its
    allow-list (the answer was already asked for with ``audiences``, so its pages and counts
    hold only those; this is the second check), and none of the person's identities
    (addresses of people outside its audiences stay private)."""
    if author.audiences is None:
        return data
    public = data.get("public") or {}
    fetches = data.get("feed_fetches") or []
    ids = {p["post_id"] for p in [*data.get("posts", []), *public.get("posts", [])]}
    ids |= {i for f in fetches for i in f.get("post_ids", [])}
    with hub.db.read() as s:
        rows = s.exec(select(PostRow.id, PostRow.audiences)
                      .where(col(PostRow.id).in_(sorted(ids)))).all() if ids else []
    allowed = {pid for pid, audiences in rows if in_scope(author, audiences)}
    posts = [p for p in data.get("posts", []) if p["post_id"] in allowed]
    out = {**data, "posts": posts,
           "person": {**data["person"], "identities": []},
           "feed_fetches": [{**f, "post_ids": [i for i in f.get("post_ids", []) if i in allowed]}
                            for f in fetches]}
    if public:
        shown = [p for p in public.get("posts", []) if p["post_id"] in allowed]
        out["public"] = {**public, "posts": shown}
    return out
