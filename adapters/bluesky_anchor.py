"""Anchor sink: post each signed audit checkpoint on the owner's own Bluesky account.

Explicit opt-in (``HUB_AUDIT_ANCHOR_BLUESKY``): the post is public, and the relays copy and
timestamp it, so anyone can later hold the hub to it; nobody, not even the owner, can quietly
take it back everywhere. The record key is derived from the checkpoint, so publishing the same
checkpoint again finds the post instead of writing a second one. ``notes`` reads the account's
checkpoint posts back for ``hub audit verify``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from hub.audit.anchors import AnchorError
from hub.domain.tid import make_tid
from hub.errors import HubError
from hub.ports import JSON, Publisher

if TYPE_CHECKING:
    from adapters.bluesky.publish import BlueskyPublisher

COLLECTION = "app.bsky.feed.post"
HEADER = "Signed checkpoint of my hub's audit log (check it with hub audit verify):"
MAX_GRAPHEMES = 300


def post_text(note: str) -> str:
    return f"{HEADER}\n\n{note.rstrip()}"


def rkey(root_hex: str) -> str:
    """A valid TID chosen by the checkpoint's root: the same checkpoint, the same record."""
    return make_tid(int(root_hex[:13], 16) & ((1 << 53) - 1), int(root_hex[13:16], 16) % 1024)


class BlueskyAnchorSink:
    """Posts checkpoints with the account's own publisher, built fresh for each use (the sink
    runs on a thread of its own, away from the publishers' event loop)."""

    kind: ClassVar[str] = "bluesky"

    def __init__(self, account: str, publisher: Callable[[], Publisher]) -> None:
        self.account = account
        self._publisher = publisher

    @property
    def name(self) -> str:
        return f"bluesky:{self.account}"

    def _repo(self) -> BlueskyPublisher:
        from adapters.bluesky.publish import BlueskyPublisher  # (the adapter imports late)

        try:
            publisher = self._publisher()
        except HubError as exc:
            raise AnchorError(f"Bluesky anchor: {exc.message}") from exc
        if not isinstance(publisher, BlueskyPublisher):
            raise AnchorError(f"Bluesky anchor: {self.account} is not a Bluesky account")
        return publisher

    def publish(self, note: str, *, tree_size: int, root_hex: str) -> str:
        text = post_text(note)
        if len(text) > MAX_GRAPHEMES:
            raise AnchorError(f"Bluesky anchor: the checkpoint is {len(text)} characters, "
                              f"more than a post holds ({MAX_GRAPHEMES}); use a shorter "
                              "origin (HUB_PUBLIC_URL's host)")
        return asyncio.run(self._post(text, rkey(root_hex)))

    async def _post(self, text: str, key: str) -> str:
        from adapters.bluesky.repo import create

        publisher = self._repo()
        try:
            await publisher.repo.ready()     # log in (the account's stored session if any)
            found = await publisher.repo.get(COLLECTION, key)
            if found is not None:
                return found[0].uri
            record: dict[str, JSON] = {"$type": COLLECTION, "text": text, "langs": ["en"],
                      "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
            [ref] = await publisher.repo.apply_writes([create(COLLECTION, key, record)],
                                                      "post the audit checkpoint")
            return ref.uri
        except HubError as exc:
            raise AnchorError(f"Bluesky anchor: {exc.message}") from exc
        finally:
            await publisher.aclose()

    def notes(self) -> list[str]:
        return asyncio.run(self._notes())

    async def _notes(self) -> list[str]:
        publisher = self._repo()
        try:
            await publisher.repo.ready()
            records = await publisher.repo.list(COLLECTION)
        except HubError as exc:
            raise AnchorError(f"Bluesky anchor: {exc.message}") from exc
        finally:
            await publisher.aclose()
        out = []
        for _, value in records:
            text = value.get("text")
            if isinstance(text, str) and text.startswith(HEADER + "\n\n"):
                out.append(text[len(HEADER) + 2:] + "\n")
        return out
