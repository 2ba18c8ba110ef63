"""Render one hub post for a Bluesky target, purely: text parts, facets, labels, media, gates.

The result (:class:`Plan`) travels in ``Draft.payload`` as JSON, so ``publish`` needs nothing but
the draft. Limits are the PDS's: 300 graphemes and 3000 UTF-8 bytes per post, 4 images.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate

import regex
from pydantic import ValidationError

import adapters.bluesky.facets as fx
import adapters.bluesky.graphemes as graphemes
from adapters.bluesky.spec import BlueskyOptions
from hub.domain.model import IdentityKind, PeopleSnapshot, Post, Target
from hub.domain.reading import read_post, read_text
from hub.errors import ContentRejected
from hub.ports import JSON, Draft

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
MAX_IMAGES = 4
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_BREAKS = (regex.compile(r"\n\s*\n"),                       # paragraph
           regex.compile(r"(?<=[.!?…][\"'”’)\]]*)\s+|(?<=[。！？])"),  # sentence
           regex.compile(r"\s+"))                              # word
# Bluesky only honours a few self-labels, and they blur media, not text (see notes in render()).
_LABEL_WORDS = (
    ("porn", ("porn", "explicit", "xxx")),
    ("sexual", ("nsfw", "sexual", "sex", "lewd", "18+", "suggestive")),
    ("nudity", ("nude", "nudity", "naked")),
    ("graphic-media", ("gore", "blood", "graphic", "violence", "violent", "injury", "death",
                       "medical", "surgery", "corpse")),
)


@dataclass(frozen=True)
class Part:
    text: str
    facets: list[dict[str, JSON]]
    mentions: list[fx.Mention] = field(default_factory=list)   # to resolve when publishing


@dataclass(frozen=True)
class Plan:
    """Everything ``publish`` writes, as decided by ``prepare``."""

    parts: list[Part]
    langs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)   # sha256, mime, alt
    card: dict[str, JSON] | None = None                          # {"uri", "part"}
    reply_rules: list[str] | None = None        # None: anyone; []: nobody
    lists: dict[str, list[str]] = field(default_factory=dict)   # hub list -> member DIDs
    quotes: bool = True

    def to_json(self) -> dict[str, JSON]:
        return {
            "v": 1,
            "parts": [{"text": p.text, "facets": list(p.facets),
                       "mentions": [m.to_json() for m in p.mentions]} for p in self.parts],
            "langs": list(self.langs), "labels": list(self.labels), "tags": list(self.tags),
            "images": [dict(i) for i in self.images], "card": self.card,
            "reply_rules": None if self.reply_rules is None else list(self.reply_rules),
            "lists": {k: list(v) for k, v in self.lists.items()}, "quotes": self.quotes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Plan:
        def strs(value: JSON) -> list[str]:
            return [str(v) for v in value] if isinstance(value, list) else []

        def dicts(value: JSON) -> list[dict[str, JSON]]:
            return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

        parts = [Part(str(raw["text"]), dicts(raw.get("facets")),
                      [fx.Mention.from_json(m) for m in dicts(raw.get("mentions"))])
                 for raw in dicts(data["parts"])]
        rules = data.get("reply_rules")
        lists = data.get("lists")
        card = data.get("card")
        return cls(
            parts=parts, langs=strs(data.get("langs")), labels=strs(data.get("labels")),
            tags=strs(data.get("tags")),
            images=[{k: str(v) for k, v in i.items()} for i in dicts(data.get("images"))],
            card=card if isinstance(card, dict) else None,
            reply_rules=None if rules is None else strs(rules),
            lists={k: strs(v) for k, v in lists.items()} if isinstance(lists, dict) else {},
            quotes=bool(data.get("quotes", True)),
        )


def fits(text: str) -> bool:
    return fx.utf8_len(text) <= MAX_BYTES and fx.graphemes(text) <= MAX_GRAPHEMES


def split(text: str, *, target: str | None = None) -> list[str]:
    """Cut ``text`` into posts that each fit, at paragraph, sentence or word breaks when possible
    (never before half a post), otherwise at a grapheme boundary; never inside a grapheme
    cluster, link, mention or tag. A token longer than one post is refused (``ContentRejected``).
    """
    text = text.strip()
    found = read_text(text)
    tokens = sorted([(t.start, t.end, "tag") for t in found.hashtags]
                    + [(m.start, m.end, "mention") for m in found.mentions]
                    + [(link.start, link.end, "link") for link in found.links])
    inside = _Inside(tokens)
    # Clusters and bytes of the whole text; a slice between two cluster ends has the same
    # clusters when the PDS counts it alone (UAX #29 joins never reach back past a boundary).
    ends = graphemes.ends(text)
    offsets = list(accumulate((len(c.encode()) for c in text), initial=0))
    parts: list[str] = []
    start = 0
    while True:
        first = bisect_right(ends, start)
        last = bisect_right(ends, offsets[start] + MAX_BYTES, lo=first,
                            hi=min(first + MAX_GRAPHEMES, len(ends)), key=offsets.__getitem__)
        if last == len(ends):                       # the rest fits one post
            break
        window = ends[first:last]
        cut = _cut(text, start, window, inside)
        if cut is None:
            raise ContentRejected(_too_long(text, start, ends[first], tokens), target=target)
        if text[start:cut].strip():
            parts.append(text[start:cut].rstrip())
        start = len(text) - len(text[cut:].lstrip())
    if text[start:]:
        parts.append(text[start:])
    return parts


class _Inside:
    """Whether a position falls strictly inside one of the tokens (links, mentions, tags)."""

    def __init__(self, tokens: list[tuple[int, int, str]]) -> None:
        merged: list[list[int]] = []
        for s, e, _ in tokens:
            if merged and s < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]

    def __call__(self, at: int) -> bool:
        index = bisect_left(self.starts, at) - 1
        return index >= 0 and at < self.ends[index]


def _cut(text: str, start: int, window: list[int], inside: _Inside) -> int | None:
    """Where to end the post that starts at ``start`` and may take the clusters ending at
    ``window``: a late paragraph, sentence or word break, else the last safe cluster end."""
    if not window:
        return None
    bounds = set(window)
    limit = window[-1]

    def safe(at: int) -> bool:
        return at in bounds and not inside(at)

    chunk = text[start:limit]
    for pattern in _BREAKS:
        breaks: list[int] = [m.start() or m.end() for m in pattern.finditer(chunk)
                             if m.start() >= len(chunk) // 2]
        cuts = [start + at for at in breaks if safe(start + at)]
        if cuts:
            return cuts[-1]
    return next((end for end in reversed(window) if safe(end)), None)


def _too_long(text: str, start: int, first: int, tokens: list[tuple[int, int, str]]) -> str:
    for s, e, kind in tokens:
        if s <= start < e:
            return (f"a {kind} of {graphemes.count(text[s:e])} graphemes / "
                    f"{fx.utf8_len(text[s:e])} bytes ({text[s:s + 40]!r}…) is longer than one "
                    f"Bluesky post ({MAX_GRAPHEMES} / {MAX_BYTES}); it cannot be split")
    return (f"one grapheme cluster of {fx.utf8_len(text[start:first])} bytes is longer than a "
            f"Bluesky post ({MAX_BYTES} bytes)")


def labels_for(warning: str) -> list[str]:
    words = warning.casefold()
    return [label for label, keys in _LABEL_WORDS
            if any(regex.search(rf"(?<![\w]){regex.escape(k)}(?![\w])", words) for k in keys)]


def _people_dids(people: PeopleSnapshot) -> dict[str, str]:
    """handle -> DID for people whose Bluesky identities include both."""
    known: dict[str, str] = {}
    for person in people.people.values():
        values = [i.value.strip().lstrip("@").lower() for i in person.identities
                  if i.kind == IdentityKind.BLUESKY]
        dids = [v for v in values if v.startswith("did:")]
        if dids:
            known.update({v: dids[0] for v in values if not v.startswith("did:")})
    return known


def _list_dids(name: str, people: PeopleSnapshot, notes: list[str]) -> list[str]:
    dids: list[str] = []
    missing: list[str] = []
    for person in people.members(name):
        found = [i.value.strip() for i in person.identities
                 if i.kind == IdentityKind.BLUESKY and i.value.strip().startswith("did:")]
        if found:
            dids.append(found[0])
        else:
            missing.append(person.name)
    if missing:
        notes.append(f"reply list {name!r}: no Bluesky DID for {', '.join(missing)}; "
                     "they are left out of the Bluesky list")
    notes.append(f"reply list {name!r} is published as a public Bluesky list of "
                 f"{len(dids)} account(s): anyone can see who is on it")
    return sorted(set(dids))


def _texts(written: list[str], *, split_allowed: bool, target: str) -> list[str]:
    """The posts of the chain: each written part as it is when it fits; one that does not is
    split further if the target allows it, else refused naming the part."""
    texts: list[str] = []
    for n, text in enumerate(written, 1):
        if fits(text):
            texts.append(text)
            continue
        which = "text" if len(written) == 1 else f"thread part {n}"
        if not split_allowed:
            raise ContentRejected(
                f"{which} is {fx.graphemes(text)} graphemes / {fx.utf8_len(text)} bytes; Bluesky "
                f"allows {MAX_GRAPHEMES} / {MAX_BYTES} and this target does not allow splitting",
                target=target)
        texts += split(text, target=target)
    return texts


def render(post: Post, target: Target, people: PeopleSnapshot) -> Draft:
    """The pure half of publishing: see the module docstring. Raises ``ContentRejected``."""
    try:
        options = BlueskyOptions.model_validate(dict(target.options))
    except ValidationError as exc:
        raise ContentRejected(f"bad Bluesky options: {exc}", target=target.name) from exc
    notes = ["Bluesky is world-readable: reply and quote controls do not limit who can read"]
    written = [p.strip() for p in post.thread] or [post.text.strip()]   # a thread: its parts
    text = written[0]
    labels: list[str] = []
    if post.content_warning:
        # No general content warning exists on Bluesky; the words go first, as bridges do.
        text = written[0] = f"CW: {post.content_warning.strip()}\n\n{text}"
        labels = labels_for(post.content_warning)
        notes.append("content warning shown as the first line" + (
            f" and self-label(s) {', '.join(labels)} (they blur media only)" if labels else ""))
    if not text and not post.media:
        raise ContentRejected("nothing to post: no text and no media", target=target.name)
    images = []
    for media in post.media:
        if not media.mime_type.startswith("image/"):
            raise ContentRejected(f"Bluesky posts carry images only, not {media.mime_type}",
                                  target=target.name)
        if not media.alt.strip():
            notes.append(f"image {media.sha256[:12]} has no alt text")
        images.append({"sha256": media.sha256, "mime": media.mime_type, "alt": media.alt})
    if len(images) > MAX_IMAGES:
        raise ContentRejected(f"{len(images)} images; a Bluesky post carries at most "
                              f"{MAX_IMAGES}", target=target.name)
    texts = _texts(written, split_allowed=options.split, target=target.name)
    if len(written) > 1:
        notes.append(f"posted as the thread you wrote: {len(written)} parts, each a reply to "
                     "the one before")
    dids = _people_dids(people)
    judged = read_post(post).tags_by_key.keys()     # a tag facet must be one the policy read
    parts = [Part(t, *fx.detect(t, dids, judged=judged)) for t in texts]
    for mention in (m for p in parts for m in p.mentions):
        notes.append(f"@{mention.handle}: resolved when publishing; stays plain text if unknown")
    card: dict[str, JSON] | None = None
    if options.link_cards and not images:
        linked = [(n, uri) for n, p in enumerate(parts) if (uri := fx.first_link(p.facets))]
        card = {"uri": linked[0][1], "part": linked[0][0]} if linked else None
    lists = {}
    for rule in options.threadgate or []:
        if rule.startswith("list:"):
            lists[rule[5:]] = _list_dids(rule[5:], people, notes)
    langs = [post.language] if post.language and _LANG.match(post.language) else []
    tags = [t.lstrip("#") for t in post.tags if t.lstrip("#")]
    tags = [t for t in tags if fx.graphemes(t) <= 64 and fx.utf8_len(t) <= 640][:8]
    plan = Plan(parts=parts, langs=langs, labels=labels, tags=tags, images=images, card=card,
                reply_rules=list(options.threadgate) if options.threadgate is not None else None,
                lists=lists, quotes=options.quotes)
    sizes = [fx.graphemes(p.text) for p in parts]
    counter = (f"{sizes[0]}/{MAX_GRAPHEMES} graphemes" if len(sizes) == 1 else
               f"thread of {len(sizes)}: " + " + ".join(map(str, sizes)) + " graphemes")
    return Draft(platform="bluesky", account=target.account, target=target.name,
                 parts=tuple(texts), payload=plan.to_json(), counter=counter, notes=tuple(notes))
