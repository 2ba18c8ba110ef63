"""Mapping between table rows and domain values (a few lines per entity)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlmodel import Session, col, select

from hub.domain.model import (
    Identity,
    IdentityKind,
    Media,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
)
from hub.store.tables import IdentityRow, ListMemberRow, ListRow, PersonRow, PostRow


def people_snapshot(session: Session) -> PeopleSnapshot:
    """Every person with identities, and every list with its members, as of now."""
    idents: dict[str, list[Identity]] = defaultdict(list)
    for row in session.exec(select(IdentityRow).order_by(col(IdentityRow.id))):
        idents[row.person_id].append(Identity(IdentityKind(row.kind), row.value))
    people = {
        PersonId(p.id): Person(PersonId(p.id), p.name, tuple(idents.get(p.id, ())))
        for p in session.exec(select(PersonRow))
    }
    lists: dict[str, set[PersonId]] = {r.name: set() for r in session.exec(select(ListRow))}
    for m in session.exec(select(ListMemberRow)):
        lists.setdefault(m.list_name, set()).add(PersonId(m.person_id))
    return PeopleSnapshot(people=people, lists={k: frozenset(v) for k, v in lists.items()})


def post_from_row(row: PostRow) -> Post:
    return Post(
        id=PostId(row.id), text=row.text, audiences=tuple(row.audiences), created=row.created,
        tags=tuple(row.tags), content_warning=row.content_warning, language=row.language,
        schedule_at=row.schedule_at,
        media=tuple(Media(m["sha256"], m["mime_type"], m.get("alt", ""), m.get("size", 0))
                    for m in row.media),
        author=row.author,
    )


def post_to_row(post: Post, *, policy_digest: str) -> PostRow:
    return PostRow(
        id=post.id, text=post.text, audiences=list(post.audiences), tags=list(post.tags),
        content_warning=post.content_warning, language=post.language,
        schedule_at=post.schedule_at,
        media=[{"sha256": m.sha256, "mime_type": m.mime_type, "alt": m.alt, "size": m.size}
               for m in post.media],
        author=post.author, created=post.created, policy_digest=policy_digest,
    )


def due(post: Post, now: datetime) -> datetime:
    return post.schedule_at if post.schedule_at and post.schedule_at > now else now
