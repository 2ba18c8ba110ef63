"""Timestamp identifiers (atproto TIDs): 13 base32-sortable chars, 53-bit µs time + 10-bit clock id.

Every delivery key is a TID chosen when the delivery row is created, so one value serves as the
Bluesky record key, the Mastodon ``Idempotency-Key`` and the email ``Message-ID`` local part.
"""

from __future__ import annotations

import re

_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def make_tid(micros: int, clock_id: int) -> str:
    """TID for ``micros`` since the Unix epoch and a clock id in 0..1023."""
    if not 0 <= clock_id < 1024:
        raise ValueError("clock_id must be in 0..1023")
    value = ((micros & ((1 << 53) - 1)) << 10) | clock_id
    chars = []
    for _ in range(13):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def tid_parts(tid: str) -> tuple[int, int]:
    """Inverse of :func:`make_tid`: ``(micros, clock_id)``."""
    if not TID_RE.match(tid):
        raise ValueError(f"not a TID: {tid!r}")
    value = 0
    for ch in tid:
        value = (value << 5) | _ALPHABET.index(ch)
    return value >> 10, value & 1023


def offset_tid(tid: str, n: int) -> str:
    """The TID ``n`` microseconds after ``tid`` (same clock id): keys for thread part ``n``."""
    micros, clock = tid_parts(tid)
    return make_tid(micros + n, clock)
