"""How an audit event is hashed: its canonical JSON body, its chain digest, its Merkle leaf."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

GENESIS = "0" * 64


class EventLike(Protocol):
    """The fields of an audit row that its hash covers."""

    name: str
    created: Any
    actor: str
    post_id: str | None
    delivery_id: str | None
    subject: str | None
    policy_digest: str | None
    payload: dict[str, Any]


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def event_body(row: EventLike) -> str:
    """The canonical JSON an event's hash (and its Merkle leaf) covers."""
    return canonical({
        "name": row.name, "created": row.created.isoformat(), "actor": row.actor,
        "post_id": row.post_id, "delivery_id": row.delivery_id, "subject": row.subject,
        "policy_digest": row.policy_digest, "payload": row.payload,
    })


def row_digest(prev_hash: str, row: EventLike) -> str:
    return hashlib.sha256((prev_hash + event_body(row)).encode()).hexdigest()


def leaf_data(seq: int, prev_hash: str, digest: str, body: str) -> bytes:
    """An event as a Merkle leaf: ``hub-audit-event/1``, seq, prev hash, hash, body (lines)."""
    return f"hub-audit-event/1\n{seq}\n{prev_hash}\n{digest}\n{body}".encode()
