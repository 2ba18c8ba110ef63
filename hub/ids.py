"""Identifiers: short random ids for rows, TIDs for delivery keys."""

from __future__ import annotations

import secrets
from datetime import datetime

from hub.domain.tid import make_tid


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(7)}"


def new_delivery_key(now: datetime, n: int = 0) -> str:
    """A TID unique per delivery: time in µs (+n for deliveries created together)."""
    micros = int(now.timestamp() * 1_000_000) + n * 16
    return make_tid(micros, secrets.randbelow(1024))
