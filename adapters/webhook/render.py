"""The JSON a webhook receiver gets, built from the one post. Pure: no network, no clock.

``prepare`` fixes everything but the delivery key and the media bytes; ``body`` adds those, so
every attempt of one delivery sends the same bytes (only the timestamp header and signature
change), which is what lets a receiver drop a repeat by its ``webhook-id``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping

from adapters.webhook.spec import WebhookOptions
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.errors import ContentRejected
from hub.ports import JSON, Recipient

MAX_TEXT = 100_000
MAX_INLINE_MEDIA = 8 * 1024 * 1024   # bytes of media carried inline in one request, all files
EVENT_PUBLISHED = "post.published"
EVENT_DELETED = "post.deleted"


def payload(post: Post, target: Target, options: WebhookOptions) -> dict[str, JSON]:
    """The event without the delivery key; raises ContentRejected if it cannot be carried."""
    if len(post.text) > MAX_TEXT:
        raise ContentRejected(f"{target.name}: webhook text is limited to {MAX_TEXT} "
                              f"characters", target=target.name)
    total = sum(m.size for m in post.media)
    if total > MAX_INLINE_MEDIA:
        raise ContentRejected(f"{target.name}: a webhook carries at most "
                              f"{MAX_INLINE_MEDIA // 1024 // 1024} MiB of media inline "
                              f"(this post has {total / 1024 / 1024:.1f} MiB)",
                              target=target.name)
    media: list[JSON] = [{"sha256": m.sha256, "mime_type": m.mime_type, "alt": m.alt,
                          "size": m.size} for m in post.media]
    data: dict[str, JSON] = {
        "post_id": post.id,
        "target": target.name,
        "account": target.account,
        "text": post.text,
        "content_warning": post.content_warning,
        "language": post.language,
        "tags": list(post.tags),
        "media": media,
        "audience": {"requested": list(post.audiences), "reach": target.reach.value,
                     "list": options.list},
    }
    return {"type": EVENT_PUBLISHED, "timestamp": post.created.isoformat(), "data": data}


def recipients(options: WebhookOptions, people: PeopleSnapshot) -> tuple[Recipient, ...]:
    """The members of the declared list (by person id: the receiver's own identities are not
    known to the hub)."""
    if not options.list:
        return ()
    return tuple(Recipient(p.id, p.name, p.id, options.list)
                 for p in people.members(options.list))


def body(event: Mapping[str, JSON], *, key: str,
         media_loader: Callable[[str], bytes] | None) -> bytes:
    """The request body: the event with the delivery key and each file inline (base64)."""
    raw = event.get("data")
    data: dict[str, JSON] = dict(raw) if isinstance(raw, dict) else {}
    data["delivery_key"] = key
    files = data.get("media")
    if isinstance(files, list) and files:
        if media_loader is None:
            raise ContentRejected("this webhook target cannot read the hub's media store")
        inline: list[JSON] = []
        for item in files:
            assert isinstance(item, dict)
            content = base64.b64encode(media_loader(str(item["sha256"]))).decode()
            inline.append({**item, "content_base64": content})
        data["media"] = inline
    return canonical({**event, "data": data})


def deletion(receipt_details: Mapping[str, JSON], *, remote_id: str) -> bytes:
    """The body telling a receiver that a post it got was deleted."""
    return canonical({"type": EVENT_DELETED, "data": {
        "webhook_id": remote_id,
        "post_id": receipt_details.get("post_id"),
        "target": receipt_details.get("target"),
        "delivery_key": receipt_details.get("delivery_key"),
    }})


def canonical(value: Mapping[str, JSON]) -> bytes:
    """Stable JSON bytes (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()
