"""Mastodon thread splitting never cuts inside a link, mention, tag or grapheme cluster, and a
token longer than one post is refused with its reason."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.mastodon.text import split_text, status_length
from hub.domain.reading import read_text
from hub.errors import ContentRejected

FAMILY = "👩\u200d👩\u200d👧\u200d👦"
PIECES = st.sampled_from([
    "https://example.com/a(b)", "https://x.org/p?q=1", "#kids", "#Ki\u200dds", "＃tag", "#tag!",
    "@ana", "@ana@example.social", "(@bo@x.example)", FAMILY, "👋🏽", "🇺🇦", "e\u0301", "क्ष",
    "\u0301", " ", "\n\n", ". ", ",", "x", "語", "#", "@", "y" * 30,
])


def cuts(text: str, parts: list[str]) -> list[int]:
    out, pos = [], 0
    for part in parts:
        pos = text.index(part, pos) + len(part)
        out.append(pos)
    return out[:-1]


@settings(max_examples=200, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=120).map("".join), st.integers(40, 200))
def test_pieces_fit_and_no_cut_falls_inside_a_token_or_cluster(text: str, budget: int) -> None:
    text = text.strip()
    try:
        pieces = split_text(text, budget)
    except ContentRejected as refused:
        assert "is longer than one Mastodon post" in str(refused)
        return
    assert all(status_length(p) <= budget for p in pieces)
    found = read_text(text)
    spans = [(t.start, t.end) for t in (*found.hashtags, *found.mentions, *found.links)]
    bounds = {0, *(m.end() for m in regex.finditer(r"\X", text))}
    for cut in cuts(text, pieces):
        assert cut in bounds
        assert not any(s < cut < e for s, e in spans), (cut, text[max(0, cut - 20):cut + 20])


def test_a_long_word_is_cut_between_clusters() -> None:
    word = FAMILY * 150
    pieces = split_text(word, 100)
    assert "".join(pieces) == word and [len(p) for p in pieces] == [700, 350]


@pytest.mark.parametrize(("token", "kind"), [("#" + "a" * 300, "tag"),
                                             ("@" + "b" * 300 + "@example.social", "mention")])
def test_a_token_longer_than_one_post_is_refused(token: str, kind: str) -> None:
    with pytest.raises(ContentRejected, match=f"a {kind} of .* longer than one Mastodon post"):
        split_text("before " + token + " after", 100)
