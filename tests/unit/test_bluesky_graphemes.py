"""Grapheme clusters as the PDS counts them (the differential test against the PDS itself is in
tests/integration/bluesky/test_bluesky_graphemes.py)."""

from __future__ import annotations

import pytest

from adapters.bluesky import graphemes

FAMILY = "👩\u200d👩\u200d👧\u200d👦"


@pytest.mark.parametrize(("text", "clusters"), [
    ("", []),
    ("ab\r\n\n", ["a", "b", "\r\n", "\n"]),
    ("e\u0301\u0323x", ["e\u0301\u0323", "x"]),
    (FAMILY + "a", [FAMILY, "a"]),
    ("🇺🇦🇵🇹🇫", ["🇺🇦", "🇵🇹", "🇫"]),
    ("1\ufe0f\u20e3#", ["1\ufe0f\u20e3", "#"]),
    ("\u1100\u1161\u11a8\uac00\u11a8", ["\u1100\u1161\u11a8", "\uac00\u11a8"]),
    ("\u0915\u094d\u0937\u093f", ["\u0915\u094d\u0937\u093f"]),            # GB9c conjunct
    ("\u0905\u094d\u0915", ["\u0905\u094d", "\u0915"]),                    # vowel + virama: no
    ("\u0915\u094d\u200d\u0937", ["\u0915\u094d\u200d\u0937"]),            # ZWJ inside conjunct
    ("\u0600\u0661", ["\u0600\u0661"]),                                    # prepend
    ("\u263a\u200d\u2764", ["\u263a\u200d\u2764"]),                        # GB11, BMP pictographs
    ("a\u200d\u2764", ["a\u200d", "\u2764"]),                              # ZWJ after a letter
    ("\r\u0301", ["\r", "\u0301"]),                                        # GB4 before GB9
], ids=repr)
def test_clusters_follow_uax29_as_icu_does(text: str, clusters: list[str]) -> None:
    assert graphemes.clusters(text) == clusters
    assert graphemes.count(text) == len(clusters)
    assert graphemes.ends(text)[-1:] == ([len(text)] if text else [])


def test_ascii_fast_path_agrees_with_the_rules() -> None:
    text = "a\r\nb\n\rc\x00\t "
    assert graphemes.count(text) == len(graphemes.ends(text)) == 9
