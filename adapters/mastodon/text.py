"""Mastodon's text rules, pure: how long a status counts, who it mentions, where to split.

Counting follows Mastodon's ``StatusLengthValidator``: grapheme clusters of the content warning
plus the text, where every link counts as ``characters_reserved_per_url`` (23) whatever its length
and a mention counts as ``@username`` without its domain.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import regex

from hub.domain.reading import Reading, fold, read_text
from hub.errors import ContentRejected

_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class Mention:
    """One ``@user`` or ``@user@domain`` in a text, with the domain filled in."""

    username: str
    domain: str
    start: int
    end: int

    @property
    def acct(self) -> str:
        """``user@domain``, lower-cased: the form the guard compares."""
        return f"{self.username}@{self.domain}".casefold()


def graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def urls(text: str) -> list[tuple[int, int]]:
    """Spans of the links in ``text``, as Mastodon extracts them (the shared reading's)."""
    return [(link.start, link.end) for link in read_text(text).by("mastodon").links]


def mentions(text: str, *, local_domain: str) -> list[Mention]:
    """Every mention Mastodon finds in ``text`` (not inside links); ``@user`` means a user of
    ``local_domain``. From the shared reading, the one the policy judged."""
    return _mentions(read_text(text).by("mastodon"), local_domain)


def _mentions(reading: Reading, local_domain: str) -> list[Mention]:
    found = []
    for mention in reading.mentions:
        user, _, domain = mention.value.partition("@")
        found.append(Mention(user, domain or fold(local_domain), mention.start, mention.end))
    return found


def countable(text: str, *, url_weight: int = 23) -> str:
    """``text`` rewritten the way Mastodon measures it (links → ``x`` * weight, no domains)."""
    out, pos = [], 0
    for start, end, replacement in _entities(read_text(text).by("mastodon"), url_weight):
        if start < pos:
            continue   # overlapping entity: the first one wins, as in Mastodon's extractor
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _entities(reading: Reading, url_weight: int) -> list[tuple[int, int, str]]:
    """Links and mentions with what Mastodon counts in their place, by position."""
    found = [(link.start, link.end, "x" * url_weight) for link in reading.links]
    found += [(m.start, m.end, "@" + m.username) for m in _mentions(reading, "-")]
    return sorted(found)


def status_length(text: str, spoiler_text: str = "", *, url_weight: int = 23) -> int:
    """How many characters Mastodon counts for a status (content warning included)."""
    return graphemes(spoiler_text) + graphemes(countable(text, url_weight=url_weight))


def split_text(text: str, budget: int, *, url_weight: int = 23) -> list[str]:
    """Cut ``text`` into pieces of at most ``budget`` counted characters, at whitespace, never
    inside a link, mention, tag or grapheme cluster; prefer a paragraph or sentence end in the
    second half of a piece. A token longer than ``budget`` is refused (``ContentRejected``)."""
    if budget < 1:
        raise ValueError("no room for any text")
    if status_length(text, url_weight=url_weight) <= budget:
        return [text]
    measure = _Measure(text, url_weight)
    spans: list[tuple[int, int]] = []
    start = 0                                  # where the piece being filled starts
    for word in re.finditer(r"\S+", text):
        if measure.length(start, word.end()) <= budget:
            continue
        chunk = text[start:word.start()]
        head = _break_at_boundary(chunk)       # at a paragraph or sentence end, if late enough
        rest = start + head + len(chunk[head:]) - len(chunk[head:].lstrip())
        if measure.length(rest, word.end()) > budget:
            head, rest = len(chunk), word.start()
        spans.append((start, start + head))
        start = rest
        while measure.length(start, word.end()) > budget:
            # One word longer than the budget: cut it between clusters, outside its tokens.
            cut = start + _cut_word(text[start:word.end()], budget, url_weight=url_weight)
            spans.append((start, cut))
            start = cut
    spans.append((start, len(text)))
    return [p for p in (text[a:b].strip() for a, b in spans) if p]


class _Measure:
    """``status_length`` of slices of one text without re-reading it: grapheme ends and the
    links and mentions of the whole text, each counted in place when a slice holds all of it."""

    def __init__(self, text: str, url_weight: int, reading: Reading | None = None) -> None:
        self.ends = [m.end() for m in _GRAPHEME.finditer(text)]
        reading = (reading or read_text(text)).by("mastodon")
        self.entities = [(s, e, graphemes(r)) for s, e, r in _entities(reading, url_weight)]

    def _clusters(self, start: int, end: int) -> int:
        return bisect_right(self.ends, end) - bisect_right(self.ends, start)

    def length(self, start: int, end: int) -> int:
        count = self._clusters(start, end)
        for s, e, weight in self.entities[bisect_left(self.entities, (start,)):]:
            if s >= end:
                break
            if e <= end:
                count += weight - self._clusters(s, e)
        return count


def _cut_word(word: str, budget: int, *, url_weight: int) -> int:
    """The longest head of ``word`` that fits ``budget``, ending between grapheme clusters and
    outside every token any reader finds; ``ContentRejected`` when a token alone is too long."""
    found = read_text(word)
    tokens = [(t.start, t.end, kind) for kind, group in
              (("tag", found.hashtags), ("mention", found.mentions), ("link", found.links))
              for t in group]
    measure = _Measure(word, url_weight, found)
    best = 0
    for end in measure.ends:
        if measure.length(0, end) > budget:
            break
        if not any(s < end < e for s, e, _ in tokens):
            best = end
    if best:
        return best
    s, e, kind = next((t for t in tokens if t[0] == 0), (0, len(word), "word"))
    raise ContentRejected(
        f"a {kind} of {status_length(word[s:e], url_weight=url_weight)} characters "
        f"({word[s:s + 40]!r}…) is longer than one Mastodon post ({budget} characters "
        "here); it cannot be split")


def _break_at_boundary(chunk: str) -> int:
    """Where to end ``chunk``: its last paragraph or sentence end if past half of it, else all."""
    for pattern in (r"\n\s*\n", r"[.!?…]\s"):
        ends = [m.end() for m in re.finditer(pattern, chunk)]
        if ends and ends[-1] > len(chunk) // 2 and ends[-1] < len(chunk.rstrip()):
            return ends[-1]
    return len(chunk)


def thread_marker(index: int, total: int) -> str:
    return f"\n\n({index}/{total})"
