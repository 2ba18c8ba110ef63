"""Mapping between table rows and domain values (a few lines per entity)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from hub.domain.model import (
    Media,
    PeopleSnapshot,
    Post,
    PostId,
    Variant,
)
from hub.store.people import read_people
from hub.store.tables import AccountRow, PostRow


def people_snapshot(session: Session) -> PeopleSnapshot:
    """Every person with identities, and every list with its members, as of now (uncached:
    services use ``hub.people.snapshot``, which reads this only when the book changed)."""
    return read_people(session)


def local_domains(session: Session) -> dict[str, str]:
    """The owner's Mastodon accounts and their instance's domain: a bare ``@user`` in a post
    published there is ``user@domain`` (``route(..., local_domains=...)``)."""
    rows = session.exec(select(AccountRow).where(AccountRow.platform == "mastodon"))
    return {r.name: str(r.settings["domain"]) for r in rows if r.settings.get("domain")}


def post_from_row(row: PostRow) -> Post:
    return Post(
        id=PostId(row.id), text=row.text, audiences=tuple(row.audiences), created=row.created,
        tags=tuple(row.tags), content_warning=row.content_warning, language=row.language,
        schedule_at=row.schedule_at,
        media=tuple(Media(m["sha256"], m["mime_type"], m.get("alt", ""), m.get("size", 0))
                    for m in row.media),
        author=row.author,
        thread=tuple((row.variants or {}).get("thread") or ()),
        variants=tuple(Variant(str(k), tuple(v))
                       for k, v in ((row.variants or {}).get("variants") or {}).items()),
    )


def _variants_json(post: Post) -> dict[str, Any] | None:
    if not post.thread and not post.variants:
        return None
    return {"thread": list(post.thread),
            "variants": {v.key: list(v.parts) for v in post.variants}}


def post_to_row(post: Post, *, policy_digest: str) -> PostRow:
    return PostRow(**post_values(post, policy_digest=policy_digest))


def post_values(post: Post, *, policy_digest: str) -> dict[str, Any]:
    """Every column of the post's row (submit writes it with a Core ``INSERT``)."""
    return {
        "id": post.id, "text": post.text, "audiences": list(post.audiences),
        "tags": list(post.tags), "content_warning": post.content_warning,
        "language": post.language, "schedule_at": post.schedule_at,
        "media": [{"sha256": m.sha256, "mime_type": m.mime_type, "alt": m.alt, "size": m.size}
                  for m in post.media],
        "author": post.author, "created": post.created, "policy_digest": policy_digest,
        "deleted": None, "variants": _variants_json(post),
    }


def due(post: Post, now: datetime) -> datetime:
    return post.schedule_at if post.schedule_at and post.schedule_at > now else now
