"""Generated text for the grapheme tests: the cluster kinds the PDS must count as the adapter does.

``corpus(n, seed)`` mixes Indic scripts with viramas and conjuncts, emoji (ZWJ sequences,
modifiers, keycaps, tag flags), regional-indicator flags, combining stacks, Hangul jamo, CR/LF and
other controls, prepend and spacing marks, and code points of every grapheme class drawn from the
adapter's table, plus any code point at all. ``KINDS`` are one sample cluster per kind, for the
300/301 boundary at the PDS.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from adapters.bluesky._grapheme_table import RUNS

ZWJ, ZWNJ, VS16, VS15, KEYCAP = "\u200d", "\u200c", "\ufe0f", "\ufe0e", "\u20e3"
_STARTS = [run >> 7 for run in RUNS] + [0x110000]
_VIRAMAS = [_STARTS[i] for i, run in enumerate(RUNS) if run >> 4 & 3 == 3]     # InCB=Linker
_INDIC_BLOCKS = [(0x0900, 0x0DFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x1A20, 0x1AAF),
                 (0x1B00, 0x1BBF), (0xA980, 0xA9DF), (0xAAE0, 0xAAFF), (0x10A00, 0x10A5F),
                 (0x11000, 0x11FFF)]
_COMBINING = [(0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF),
              (0xFE20, 0xFE2F)]
_PICTOGRAPHS = [(0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF),
                (0x1FA70, 0x1FAFF), (0x2600, 0x27BF), (0x1FC00, 0x1FFFD)]
_HANGUL = [(0x1100, 0x115F), (0xA960, 0xA97C), (0x1160, 0x11A7), (0xD7B0, 0xD7C6),
           (0x11A8, 0x11FF), (0xD7CB, 0xD7FB), (0xAC00, 0xD7A3)]
_PREPEND = [0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605, 0x06DD, 0x070F, 0x0890, 0x0891,
            0x08E2, 0x0D4E, 0x110BD, 0x110CD, 0x111C2, 0x111C3, 0x1193F, 0x11941, 0x11A3A,
            0x11A84, 0x11D46, 0x11F02]
_CONTROLS = ["\r", "\n", "\r\n", "\t", "\x00", "\x1f", "\x7f", "\x85", "\u200b", "\u2028",
             "\u2029", "\ufeff", "\U000e0001"]

Piece = Callable[[random.Random], str]


def _from(ranges: list[tuple[int, int]]) -> Piece:
    def piece(rng: random.Random) -> str:
        low, high = rng.choice(ranges)
        return chr(rng.randint(low, high))
    return piece


def _indic(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return chr(rng.choice(_VIRAMAS))
    if roll < 0.4:
        return rng.choice((ZWJ, ZWNJ))
    low, high = rng.choice(_INDIC_BLOCKS[:8] if roll < 0.9 else _INDIC_BLOCKS)
    return chr(rng.randint(low, high))


def _emoji(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return _from(_PICTOGRAPHS)(rng)
    if roll < 0.5:
        return ZWJ
    if roll < 0.6:
        return chr(rng.randint(0x1F3FB, 0x1F3FF))                 # skin-tone modifiers
    if roll < 0.7:
        return rng.choice((VS16, VS15))
    if roll < 0.8:
        return rng.choice("0123456789#*") + rng.choice((VS16, "")) + KEYCAP
    if roll < 0.9:                                                 # tag sequence (🏴 + tags)
        return "\U0001F3F4" + "".join(chr(rng.randint(0xE0020, 0xE007E))
                                      for _ in range(rng.randint(0, 5))) + "\U000E007F"
    return chr(rng.randint(0xE0020, 0xE007F))


def _flag(rng: random.Random) -> str:
    return chr(rng.randint(0x1F1E6, 0x1F1FF))


def _combining(rng: random.Random) -> str:
    return _from(_COMBINING)(rng) if rng.random() < 0.7 else rng.choice("aeoöZ語\u0627")


def _control(rng: random.Random) -> str:
    return rng.choice(_CONTROLS) if rng.random() < 0.8 else rng.choice(" x")


def _prepend(rng: random.Random) -> str:
    return chr(rng.choice(_PREPEND)) if rng.random() < 0.5 else _classy(rng)


def _classy(rng: random.Random) -> str:
    """A code point from a random run of the table whose class is not Other."""
    while True:
        index = rng.randrange(len(RUNS))
        if RUNS[index] & 0x7F:
            code = rng.randint(_STARTS[index], _STARTS[index + 1] - 1)
            if not 0xD800 <= code <= 0xDFFF:
                return chr(code)


def _any(rng: random.Random) -> str:
    code = rng.randint(0, 0x10FFFF - 0x800)
    return chr(code + 0x800 if code >= 0xD800 else code)           # no lone surrogates


PIECES: dict[str, Piece] = {
    "indic": _indic, "emoji": _emoji, "flag": _flag, "combining": _combining,
    "hangul": _from(_HANGUL), "control": _control, "prepend": _prepend, "classy": _classy,
    "any": _any,
}


def corpus(n: int, seed: int = 29, pieces: tuple[int, int] = (1, 16)) -> list[str]:
    """``n`` strings of ``pieces`` (1 to 16) pieces from one to three kinds."""
    rng = random.Random(seed)
    names = list(PIECES)
    texts = []
    for _ in range(n):
        kinds = [PIECES[k] for k in rng.sample(names, rng.randint(1, 3))]
        texts.append("".join(rng.choice(kinds)(rng) for _ in range(rng.randint(*pieces))))
    return texts


# A unit of text per kind for the 300/301 boundary: one cluster, except where the point is how a
# sequence splits (a consonant after vowel + virama starts a cluster: two; regex's \X sees one).
KINDS: dict[str, str] = {
    "ascii": "a",
    "crlf": "\r\n",
    "combining-stack": "e\u0301\u0323\u0308",
    "hangul-jamo": "\u1100\u1161\u11a8",
    "hangul-lv-t": "\uac00\u11a8",
    "flag": "\U0001F1FA\U0001F1E6",
    "tag-flag": "\U0001F3F4\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
    "keycap": "1\ufe0f\u20e3",
    "skin-tone": "\U0001F44B\U0001F3FD",
    "zwj-family": "\U0001F469\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466",
    "zwj-bmp": "\u263a\u200d\u2764",
    "devanagari-conjunct": "\u0915\u094d\u0937",
    "bengali-conjunct": "\u0995\u09cd\u09b7",
    "malayalam-chillu-zwj": "\u0d15\u0d4d\u200d\u0d15",
    "khmer-coeng": "\u1780\u17d2\u1780",
    "vowel-virama": "\u0905\u094d",
    "vowel-virama-consonant": "\u0905\u094d\u0915",
    "spacing-mark": "\u0915\u093e",
    "prepend": "\u0600\u0661",
}
