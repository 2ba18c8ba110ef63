"""The Mastodon publisher: put a draft on one account exactly once, edit it, delete it
(media uploads: :mod:`~adapters.mastodon.media`; edits: :mod:`~adapters.mastodon.edit`).

Every status carries an ``Idempotency-Key`` (the delivery key for the first, ``offset_tid`` of it
for the others) and is checkpointed in ``Steps`` as soon as the server answers, so a retried job
resumes where the last attempt stopped. Uploads are checkpointed too (they have no key).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mastodon import Mastodon

from adapters.mastodon._errors import UnexpectedMentions
from adapters.mastodon._payload import (
    digest,
    groups_of,
    media_shas,
    statuses_of,
    str_or_none,
    strs,
)
from adapters.mastodon.audience import (
    FollowersSnapshot,
    account_ids,
    followers_snapshot,
    full_acct,
    receipt_audience,
)
from adapters.mastodon.client import Client
from adapters.mastodon.edit import StatusEditor
from adapters.mastodon.limits import AccountSettings
from adapters.mastodon.media import MediaLoader, MediaUploader
from adapters.mastodon.render import render
from adapters.mastodon.text import status_length
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.domain.tid import offset_tid
from hub.errors import NotFound, PermanentDeliveryError
from hub.ports import JSON, Draft, Receipt, Size, Steps

_WIDTH = {"direct": 0, "private": 1, "unlisted": 2, "public": 3}


class MastodonPublisher:
    """Publishes to one Mastodon account (see ``adapters.mastodon.build``)."""

    platform: ClassVar[str] = "mastodon"

    def __init__(self, settings: AccountSettings, client: Client,
                 media_loader: MediaLoader | None = None) -> None:
        self.settings = settings
        self.client = client
        self.media_loader = media_loader
        self.media = MediaUploader(settings, client, media_loader)
        self.editor = StatusEditor(client, self._guard_private)

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        return render(post, target, people, self.settings)

    def measure(self, text: str, *, content_warning: str = "", first: bool = True) -> Size:
        """Characters as this instance counts a status (links count its URL weight; every
        post of a thread carries the content warning)."""
        limit = self.settings.limit("max_characters")
        used = status_length(text.strip(), content_warning,
                             url_weight=self.settings.limit("characters_reserved_per_url"))
        return Size(used, limit, "characters", used <= limit)

    def close(self) -> None:
        """Close the HTTP session (the publisher is unusable afterwards)."""
        self.client.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        payload = draft.payload
        visibility = str(payload["visibility"])
        groups = groups_of(payload)
        plan = digest({"groups": payload["groups"], "visibility": visibility,
                        "media": payload.get("media")})
        recorded = await steps.get("plan")
        if recorded is None:
            await steps.record("plan", plan)
        elif recorded != plan:
            raise PermanentDeliveryError(
                f"{draft.target}: the draft changed after part of it was published; "
                "delete what was sent and publish again", platform=self.platform)
        followers = None
        own = [self.settings.account_id] if self.settings.account_id else []
        allowed: list[str] | None = None
        if visibility == "private":
            followers = await self._followers(steps)
            allowed = sorted(set(own + self._guard_private(draft, followers)))
        statuses: list[dict[str, JSON]] = []
        index = 0
        for g, (recipients, parts) in enumerate(groups):
            if visibility == "direct":
                allowed = None     # looked up when this group first needs to post
            media_ids: list[str] = []
            previous: str | None = None
            for i, text in enumerate(parts):
                name = f"status:{index}"
                raw = await steps.get(name)
                if raw is None:
                    if allowed is None and self.settings.supports_allowed_mentions:
                        ids = await account_ids(self.client, recipients)
                        allowed = sorted(set(own) | set(ids.values()))
                    if i == 0 and payload.get("media") and not media_ids:
                        media_ids = await self.media.upload(payload, g, steps)
                    status = await self._post(
                        text, payload, visibility, previous, media_ids if i == 0 else [],
                        key if index == 0 else offset_tid(key, index), allowed or [],
                        recipients)
                    raw = json.dumps(status)
                    await steps.record(name, raw)
                status = json.loads(raw)
                status.update(group=g, part=i)
                statuses.append(status)
                previous = str(status["id"])
                index += 1
        mentioned = {m for s in statuses for m in strs(s["mentions"])}
        expected = {a for recipients, _ in groups for a in recipients}
        details: dict[str, JSON] = {
            "visibility": visibility,
            "visibility_returned": statuses[0]["visibility"],
            "statuses": [{k: s[k] for k in ("id", "url", "group", "part")} for s in statuses],
            "groups": [[a for a in recipients] for recipients, _ in groups],
            "media": [sha for sha in media_shas(payload)],
            "quote_policy": str_or_none(payload.get("quote_policy")),
            "audience": receipt_audience(visibility, mentioned=mentioned, expected=expected,
                                         followers=followers),
        }
        return Receipt(remote_id=str(statuses[0]["id"]), url=str_or_none(statuses[0]["url"]),
                       details=details)

    async def edit(self, receipt: Receipt, draft: Draft, *, steps: Steps) -> Receipt:
        """Edit every status of ``receipt`` in place (:mod:`adapters.mastodon.edit`)."""
        return await self.editor.edit(receipt, draft, steps=steps)

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        for status in reversed(statuses_of(receipt)):
            sid = str(status["id"])
            name = f"deleted:{sid}"
            if await steps.get(name) is not None:
                continue

            def remove(api: Mastodon, sid: str = sid) -> Any:
                return api.status_delete(sid)

            with contextlib.suppress(NotFound):   # already gone: deleting is safe to repeat
                await self.client.call("delete the status", remove)
            await steps.record(name, "1")

    # -- publishing helpers ------------------------------------------------------------------

    async def _followers(self, steps: Steps) -> FollowersSnapshot:
        raw = await steps.get("followers")
        if raw is not None:
            return FollowersSnapshot.from_json(raw)
        snapshot = await followers_snapshot(self.client)
        await steps.record("followers", snapshot.to_json())
        return snapshot

    def _guard_private(self, draft: Draft, followers: FollowersSnapshot) -> list[str]:
        """Refuse a followers-only text that mentions a non-follower; return the allowed ids."""
        allowed = []
        for acct in strs(draft.payload.get("text_mentions")):
            if acct not in followers.accounts:
                raise PermanentDeliveryError(
                    f"{draft.target}: the text mentions @{acct}, who does not follow "
                    f"{self.settings.acct}; a mention would let them read this followers-only "
                    "post", platform=self.platform)
            allowed.append(followers.accounts[acct])
        return sorted(allowed)

    async def _post(self, text: str, payload: Mapping[str, JSON], visibility: str,
                    reply_to: str | None, media_ids: list[str], key: str, allowed: list[str],
                    recipients: Sequence[str]) -> dict[str, JSON]:
        for attempt in range(2):
            fields = {"allowed_mentions[]": allowed} if (
                visibility in ("private", "direct") and self.settings.supports_allowed_mentions
            ) else {}
            if quotes := str_or_none(payload.get("quote_policy")):
                # Through the session, not status_post(quote_approval_policy=...): Mastodon.py
                # 2.3.3 then also sends its local ``valid_policies`` list as form fields.
                fields["quote_approval_policy"] = [quotes]

            def post(api: Mastodon) -> Any:
                return api.status_post(
                    text, in_reply_to_id=reply_to, media_ids=media_ids or None,
                    sensitive=bool(payload["sensitive"]), visibility=visibility,
                    spoiler_text=str_or_none(payload["spoiler_text"]) or None,
                    language=str_or_none(payload.get("language")), idempotency_key=key)

            try:
                status = await self.client.call("post the status", post,
                                                status_fields=fields or None)
            except UnexpectedMentions as exc:
                # The server resolved (over WebFinger) an addressee that /accounts/lookup did not
                # know yet: allow exactly those, once. Anyone else stays refused.
                domain = self.settings.domain
                extra = {i for i, acct in exc.accounts if full_acct(acct, domain) in recipients}
                if attempt or len(extra) != len(exc.accounts):
                    raise
                allowed = sorted(set(allowed) | extra)
                continue
            return await self._checked(status, visibility)
        raise AssertionError("unreachable")

    async def _checked(self, status: Mapping[str, Any], visibility: str) -> dict[str, JSON]:
        returned = str(status["visibility"])
        if _WIDTH.get(returned, 99) > _WIDTH[visibility]:
            sid = str(status["id"])
            await self.client.call("delete the status", lambda api: api.status_delete(sid))
            raise PermanentDeliveryError(
                f"the instance stored the post as {returned!r} instead of {visibility!r}; "
                "it was deleted again", platform=self.platform)
        domain = self.settings.domain
        return {"id": str(status["id"]), "url": str_or_none(status.get("url")),
                "visibility": returned,
                "mentions": [a for a in sorted(full_acct(m["acct"], domain)
                                               for m in status["mentions"])]}
