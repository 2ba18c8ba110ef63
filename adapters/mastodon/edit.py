"""Editing published Mastodon statuses in place (``PUT /api/v1/statuses/:id``): text, content
warning, sensitivity, language (sent through the client's request seam: Mastodon.py's
``status_update`` has no ``language``), alt text (``media_attributes``) and who may quote;
anything an edit
cannot carry is refused with what to do instead."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mastodon import Mastodon

from adapters.mastodon._payload import (
    digest,
    groups_of,
    media_items,
    media_shas,
    statuses_of,
    str_or_none,
)
from adapters.mastodon.audience import FollowersSnapshot, followers_snapshot
from adapters.mastodon.client import Client
from hub.errors import PermanentDeliveryError
from hub.ports import Draft, Receipt, Steps


class StatusEditor:
    """Edits one account's statuses; ``guard_private`` refuses a followers-only text that
    mentions a non-follower (the publisher's own check)."""

    platform = "mastodon"

    def __init__(self, client: Client,
                 guard_private: Callable[[Draft, FollowersSnapshot], object]) -> None:
        self.client = client
        self._guard_private = guard_private

    async def edit(self, receipt: Receipt, draft: Draft, *, steps: Steps) -> Receipt:
        """Edit every status of ``receipt`` in place (``PUT /api/v1/statuses/:id``).

        Visibility, addressees, the number of posts and media cannot change by an edit: such a
        draft is refused (delete and publish again instead)."""
        payload = draft.payload
        old = statuses_of(receipt)
        groups = groups_of(payload)
        if payload["visibility"] != receipt.details.get("visibility"):
            raise PermanentDeliveryError(
                f"{draft.target}: an edit never changes visibility "
                f"({receipt.details.get('visibility')} -> {payload['visibility']}); "
                "delete and publish again", platform=self.platform)
        shape = [(g, i) for g, (_, parts) in enumerate(groups) for i in range(len(parts))]
        if shape != [(int(s["group"]), int(s["part"])) for s in old]:
            raise PermanentDeliveryError(
                f"{draft.target}: the edited text needs {len(shape)} posts where {len(old)} were "
                "sent; delete and publish again", platform=self.platform)
        if "media" in receipt.details and receipt.details["media"] != media_shas(payload):
            raise PermanentDeliveryError(
                f"{draft.target}: the attachments changed; delete and publish again",
                platform=self.platform)
        sent_to = receipt.details.get("groups")
        if isinstance(sent_to, list) and sent_to != [r for r, _ in groups]:
            raise PermanentDeliveryError(
                f"{draft.target}: the list's Mastodon members changed since publishing; an "
                "edit would mention other people: delete and publish again",
                platform=self.platform)
        if payload["visibility"] == "private":
            self._guard_private(draft, await followers_snapshot(self.client))
        texts = [text for _, parts in groups for text in parts]
        alts = [str(m.get("alt") or "") for m in media_items(payload)]
        quotes = str_or_none(payload.get("quote_policy"))
        language = str_or_none(payload.get("language"))
        version = digest({"parts": texts, "cw": payload.get("spoiler_text"), "alts": alts,
                           "sensitive": payload.get("sensitive"), "quotes": quotes,
                           **({"language": language} if language else {})})[:16]
        fields = {"language": [language]} if language else None
        for status, text in zip(old, texts, strict=True):
            name = f"edit:{version}:{status['id']}"
            if await steps.get(name) is not None:
                continue
            sid = str(status["id"])
            attributes = await self._media_attributes(steps, status, alts)

            def update(api: Mastodon, sid: str = sid, text: str = text,
                       attributes: list[dict[str, Any]] | None = attributes) -> Any:
                return api.status_update(sid, text,
                                         spoiler_text=str_or_none(payload["spoiler_text"]) or "",
                                         sensitive=bool(payload["sensitive"]),
                                         media_attributes=attributes)

            await self.client.call("edit the status", update, status_fields=fields)
            if quotes is not None and quotes != receipt.details.get("quote_policy"):

                def requote(api: Mastodon, sid: str = sid, quotes: str = quotes) -> Any:
                    return api.status_update_quote_approval_policy(sid, quotes)

                await self.client.call("change who may quote the status", requote)
            await steps.record(name, sid)
        details = {**receipt.details, "edited": version}
        if quotes is not None:
            details["quote_policy"] = quotes
        return Receipt(remote_id=receipt.remote_id, url=receipt.url, details=details)

    async def _media_attributes(self, steps: Steps, status: Mapping[str, Any],
                                alts: list[str]) -> list[dict[str, Any]] | None:
        """``media_attributes`` with the new alt texts for the first status of a group (the
        one carrying the media), from the upload ids its publish recorded."""
        if not alts or int(status["part"]) != 0:
            return None
        ids = [await steps.get(f"media:{status['group']}:{j}") for j in range(len(alts))]
        if any(i is None for i in ids):
            raise PermanentDeliveryError(
                "the alt text cannot be changed: the ids of the uploaded media were not kept; "
                "delete and publish again", platform=self.platform)
        return [{"id": i, "description": alt} for i, alt in zip(ids, alts, strict=True)]
