"""Grapheme clusters exactly as the Bluesky PDS counts them: ``Intl.Segmenter`` in its Node.

The PDS validates ``maxGraphemes`` with ``Intl.Segmenter``, which is ICU's implementation of the
extended grapheme clusters of UAX #29. Python's ``regex`` ``\\X`` disagrees with it (it joins a
virama that follows a vowel to the next consonant, which GB9c does not, and it follows a newer
Unicode), so a post it counts as 300 can be refused. This module applies the UAX #29 rules to the
character classes of the ICU that the test PDS's Node bundles (``_grapheme_table.py``, generated
by ``scripts/gen-grapheme-table``); ``tests/integration/bluesky/test_bluesky_graphemes.py``
checks it against the PDS's own ``graphemeLen`` on generated text.
"""

from __future__ import annotations

from bisect import bisect_right

from adapters.bluesky._grapheme_table import ICU_VERSION, RUNS, UNICODE_VERSION

__all__ = ["ICU_VERSION", "UNICODE_VERSION", "clusters", "count", "ends"]

_STARTS = [run >> 7 for run in RUNS]
_CLASSES = [run & 0x7F for run in RUNS]
# Grapheme_Cluster_Break, as numbered by the generator (low 4 bits of a class).
(OTHER, CR, LF, CONTROL, EXTEND, ZWJ, REGIONAL, PREPEND, SPACING_MARK,
 L, V, T, LV, LVT) = range(14)
# Indic_Conjunct_Break (bits 4-5) and Extended_Pictographic (bit 6).
CONSONANT, INCB_EXTEND, LINKER = 1, 2, 3
_BREAKERS = (CR, LF, CONTROL)


def _class(char: str) -> int:
    return _CLASSES[bisect_right(_STARTS, ord(char)) - 1]


def ends(text: str) -> list[int]:
    """The index just past each grapheme cluster of ``text``, in order (the last is ``len``)."""
    if not text:
        return []
    found: list[int] = []
    klass = _class(text[0])
    before = klass & 15
    conjunct = 1 if klass >> 4 & 3 == CONSONANT else 0   # 1: consonant [extend]*, 2: +linker
    emoji = klass >> 6                                  # 1: pictograph extend*, 2: + ZWJ
    regional = 1 if before == REGIONAL else 0            # regional indicators in a row
    for index in range(1, len(text)):
        klass = _class(text[index])
        gcb, incb, pictograph = klass & 15, klass >> 4 & 3, klass >> 6
        if before == CR and gcb == LF:                                       # GB3
            joined = True
        elif before in _BREAKERS or gcb in _BREAKERS:                         # GB4, GB5
            joined = False
        elif (before == L and gcb in (L, V, LV, LVT)                          # GB6
              or before in (LV, V) and gcb in (V, T)                          # GB7
              or before in (LVT, T) and gcb == T):                            # GB8
            joined = True
        else:
            joined = (gcb in (EXTEND, ZWJ, SPACING_MARK)                     # GB9, GB9a
                      or before == PREPEND                                   # GB9b
                      or (incb == CONSONANT and conjunct == 2)               # GB9c
                      or (pictograph and before == ZWJ and emoji == 2)       # GB11
                      or (gcb == REGIONAL and before == REGIONAL and regional % 2 == 1))  # GB12/13
        if not joined:
            found.append(index)
        if incb == CONSONANT:
            conjunct = 1
        elif conjunct and incb == LINKER:
            conjunct = 2
        elif not (conjunct and incb == INCB_EXTEND):
            conjunct = 0
        if pictograph:
            emoji = 1
        elif emoji == 1 and gcb == ZWJ:
            emoji = 2
        elif not (emoji == 1 and gcb == EXTEND):
            emoji = 0
        regional = regional + 1 if gcb == REGIONAL else 0
        before = gcb
    found.append(len(text))
    return found


def count(text: str) -> int:
    """How many graphemes the PDS counts in ``text``."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(ends(text))


def clusters(text: str) -> list[str]:
    """``text`` cut into its grapheme clusters."""
    out: list[str] = []
    start = 0
    for end in ends(text):
        out.append(text[start:end])
        start = end
    return out
