"""Opaque, signed page cursors for the list pages (posts, queue, deliveries, audit index).

A cursor names the last row of a page (its sort key and id) and the list it belongs to, with a
MAC so a changed cursor is refused with a reason instead of silently paging somewhere else.

Usage: ``c = encode(hub, "posts", key, row_id)``; ``key, row_id = decode(hub, "posts", c)``.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from hub.crypto import same
from hub.errors import InvalidInput
from hub.runtime import Hub

MAX_CURSOR = 200


def encode(hub: Hub, kind: str, key: datetime, row_id: str) -> str:
    body = f"{key.astimezone(UTC).isoformat()}|{row_id}"
    packed = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{packed}.{hub.box.sign('cursor:' + kind, packed, length=16)}"


def decode(hub: Hub, kind: str, cursor: str, *, field: str = "cursor") -> tuple[datetime, str]:
    """The (sort key, id) a cursor names; ``InvalidInput`` (400) saying why it is refused."""
    if len(cursor) > MAX_CURSOR:
        raise InvalidInput(f"{field} is longer than any cursor this hub gives out", field=field)
    packed, dot, mac = cursor.rpartition(".")
    if not dot or not same(mac, hub.box.sign("cursor:" + kind, packed, length=16)):
        raise InvalidInput(f"{field} was changed or is not a cursor of this list: follow the "
                           "page's own Older link, or start again from the first page",
                           field=field)
    try:
        raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)).decode()
        when, _, row_id = raw.partition("|")
        key = datetime.fromisoformat(when)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(f"{field} is not a cursor this hub gave out", field=field) from None
    if not row_id or key.tzinfo is None:
        raise InvalidInput(f"{field} is not a cursor this hub gave out", field=field)
    return key, row_id
