"""Which version of an edited post a copy carries (for the feeds the hub serves itself)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlmodel import Session, col, select

from hub.domain.model import Media, Post, Reach, Target
from hub.store.edit_tables import CopyEditRow, PostVersionRow
from hub.store.repos import post_from_row
from hub.store.tables import DeliveryRow, PostRow

CARRYING = ("edit", "replace", "in-place", "update", "wait")
"""Copy-edit actions after which a delivery carries (or will go out with) that version."""


def version_post(post: Post, version: PostVersionRow) -> Post:
    """``post`` with the content of one of its versions."""
    return replace(post, text=version.text, content_warning=version.content_warning,
                   language=version.language, tags=tuple(version.tags),
                   media=tuple(Media(m["sha256"], m["mime_type"], m.get("alt", ""),
                                     m.get("size", 0)) for m in version.media))


def carried_content(s: Session, post: PostRow, delivery: DeliveryRow
                    ) -> tuple[Post, datetime | None]:
    """The content the delivery's copy shows, and when an edit last changed it (None: never).
    A copy whose edit is held, failed or not allowed keeps the version it had. A post with
    variants shows the variant of the delivery's target (what the policy judged for it), never
    the main text."""
    done = s.exec(select(CopyEditRow).where(
        CopyEditRow.delivery_id == delivery.id, CopyEditRow.status == "done",
        col(CopyEditRow.action).in_(CARRYING)).order_by(col(CopyEditRow.version).desc())
    ).first()
    current = post_from_row(post)
    if current.variants:        # only name and platform choose the variant
        current = current.as_sent_to(Target(delivery.target, delivery.account, Reach.RECIPIENTS))
    version = s.get(PostVersionRow, (post.id, done.version if done else 1))
    if version is None:          # never edited
        return current, None
    return version_post(current, version), done.updated if done and done.version > 1 else None
