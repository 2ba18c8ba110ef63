"""From what a person typed to a clean draft post: the one path the API, the compose form and
the CLI share, used by submitting, previewing and ``hub policy explain`` alike.

It normalises (line ends, comma- or space-separated lists, ``#tags``), checks the limits
(written here once: text length, tags, images, alt text, content warning), and looks up the
media by hash. It writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import regex
from sqlmodel import Session

from hub.domain.model import Media, PeopleSnapshot, Post, PostId, Variant, join_thread
from hub.domain.text import check_clean, normalise_newlines
from hub.errors import InvalidInput
from hub.runtime import Hub
from hub.services.text_variants import (
    VariantsInput,
    check_variant_keys,
    clean_parts,
    clean_variants,
)
from hub.store.tables import MediaRow
from hub.store.versions import book

MAX_TEXT = 50_000
"""Characters of text; each network's own limit applies when it renders the post."""
MAX_TAGS = 30
MAX_IMAGES = 4
"""Images per post (Bluesky's limit, and Mastodon's default)."""
MAX_ALT = 1500
"""Characters of alt text per image (Mastodon's default description limit)."""
MAX_CONTENT_WARNING = 500

_TAG = regex.compile(r"^[\p{L}\p{N}_][\p{L}\p{N}_-]{0,63}$")
_LANG = regex.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")
_COMMAS = regex.compile(r",")
_COMMAS_OR_SPACE = regex.compile(r"[,\s]+")


@dataclass(frozen=True)
class MediaRef:
    """An uploaded image (by its sha256) and its alt text."""

    sha256: str
    alt: str = ""


@dataclass(frozen=True)
class PendingImage:
    """An image chosen in the browser but not uploaded yet (so media rules still apply)."""

    mime_type: str = "image/jpeg"
    alt: str = ""
    size: int = 0


@dataclass(frozen=True)
class PostInput:
    """What a user sends, before validation (API JSON/form, CLI flags, web form). List fields
    may hold comma-separated items."""

    text: str
    audiences: Sequence[str]
    tags: Sequence[str] = ()
    content_warning: str | None = None
    language: str | None = None
    schedule_at: datetime | None = None
    media: Sequence[MediaRef] = field(default_factory=tuple)
    thread: Sequence[str] = ()
    """The text as a thread, one string per part (then ``text`` may be empty)."""
    variants: VariantsInput = field(default_factory=dict)
    """Texts for some networks or targets instead of ``text``: a string, or a thread's parts."""
    cleaned_variants: tuple[Variant, ...] = ()   # set by clean()


@dataclass(frozen=True)
class Author:
    """Who submits: the owner, or an API token (with its audience allow-list)."""

    name: str = "owner"
    audiences: frozenset[str] | None = None   # None: any audience
    reads_others: bool = True
    """May it see what others wrote (their saved drafts)? A token needs the ``read`` scope."""
    token_id: str | None = None
    """The API token's id (None: the owner): what its saved drafts belong to, since a name
    can be used again once its token is revoked."""


@dataclass(frozen=True)
class DraftPost:
    """A clean post, not written anywhere, and the people snapshot it was checked against."""

    post: Post
    people: PeopleSnapshot
    local_domains: Mapping[str, str] = field(default_factory=dict)   # for route()


def split_list(values: Iterable[str], *, spaces: bool = False) -> list[str]:
    """Items of repeated and comma-separated values, stripped, without empty ones. ``spaces``
    also splits on whitespace (the compose form's one free-text tags field)."""
    sep = _COMMAS_OR_SPACE if spaces else _COMMAS
    return [item.strip() for value in values for item in sep.split(value) if item.strip()]


def clean_text(text: str) -> str:
    """The text with normalised line ends; ``InvalidInput(field="text")`` if empty (or only
    whitespace), too long, or holding control characters or lone surrogates."""
    text = check_clean(normalise_newlines(text), field="text", label="text")
    if not text.strip():
        raise InvalidInput("text is empty: write something to post", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text is {len(text)} characters; the hub accepts at most {MAX_TEXT}",
                           field="text")
    return text


def clean(data: PostInput, now: datetime, *, check_text: bool = True) -> PostInput:
    """Normalise and check everything but the media; raise ``InvalidInput`` naming the field.
    ``check_text=False`` (previews) lets an empty or long text through, normalised."""
    thread = clean_parts(data.thread, field="thread", label="the thread",
                         check_text=check_text) if data.thread else ()
    if len(thread) > 1:
        if data.text.strip() and normalise_newlines(data.text).strip() != join_thread(thread):
            raise InvalidInput("give the text or its thread, not both", field="thread")
        text = join_thread(thread)
    else:
        raw = thread[0] if thread else data.text
        thread = ()
        text = clean_text(raw) if check_text else normalise_newlines(raw)
    variants = clean_variants(data.variants, check_text=check_text) if data.variants else ()
    audiences = tuple(dict.fromkeys(split_list(data.audiences)))
    if not audiences:
        raise InvalidInput("choose at least one audience", field="audiences")
    tags = tuple(dict.fromkeys(t.lstrip("#").lower()
                               for t in split_list(data.tags) if t.lstrip("#")))
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", field="tags")
    for tag in tags:
        if not _TAG.match(tag):
            raise InvalidInput(f"tag {tag!r} may only hold letters, digits, _ and -",
                               field="tags")
    cw = check_clean((data.content_warning or "").strip(), field="content_warning",
                     label="content warning", one_line=True) or None
    if cw and len(cw) > MAX_CONTENT_WARNING:
        raise InvalidInput(f"content warning is longer than {MAX_CONTENT_WARNING} characters",
                           field="content_warning")
    lang = (data.language or "").strip() or None
    if lang and not _LANG.match(lang):
        raise InvalidInput(f"language {lang!r} is not a language tag like 'en' or 'pt-BR'",
                           field="language")
    when = data.schedule_at
    if when is not None:
        if when.tzinfo is None:
            raise InvalidInput("schedule_at needs a time zone, e.g. 2026-12-01T09:00:00+01:00",
                               field="schedule_at")
        try:
            when.astimezone(UTC)
        except OverflowError:
            raise InvalidInput("schedule_at is out of range: in UTC it falls outside years "
                               "1 to 9999", field="schedule_at") from None
        if when < now - timedelta(minutes=5):
            raise InvalidInput("schedule_at is in the past", field="schedule_at")
    return PostInput(text=text, audiences=audiences, tags=tags, content_warning=cw,
                     language=lang, schedule_at=when, media=tuple(data.media), thread=thread,
                     cleaned_variants=variants)


def check_image_count(count: int) -> None:
    """``InvalidInput`` when a post would carry more than ``MAX_IMAGES`` images."""
    if count > MAX_IMAGES:
        raise InvalidInput(f"at most {MAX_IMAGES} images per post", field="media")


def resolve_media(s: Session, refs: Sequence[MediaRef],
                  pending: Sequence[PendingImage] = ()) -> tuple[Media, ...]:
    """The stored images behind ``refs`` (then placeholders for ``pending`` ones)."""
    check_image_count(len(refs) + len(pending))
    out = []
    for ref in refs:
        row = s.get(MediaRow, ref.sha256)
        if row is None:
            raise InvalidInput(f"unknown media {ref.sha256[:12]}…: upload it first",
                               field="media")
        if len(ref.alt) > MAX_ALT:
            raise InvalidInput(f"alt text is longer than {MAX_ALT} characters", field="media")
        out.append(Media(row.sha256, row.mime_type, ref.alt.strip(), row.size))
    for p in pending:
        if len(p.alt) > MAX_ALT:
            raise InvalidInput(f"alt text is longer than {MAX_ALT} characters", field="media")
        out.append(Media("0" * 64, p.mime_type, p.alt.strip(), p.size))
    return tuple(out)


def make_draft(hub: Hub, data: PostInput, author: Author, *, post_id: PostId,
               pending: Sequence[PendingImage] = (), check_text: bool = True) -> DraftPost:
    """Clean ``data``, look up its media and the people, and build the post (unsaved)."""
    now = hub.now()
    data = clean(data, now, check_text=check_text)
    if data.cleaned_variants:
        check_variant_keys(data.cleaned_variants, hub.policies.current.targets.values())
    with hub.db.read() as s:
        media = resolve_media(s, data.media, pending)
        people, domains = book(hub.people, hub.domains, s)
    post = Post(id=post_id, text=data.text, audiences=tuple(data.audiences), created=now,
                tags=tuple(data.tags), content_warning=data.content_warning,
                language=data.language, schedule_at=data.schedule_at, media=media,
                author=author.name, thread=tuple(data.thread), variants=data.cleaned_variants)
    return DraftPost(post, people, domains)
