"""Which version of an edited post a copy carries, and the text each copy carries (its
network's variant, else the main text), for the feeds the hub serves itself and the edit path."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session, col, select

from hub.domain.model import Media, Post, Reach, Target, Variant
from hub.store.edit_tables import CopyEditRow, PostVersionRow
from hub.store.repos import post_from_row
from hub.store.tables import DeliveryRow, PostRow

CARRYING = ("edit", "replace", "in-place", "update", "wait")
"""Copy-edit actions after which a delivery carries (or will go out with) that version."""
SAME = "none"
"""The action of the copy edit recorded (done) for a copy whose own content the edit left as it
was (a variant copy when only the main text changed): it carries the new version unchanged."""


def copy_target(delivery: DeliveryRow) -> Target:
    """The delivery's target as far as :meth:`Post.as_sent_to` needs it (name and network
    choose the variant)."""
    return Target(delivery.target, delivery.account, Reach.RECIPIENTS)


def sent_text(post: Post, target: Target) -> tuple[str, str | None]:
    """(the text ``target`` receives, the key of the variant it comes from or None)."""
    variant = post.variant_for(target) if post.variants else None
    return post.as_sent_to(target).text, variant.key if variant else None


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def version_post(post: Post, version: PostVersionRow) -> Post:
    """``post`` with the content of one of its versions, variants included (a version written
    before versions kept variants had none)."""
    raw = version.variants or {}
    return replace(post, text=version.text, content_warning=version.content_warning,
                   language=version.language, tags=tuple(version.tags),
                   media=tuple(Media(m["sha256"], m["mime_type"], m.get("alt", ""),
                                     m.get("size", 0)) for m in version.media),
                   thread=tuple(raw.get("thread") or ()),
                   variants=tuple(Variant(str(k), tuple(v))
                                  for k, v in (raw.get("variants") or {}).items()))


def carried_version(s: Session, delivery_id: str) -> CopyEditRow | None:
    """The newest done copy edit after which the copy carries its version (None: version 1)."""
    return s.exec(select(CopyEditRow).where(
        CopyEditRow.delivery_id == delivery_id, CopyEditRow.status == "done",
        col(CopyEditRow.action).in_(CARRYING)).order_by(col(CopyEditRow.version).desc())
    ).first()


def carried_post(s: Session, post: PostRow, delivery: DeliveryRow) -> Post:
    """The whole post (all its variants) of the version the delivery's copy carries."""
    done = carried_version(s, delivery.id)
    current = post_from_row(post)
    version = s.get(PostVersionRow, (post.id, done.version if done else 1))
    return current if version is None else version_post(current, version)


def carried_content(s: Session, post: PostRow, delivery: DeliveryRow
                    ) -> tuple[Post, datetime | None]:
    """The content the delivery's copy shows, and when an edit last changed it (None: never).
    A copy whose edit is held, failed or not allowed keeps the version it had. A post with
    variants shows the variant of the delivery's target (what the policy judged for it), never
    the main text."""
    done = carried_version(s, delivery.id)
    shown = carried_post(s, post, delivery).as_sent_to(copy_target(delivery))
    return shown, done.updated if done and done.version > 1 else None
