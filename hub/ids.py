"""Identifiers: short random ids for rows, TIDs for delivery keys."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime

from hub.domain.tid import make_tid

_lock = threading.Lock()
_last_micros = 0


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(7)}"


def new_delivery_key(now: datetime) -> str:
    """A TID for a new delivery: strictly increasing within this process (so keys created in
    the same microsecond, or under a test clock, never collide) with a random clock id for
    other processes; the unique constraint catches the remaining 1-in-1024 chance."""
    global _last_micros
    with _lock:
        _last_micros = max(int(now.timestamp() * 1_000_000), _last_micros + 1)
        micros = _last_micros
    return make_tid(micros, secrets.randbelow(1024))
