"""Reading the Mastodon draft payload (built by ``render``) and receipt (built by
``publish``): small typed accessors shared by publishing, media uploads and edits."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from hub.ports import JSON, Receipt


def groups_of(payload: Mapping[str, JSON]) -> list[tuple[list[str], list[str]]]:
    groups = payload.get("groups")
    assert isinstance(groups, list)
    return [(strs(g.get("recipients")), strs(g.get("parts")))
            for g in groups if isinstance(g, dict)]


def media_items(payload: Mapping[str, JSON]) -> list[dict[str, JSON]]:
    media = payload.get("media")
    return [m for m in media if isinstance(m, dict)] if isinstance(media, list) else []


def media_shas(payload: Mapping[str, JSON]) -> list[str]:
    return [str(m["sha256"]) for m in media_items(payload)]


def statuses_of(receipt: Receipt) -> list[dict[str, Any]]:
    statuses = receipt.details.get("statuses")
    if not isinstance(statuses, list) or not statuses:
        return [{"id": receipt.remote_id, "group": 0, "part": 0}]
    return [s for s in statuses if isinstance(s, dict)]


def strs(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
