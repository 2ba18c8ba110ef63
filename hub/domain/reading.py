"""One reading of a post: the hashtags, mentions and links the networks (and people) will see.

Pure. ``read_post(post)`` looks at the ``tags`` field, the text and the content warning. Each
token says which field it was found in, its span there and which *readers* find it:

- ``"field"``    — an entry of the ``tags`` field;
- ``"mastodon"`` — Mastodon's own parser (``Tag::HASHTAG_RE``, ``Account::MENTION_RE``; tags and
  mentions inside a link are not read, as Mastodon's extractor drops them);
- ``"bluesky"``  — Bluesky's ``detectFacets`` (``@atproto/api``): its spans are exactly the facets
  the app would make, except that a link glued to an emoji (``🚀https://…``) is a link too; use
  ``reading.by("bluesky", Field.TEXT)`` for facets;
- ``"visual"``   — either parser run on the text as a person reads it: default-ignorable code points
  (zero-width joiner/non-joiner, variation selectors …) removed and each character NFKC-normalised
  (``＃`` is ``#``, ``ｋ`` is ``k``), spans mapped back to the original string. ``#ki\u200dds``
  reads ``kids`` here, though Bluesky stops its facet at the joiner.

Spans (``start``, ``end``) are code-point offsets into the field's string (``post.text``,
``post.content_warning``, or the one ``post.tags`` entry at ``index``); ``text[start:end]`` is the
token as written, sign included. ``utf8_span`` turns one into Bluesky's byte offsets.

Matching is by key: :func:`tag_key` (NFKC, case folding, default-ignorables removed, Latin
diacritics folded as Mastodon does) and, for mentions, :func:`mention_keys` against
:func:`identity_keys` of the people in a list. The policy engine and the adapters use this same
reading, so what the policy judged is what the network gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property

from hub.domain import _parsers as p
from hub.domain.model import THREAD_JOIN, Identity, IdentityKind, Post, join_thread

fold = p.fold
tag_key = p.tag_key


class Field(StrEnum):
    """Where in the post a token was found."""

    TAGS = "tags"
    TEXT = "text"
    CONTENT_WARNING = "content_warning"

    @property
    def words(self) -> str:
        return _FIELD_WORDS[self]


_FIELD_WORDS = {Field.TAGS: "in the tags", Field.TEXT: "in the text",
                Field.CONTENT_WARNING: "in the content warning"}


class MentionKind(StrEnum):
    ACCT = "acct"        # @user@domain (Mastodon, fediverse)
    LOCAL = "local"      # @user: a user of the instance the post is published on
    HANDLE = "handle"    # @handle.with.dots (Bluesky)
    DID = "did"          # did:plc:… / did:web:…
    EMAIL = "email"      # user@domain written without a leading @


@dataclass(frozen=True)
class Hashtag:
    name: str                    # as the reader read it, without the sign: "Kids", "ki\u200dds"
    key: str                     # tag_key(name): what rules compare
    field: Field
    start: int                   # the sign's offset (for the tags field: 0)
    end: int
    readers: frozenset[str]
    index: int = 0               # which entry of the tags field
    sign: str = "#"              # as written: "#" or the fullwidth "＃"

    @property
    def where(self) -> str:
        return f"{self.sign}{self.name} {self.field.words}"


@dataclass(frozen=True)
class Mention:
    kind: MentionKind
    value: str                   # folded: "ana@example.social", "ana", "ana.bsky.social", "did:…"
    written: str                 # as in the text: "@Ana@Example.Social"
    field: Field
    start: int
    end: int
    readers: frozenset[str]

    @property
    def where(self) -> str:
        return f"{self.written} {self.field.words}"

    def acct(self, local_domain: str) -> str | None:
        """``user@domain`` for a Mastodon mention on an instance whose domain is given."""
        if self.kind is MentionKind.ACCT:
            return self.value
        if self.kind is MentionKind.LOCAL and local_domain:
            return f"{self.value}@{fold(local_domain)}"
        return None


@dataclass(frozen=True)
class Link:
    url: str                     # as the reader would link it (Bluesky adds https:// to bare ones)
    field: Field
    start: int
    end: int
    readers: frozenset[str]


@dataclass(frozen=True)
class Reading:
    """Everything found in one post, in field order (tags, text, content warning) then offset."""

    hashtags: tuple[Hashtag, ...] = ()
    mentions: tuple[Mention, ...] = ()
    links: tuple[Link, ...] = ()

    @cached_property
    def tags_by_key(self) -> Mapping[str, Hashtag]:
        """The first occurrence of every tag key."""
        found: dict[str, Hashtag] = {}
        for tag in self.hashtags:
            found.setdefault(tag.key, tag)
        return found

    def by(self, reader: str, field: Field | None = None) -> Reading:
        """Only what ``reader`` finds (``"mastodon"``, ``"bluesky"`` …), optionally in one field."""
        def keep(token: Hashtag | Mention | Link) -> bool:
            return reader in token.readers and (field is None or token.field is field)
        return Reading(tuple(t for t in self.hashtags if keep(t)),
                       tuple(m for m in self.mentions if keep(m)),
                       tuple(link for link in self.links if keep(link)))

    def mentions_by_key(self, local_domain: str | None = None) -> Mapping[str, Mention]:
        """Identity keys the mentions can stand for (see :func:`mention_keys`), first mention
        of each."""
        found: dict[str, Mention] = {}
        for mention in self.mentions:
            for key in mention_keys(mention, local_domain):
                found.setdefault(key, mention)
        return found


def read_post(post: Post) -> Reading:
    """The reading of a whole post: its tags field, text and content warning.

    A thread is read part by part, as each post of the chain is read alone, and as the one
    text the networks without threads receive; what either finds counts (spans are into
    ``post.text``). Only the post's own text is read: for a target with a variant, read
    ``post.as_sent_to(target)``."""
    tags = tuple(Hashtag(t.strip().lstrip("#＃"), tag_key(t), Field.TAGS, 0, len(t),
                         frozenset({"field"}), index=i)
                 for i, t in enumerate(post.tags) if tag_key(t.strip()))
    text = read_thread(post.thread) if post.thread else read_text(post.text, Field.TEXT)
    cw = read_text(post.content_warning or "", Field.CONTENT_WARNING)
    return Reading(tags + text.hashtags + cw.hashtags, text.mentions + cw.mentions,
                   text.links + cw.links)


def read_text(text: str, field: Field = Field.TEXT) -> Reading:
    """The reading of one string (a text, a content warning, one part of a thread)."""
    if not text:
        return Reading()
    skel, index = p.skeleton(text)

    def back(token: p.Token) -> tuple[int, int]:
        return index[token.start], index[token.end - 1] + 1

    masto_links = [(t.start, t.end) for t in p.mastodon_links(text)]

    def in_link(start: int) -> bool:
        return any(s <= start < e for s, e in masto_links)

    tags: dict[tuple[int, int, str], set[str]] = {}
    names: dict[tuple[int, int, str], str] = {}

    def tag(start: int, end: int, name: str, reader: str) -> None:
        key = tag_key(name)
        if key:
            tags.setdefault((start, end, key), set()).add(reader)
            names.setdefault((start, end, key), name)

    masto_tags = list(p.mastodon_tags(text))
    bsky_tags = list(p.bluesky_tags(text, limit=False))
    for t in masto_tags:
        if not in_link(t.start):
            tag(t.start, t.end, t.value, "mastodon")
    for t in bsky_tags:
        if p.within_tag_limit(t.value):
            tag(t.start, t.end, t.value, "bluesky")
    # as read: the same parsers over the skeleton (the very tokens when nothing was hidden)
    seen = [*masto_tags, *bsky_tags] if skel == text else \
        [*p.mastodon_tags(skel), *p.bluesky_tags(skel, limit=False)]
    for t in seen:
        start, end = back(t)
        if not in_link(start):
            tag(start, end, text[start + 1:end], "visual")

    mentions: dict[tuple[int, int, MentionKind, str], set[str]] = {}

    def mention(start: int, end: int, kind: MentionKind, value: str, reader: str) -> None:
        mentions.setdefault((start, end, kind, fold(value)), set()).add(reader)

    for t in p.mastodon_mentions(text):
        if not in_link(t.start):
            _user_mention(mention, t.start, t.end, t, "mastodon", dots_are_handles=False)
    for t in p.bluesky_mentions(text):
        mention(t.start, t.end, MentionKind.HANDLE, t.value, "bluesky")
    for t in p.visual_mentions(skel):
        start, end = back(t)
        _user_mention(mention, start, end, t, "visual", dots_are_handles=True)
    for t in p.emails(skel):
        start, end = back(t)
        mention(start, end, MentionKind.EMAIL, f"{t.value}@{t.extra}", "visual")
    for t in p.dids(skel):
        start, end = back(t)
        mention(start, end, MentionKind.DID, t.value.rstrip(".:"), "visual")

    links: dict[tuple[int, int, str], set[str]] = {}
    for start, end in masto_links:
        links.setdefault((start, end, text[start:end]), set()).add("mastodon")
    for t in p.bluesky_links(text):
        links.setdefault((t.start, t.end, t.value), set()).add("bluesky")

    return Reading(
        tuple(Hashtag(names[k], k[2], field, k[0], k[1], frozenset(r), sign=text[k[0]])
              for k, r in sorted(tags.items())),
        tuple(Mention(k[2], k[3], text[k[0]:k[1]], field, k[0], k[1], frozenset(r))
              for k, r in sorted(mentions.items())),
        tuple(Link(k[2], field, k[0], k[1], frozenset(r)) for k, r in sorted(links.items())))


def part_offsets(parts: Iterable[str]) -> list[int]:
    """Where each part of a thread starts in the text they are joined into."""
    offsets, at = [], 0
    for part in parts:
        offsets.append(at)
        at += len(part) + len(THREAD_JOIN)
    return offsets


def read_thread(parts: tuple[str, ...]) -> Reading:
    """The text of a thread read whole (as email or a feed gets it) and each part read alone
    (as each post of the chain is read), merged: a token either reading finds is there, with
    the readers of both; spans are into the joined text."""
    whole = read_text(join_thread(parts), Field.TEXT)
    alone = [_shifted(read_text(part, Field.TEXT), at)
             for part, at in zip(parts, part_offsets(parts), strict=True)]
    return _merged([whole, *alone])


def _shifted(reading: Reading, by: int) -> Reading:
    return Reading(tuple(replace(t, start=t.start + by, end=t.end + by) for t in reading.hashtags),
                   tuple(replace(m, start=m.start + by, end=m.end + by) for m in reading.mentions),
                   tuple(replace(link, start=link.start + by, end=link.end + by)
                         for link in reading.links))


def _merged(readings: list[Reading]) -> Reading:
    tags: dict[tuple[object, ...], Hashtag] = {}
    mentions: dict[tuple[object, ...], Mention] = {}
    links: dict[tuple[object, ...], Link] = {}
    for r in readings:
        for t in r.hashtags:
            kt = (t.start, t.end, t.key)
            tags[kt] = replace(t, readers=tags[kt].readers | t.readers) if kt in tags else t
        for m in r.mentions:
            km = (m.start, m.end, m.kind, m.value)
            mentions[km] = replace(m, readers=mentions[km].readers | m.readers) \
                if km in mentions else m
        for link in r.links:
            kl = (link.start, link.end, link.url)
            links[kl] = replace(link, readers=links[kl].readers | link.readers) \
                if kl in links else link
    return Reading(tuple(v for _, v in sorted(tags.items(), key=lambda kv: kv[0][:2])),
                   tuple(v for _, v in sorted(mentions.items(), key=lambda kv: kv[0][:2])),
                   tuple(v for _, v in sorted(links.items(), key=lambda kv: kv[0][:2])))


_Add = Callable[[int, int, "MentionKind", str, str], None]


def _user_mention(add: _Add, start: int, end: int, token: p.Token, reader: str, *,
                  dots_are_handles: bool) -> None:
    if token.extra:
        add(start, end, MentionKind.ACCT, f"{token.value}@{token.extra}", reader)
        return
    add(start, end, MentionKind.LOCAL, token.value, reader)
    if dots_are_handles and "." in token.value:
        add(start, end, MentionKind.HANDLE, token.value, reader)


def mention_keys(mention: Mention, local_domain: str | None = None) -> tuple[str, ...]:
    """The identity keys a mention may stand for.

    ``@user`` is ``user@<local_domain>`` when the instance it is published on is known; without
    one (another network, or an instance the hub does not know) it may be *any* ``user@…``, so
    it matches every identity with that user name: a rule then errs on the side of stopping.
    An address written with or without its leading ``@`` is the same address.
    """
    value = mention.value
    if mention.kind in (MentionKind.ACCT, MentionKind.EMAIL):
        return (f"addr:{value}",)
    if mention.kind is MentionKind.LOCAL:
        return (f"addr:{value}@{fold(local_domain)}",) if local_domain else (f"user:{value}",)
    if mention.kind is MentionKind.HANDLE:
        return (f"handle:{value}",)
    return (f"did:{value}",)


def identity_keys(identity: Identity) -> tuple[str, ...]:
    """The keys under which a mention finds this identity (see :func:`mention_keys`)."""
    value = fold(identity.value.strip())
    if not value.lstrip("@"):
        return ()
    if value.startswith("did:"):
        return (f"did:{value}",)
    if identity.kind is IdentityKind.EMAIL:
        return (f"addr:{value}",)
    if identity.kind is IdentityKind.MASTODON:
        user, _, domain = value.lstrip("@").partition("@")
        return (f"addr:{user}@{domain}", f"user:{user}") if domain else (f"user:{user}",)
    return (f"handle:{value.lstrip('@')}",)


def keys_of(identities: Iterable[Identity]) -> frozenset[str]:
    return frozenset(k for i in identities for k in identity_keys(i))


def without(post: Post, tokens: Iterable[Hashtag | Mention]) -> Post:
    """``post`` with these tokens taken out (tags-field entries dropped, spans cut from the text
    and content warning): what-if previews ("without #kids it would go to …")."""
    tokens = list(tokens)
    drop = {t.index for t in tokens if isinstance(t, Hashtag) and t.field is Field.TAGS}

    def cut(text: str, field: Field) -> str:
        spans = sorted((t.start, t.end) for t in tokens if t.field is field)
        out, pos = [], 0
        for start, end in spans:
            out.append(text[pos:max(pos, start)])
            pos = max(pos, end)
        return "".join(out) + text[pos:]

    cw = post.content_warning
    thread = post.thread
    if thread:   # cut each part by the spans that fall in it (spans are into the joined text)
        cuts = []
        for part, at in zip(thread, part_offsets(thread), strict=True):
            spans = sorted((max(t.start, at) - at, min(t.end, at + len(part)) - at)
                           for t in tokens if t.field is Field.TEXT
                           and t.start < at + len(part) and t.end > at)
            out, pos = [], 0
            for start, end in spans:
                out.append(part[pos:max(pos, start)])
                pos = max(pos, end)
            cuts.append("".join(out) + part[pos:])
        thread = tuple(cuts)
    return replace(post, tags=tuple(t for i, t in enumerate(post.tags) if i not in drop),
                   text=join_thread(thread) if thread else cut(post.text, Field.TEXT),
                   thread=thread,
                   content_warning=cut(cw, Field.CONTENT_WARNING) if cw is not None else None)


def utf8_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Code-point offsets to UTF-8 byte offsets (Bluesky facets' ``byteStart``/``byteEnd``)."""
    head = len(text[:start].encode())
    return head, head + len(text[start:end].encode())
