"""Drafts saved before they are sent (the compose form's "Save draft", ``POST /api/drafts``).

A draft is stored exactly as typed and is never routed or delivered: ``send_draft`` turns it
into a post through ``submit_post``, so the policy in force at that moment decides (a draft
holding a denied tag is denied just as the same post would be), and removes the draft in the
same step. Who may see a draft: the owner sees every draft; an API token with the ``read``
scope and without an audience allow-list sees every draft too; any other token sees only the
drafts it wrote (inside its audiences, if it has a list).

Usage: ``d = save_draft(hub, DraftInput(...), author)``; ``update_draft(hub, d.id, ...)``;
``view = send_draft(hub, d.id, author)``; ``delete_draft(hub, d.id, author)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex
from sqlmodel import col, select

from hub.domain.text import check_clean, normalise_newlines
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.ids import new_id
from hub.runtime import Hub
from hub.services.drafts import (
    MAX_ALT,
    MAX_CONTENT_WARNING,
    MAX_IMAGES,
    MAX_TAGS,
    MAX_TEXT,
    Author,
    MediaRef,
    PostInput,
    split_list,
)
from hub.services.post_views import PostView
from hub.services.posts import submit_post
from hub.services.text_variants import VariantsInput, clean_parts, clean_variants
from hub.store.queue_tables import SavedDraftRow

MAX_DRAFTS_PAGE = 100
_SHA = regex.compile(r"^[0-9a-f]{64}$")
_NAME = regex.compile(r"^[\p{L}\p{N}_.-]{1,64}$")


@dataclass(frozen=True)
class DraftInput:
    """What a draft holds; anything may still be missing (no text yet, no audience yet)."""

    text: str = ""
    audiences: Sequence[str] = ()
    tags: Sequence[str] = ()
    content_warning: str = ""
    language: str = ""
    schedule_at: datetime | None = None
    media: Sequence[MediaRef] = field(default_factory=tuple)
    time_zone: str = ""     # the zone the send-later time was typed in (shown again in it)
    thread: Sequence[str] = ()
    """The text as a thread, one string per part (then ``text`` is usually empty)."""
    variants: VariantsInput = field(default_factory=dict)
    """Texts for some networks or targets: a string or a thread's parts (checked when sent)."""


@dataclass(frozen=True)
class SavedDraft:
    id: str
    data: DraftInput
    author: str
    created: datetime
    updated: datetime

    def as_json(self) -> dict[str, Any]:
        d = self.data
        return {"id": self.id, "text": d.text, "audiences": list(d.audiences),
                "tags": list(d.tags), "content_warning": d.content_warning or None,
                "language": d.language or None,
                "schedule_at": d.schedule_at.isoformat() if d.schedule_at else None,
                "media": [{"sha256": m.sha256, "alt": m.alt} for m in d.media],
                "thread": list(d.thread),
                "variants": {k: v if isinstance(v, str) else list(v)
                             for k, v in d.variants.items()},
                "author": self.author, "created": self.created.isoformat(),
                "updated": self.updated.isoformat(), "sent": False}

    def to_post(self) -> PostInput:
        d = self.data
        return PostInput(text=d.text, audiences=d.audiences, tags=d.tags,
                         content_warning=d.content_warning, language=d.language,
                         schedule_at=d.schedule_at, media=d.media, thread=d.thread,
                         variants=d.variants)


def check(data: DraftInput) -> DraftInput:
    """The draft cleaned just enough to store: limits and characters, not completeness."""
    text = check_clean(normalise_newlines(data.text), field="text", label="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text is {len(text)} characters; the hub accepts at most {MAX_TEXT}",
                           field="text")
    audiences = list(dict.fromkeys(split_list(data.audiences)))
    tags = list(dict.fromkeys(t.lstrip("#").lower() for t in split_list(data.tags, spaces=True)
                              if t.lstrip("#")))
    for name, values in (("audiences", audiences), ("tags", tags)):
        if len(values) > MAX_TAGS:
            raise InvalidInput(f"at most {MAX_TAGS} {name}", field=name)
        for value in values:
            if not _NAME.match(value):
                raise InvalidInput(f"{name[:-1]} {value[:40]!r} may only hold letters, digits, "
                                   "_, . and -", field=name)
    cw = check_clean(data.content_warning.strip(), field="content_warning",
                     label="content warning", one_line=True)
    if len(cw) > MAX_CONTENT_WARNING:
        raise InvalidInput(f"content warning is longer than {MAX_CONTENT_WARNING} characters",
                           field="content_warning")
    lang = check_clean(data.language.strip(), field="language", label="language", one_line=True)
    if len(lang) > 16:
        raise InvalidInput("language is longer than 16 characters", field="language")
    if data.schedule_at is not None and data.schedule_at.tzinfo is None:
        raise InvalidInput("schedule_at needs a time zone, e.g. 2026-12-01T09:00:00+01:00",
                           field="schedule_at")
    if len(data.media) > MAX_IMAGES:
        raise InvalidInput(f"at most {MAX_IMAGES} images per post", field="media")
    for m in data.media:
        if not _SHA.match(m.sha256) or len(m.alt) > MAX_ALT:
            raise InvalidInput("media: each image needs its sha256 (from POST /api/media) and "
                               f"at most {MAX_ALT} characters of alt text", field="media")
    zone = check_clean(data.time_zone.strip(), field="schedule_at", label="time zone",
                       one_line=True)
    if len(zone) > 64:
        raise InvalidInput("time zone is longer than 64 characters", field="schedule_at")
    # An unfinished draft may hold empty parts: they are dropped, the rest is kept as typed
    # (sending checks the whole thread and every variant against the policy in force).
    thread = clean_parts(data.thread, field="thread", label="the thread", check_text=False)
    variants = {v.key: v.parts[0] if len(v.parts) == 1 else v.parts
                for v in clean_variants(data.variants, check_text=False)}
    return DraftInput(text, audiences, tags, cw, lang, data.schedule_at, tuple(data.media),
                      zone, thread, variants)


def _texts_json(data: DraftInput) -> dict[str, Any] | None:
    """The thread and variants as stored (the post table's shape), or None for one text."""
    if not data.thread and not data.variants:
        return None
    return {"thread": list(data.thread),
            "variants": {k: [v] if isinstance(v, str) else list(v)
                         for k, v in data.variants.items()}}


def _texts_from(stored: Mapping[str, Any] | None) -> tuple[tuple[str, ...], VariantsInput]:
    stored = stored or {}
    variants = {str(k): v[0] if len(v) == 1 else tuple(v)
                for k, v in (stored.get("variants") or {}).items()}
    return tuple(stored.get("thread") or ()), variants


def _from_row(row: SavedDraftRow) -> SavedDraft:
    thread, variants = _texts_from(row.variants)
    data = DraftInput(row.text, tuple(row.audiences), tuple(row.tags), row.content_warning,
                      row.language, row.schedule_at,
                      tuple(MediaRef(m["sha256"], m.get("alt", "")) for m in row.media),
                      row.time_zone, thread, variants)
    return SavedDraft(row.id, data, row.author, row.created, row.updated)


def _owns(author: Author, row: SavedDraftRow) -> bool:
    """The draft is the author's own: the same token (not merely one with the same name,
    as a token made after another was revoked may have), or the owner's."""
    return row.author == author.name and row.token_id == author.token_id


def _may_see(author: Author, row: SavedDraftRow) -> bool:
    if author.audiences is None:
        return author.reads_others or _owns(author, row)
    return _owns(author, row) and set(row.audiences) <= author.audiences


def _in_allow_list(author: Author, data: DraftInput) -> None:
    if author.audiences is not None:
        outside = sorted(set(data.audiences) - author.audiences)
        if outside:
            raise Forbidden(f"this token may write to {', '.join(sorted(author.audiences))} "
                            f"only; not to {', '.join(outside)}")


def _fill(row: SavedDraftRow, data: DraftInput, now: datetime) -> None:
    row.text, row.audiences, row.tags = data.text, list(data.audiences), list(data.tags)
    row.content_warning, row.language = data.content_warning, data.language
    row.schedule_at = data.schedule_at.astimezone(UTC) if data.schedule_at else None
    row.media = [{"sha256": m.sha256, "alt": m.alt} for m in data.media]
    row.time_zone = data.time_zone
    row.variants = _texts_json(data)
    row.updated = now


def save_draft(hub: Hub, data: DraftInput, author: Author) -> SavedDraft:
    data = check(data)
    _in_allow_list(author, data)
    now = hub.now()
    row = SavedDraftRow(id=new_id("dr"), text="", audiences=[], tags=[], media=[],
                        author=author.name, token_id=author.token_id, created=now,
                        updated=now)
    _fill(row, data, now)
    with hub.db.transaction() as s:
        s.add(row)
        s.flush()
        saved = _from_row(row)
    return saved


def get_draft(hub: Hub, draft_id: str, author: Author) -> SavedDraft:
    with hub.db.read() as s:
        row = s.get(SavedDraftRow, draft_id)
        if row is None or not _may_see(author, row):
            raise NotFound(f"no draft {draft_id!r}" + ("" if row is None else
                                                      " that this token may see"))
        return _from_row(row)


def update_draft(hub: Hub, draft_id: str, data: DraftInput, author: Author) -> SavedDraft:
    data = check(data)
    _in_allow_list(author, data)
    with hub.db.transaction() as s:
        row = s.get(SavedDraftRow, draft_id, with_for_update=True)
        if row is None or not _may_see(author, row):
            raise NotFound(f"no draft {draft_id!r}")
        _fill(row, data, hub.now())
        s.add(row)
        s.flush()
        return _from_row(row)


def delete_draft(hub: Hub, draft_id: str, author: Author) -> None:
    with hub.db.transaction() as s:
        row = s.get(SavedDraftRow, draft_id, with_for_update=True)
        if row is None or not _may_see(author, row):
            raise NotFound(f"no draft {draft_id!r}")
        s.delete(row)


def list_drafts(hub: Hub, author: Author, *, limit: int = MAX_DRAFTS_PAGE) -> list[SavedDraft]:
    """Newest changed first."""
    with hub.db.read() as s:
        q = select(SavedDraftRow).order_by(col(SavedDraftRow.updated).desc()).limit(limit)
        if author.audiences is not None or not author.reads_others:
            q = q.where(SavedDraftRow.author == author.name,
                        col(SavedDraftRow.token_id) == author.token_id
                        if author.token_id is not None else col(SavedDraftRow.token_id).is_(None))
        return [_from_row(r) for r in s.exec(q) if _may_see(author, r)]


def send_draft(hub: Hub, draft_id: str, author: Author) -> PostView:
    """Make the draft a post, judged by the policy in force now, and remove the draft. The
    draft is taken first, so two sends at once make one post; if the post is refused (invalid,
    or no target can carry it), the draft is put back unchanged."""
    with hub.db.transaction() as s:
        row = s.get(SavedDraftRow, draft_id, with_for_update=True)
        if row is None or not _may_see(author, row):
            raise NotFound(f"no draft {draft_id!r}")
        draft = _from_row(row)
        kept = {k: getattr(row, k) for k in SavedDraftRow.model_fields}
        s.delete(row)
    try:
        return submit_post(hub, draft.to_post(), author)
    except BaseException:
        with hub.db.transaction() as s:
            s.add(SavedDraftRow(**kept))
        raise


def forget_sent(hub: Hub, draft_id: str, author: Author) -> None:
    """After the compose form sent a resumed draft: remove it (already gone is fine)."""
    try:
        delete_draft(hub, draft_id, author)
    except NotFound:
        return
