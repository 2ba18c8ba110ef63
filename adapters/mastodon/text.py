"""Mastodon's text rules, pure: how long a status counts, who it mentions, where to split.

Counting follows Mastodon's ``StatusLengthValidator``: grapheme clusters of the content warning
plus the text, where every link counts as ``characters_reserved_per_url`` (23) whatever its length
and a mention counts as ``@username`` without its domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import regex

from hub.domain.reading import read_text
from hub.errors import ContentRejected

_USERNAME = r"[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*"
# Account::MENTION_RE: not after a word character, '=' or '/', optional @domain.
MENTION_RE = re.compile(rf"(?<![=/\w])@({_USERNAME})(?:@((?:[\w-]+\.)+[\w-]*\w))?", re.IGNORECASE)
# A conservative link matcher: scheme, a host with a dot, then anything up to whitespace; trailing
# punctuation is not part of the link (as twitter-text, which Mastodon uses, decides).
_URL_RE = re.compile(r"(?<![\w@/])https?://[\w-]+(?:\.[\w-]+)+(?::\d+)?(?:[/?#][^\s<>\"]*)?",
                     re.IGNORECASE)
_TRAILING = ".,:;!?'\")]}»”’"
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
    """Spans of the links in ``text``."""
    spans = []
    for match in _URL_RE.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in _TRAILING:
            if text[end - 1] == ")" and text[match.start():end].count("(") >= \
                    text[match.start():end].count(")"):
                break
            end -= 1
        spans.append((match.start(), end))
    return spans


def mentions(text: str, *, local_domain: str) -> list[Mention]:
    """Every mention in ``text`` outside links; ``@user`` means a user of ``local_domain``."""
    link_spans = urls(text)
    found = []
    for match in MENTION_RE.finditer(text):
        if any(s <= match.start() < e for s, e in link_spans):
            continue
        found.append(Mention(match.group(1), (match.group(2) or local_domain).casefold(),
                             match.start(), match.end()))
    return found


def countable(text: str, *, url_weight: int = 23) -> str:
    """``text`` rewritten the way Mastodon measures it (links → ``x`` * weight, no domains)."""
    entities = [(s, e, "x" * url_weight) for s, e in urls(text)]
    entities += [(m.start, m.end, "@" + m.username) for m in mentions(text, local_domain="-")]
    out, pos = [], 0
    for start, end, replacement in sorted(entities):
        if start < pos:
            continue   # overlapping entity: the first one wins, as in Mastodon's extractor
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


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
    tokens = re.findall(r"\S+|\s+", text)
    pieces: list[str] = []
    current = ""
    for token in tokens:
        candidate = current + token
        if status_length(candidate.rstrip(), url_weight=url_weight) <= budget:
            current = candidate
            continue
        if token.isspace():
            pieces.append(current.rstrip())
            current = ""
            continue
        head, rest = _break_at_boundary(current)
        if status_length(rest.lstrip() + token, url_weight=url_weight) > budget:
            head, rest = current, ""
        if head.strip():
            pieces.append(head.rstrip())
        current = rest.lstrip() + token
        while status_length(current, url_weight=url_weight) > budget:
            # A single word longer than the budget: cut it between grapheme clusters, never
            # inside a link, mention or tag (links rarely get here: they count ``url_weight``).
            cut = _cut_word(current, budget, url_weight=url_weight)
            pieces.append(current[:cut])
            current = current[cut:]
    if current.strip():
        pieces.append(current.strip())
    return [p for p in (piece.strip() for piece in pieces) if p]


def _cut_word(word: str, budget: int, *, url_weight: int) -> int:
    """The longest head of ``word`` that fits ``budget``, ending between grapheme clusters and
    outside every token any reader finds; ``ContentRejected`` when a token alone is too long."""
    found = read_text(word)
    tokens = [(t.start, t.end, kind) for kind, group in
              (("tag", found.hashtags), ("mention", found.mentions), ("link", found.links))
              for t in group]
    best = 0
    end = 0
    for cluster in _GRAPHEME.findall(word):
        end += len(cluster)
        if status_length(word[:end], url_weight=url_weight) > budget:
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


def _break_at_boundary(chunk: str) -> tuple[str, str]:
    """Split ``chunk`` at its last paragraph or sentence end if that is past half of it."""
    for pattern in (r"\n\s*\n", r"[.!?…]\s"):
        ends = [m.end() for m in re.finditer(pattern, chunk)]
        if ends and ends[-1] > len(chunk) // 2 and ends[-1] < len(chunk.rstrip()):
            return chunk[:ends[-1]], chunk[ends[-1]:]
    return chunk, ""


def thread_marker(index: int, total: int) -> str:
    return f"\n\n({index}/{total})"
