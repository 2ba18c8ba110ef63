"""The Mastodon publisher: put a draft on one account exactly once, edit it, delete it.

Every status carries an ``Idempotency-Key`` (the delivery key for the first, ``offset_tid`` of it
for the others) and is checkpointed in ``Steps`` as soon as the server answers, so a retried job
resumes where the last attempt stopped. Uploads are checkpointed too (they have no key).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import mimetypes
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from mastodon import Mastodon

from adapters.mastodon._errors import UnexpectedMentions
from adapters.mastodon.audience import (
    FollowersSnapshot,
    account_ids,
    followers_snapshot,
    full_acct,
    receipt_audience,
)
from adapters.mastodon.client import Client
from adapters.mastodon.limits import AccountSettings
from adapters.mastodon.render import render
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.domain.tid import offset_tid
from hub.errors import NotFound, PermanentDeliveryError, TransientDeliveryError
from hub.ports import JSON, Draft, Receipt, Steps

MediaLoader = Callable[[str], bytes]
_WIDTH = {"direct": 0, "private": 1, "unlisted": 2, "public": 3}


class MastodonPublisher:
    """Publishes to one Mastodon account (see ``adapters.mastodon.build``)."""

    platform: ClassVar[str] = "mastodon"

    def __init__(self, settings: AccountSettings, client: Client,
                 media_loader: MediaLoader | None = None) -> None:
        self.settings = settings
        self.client = client
        self.media_loader = media_loader

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        return render(post, target, people, self.settings)

    def close(self) -> None:
        """Close the HTTP session (the publisher is unusable afterwards)."""
        self.client.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        payload = draft.payload
        visibility = str(payload["visibility"])
        groups = _groups(payload)
        plan = _digest({"groups": payload["groups"], "visibility": visibility,
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
                        media_ids = await self._upload(payload, g, steps)
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
        mentioned = {m for s in statuses for m in _strs(s["mentions"])}
        expected = {a for recipients, _ in groups for a in recipients}
        details: dict[str, JSON] = {
            "visibility": visibility,
            "visibility_returned": statuses[0]["visibility"],
            "statuses": [{k: s[k] for k in ("id", "url", "group", "part")} for s in statuses],
            "groups": [[a for a in recipients] for recipients, _ in groups],
            "media": [sha for sha in _media_shas(payload)],
            "quote_policy": _str(payload.get("quote_policy")),
            "audience": receipt_audience(visibility, mentioned=mentioned, expected=expected,
                                         followers=followers),
        }
        return Receipt(remote_id=str(statuses[0]["id"]), url=_str(statuses[0]["url"]),
                       details=details)

    async def edit(self, receipt: Receipt, draft: Draft, *, steps: Steps) -> Receipt:
        """Edit every status of ``receipt`` in place (``PUT /api/v1/statuses/:id``).

        Visibility, addressees, the number of posts and media cannot change by an edit: such a
        draft is refused (delete and publish again instead)."""
        payload = draft.payload
        old = _statuses(receipt)
        groups = _groups(payload)
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
        if "media" in receipt.details and receipt.details["media"] != _media_shas(payload):
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
        alts = [str(m.get("alt") or "") for m in _media_items(payload)]
        quotes = _str(payload.get("quote_policy"))
        version = _digest({"parts": texts, "cw": payload.get("spoiler_text"), "alts": alts,
                           "sensitive": payload.get("sensitive"), "quotes": quotes})[:16]
        for status, text in zip(old, texts, strict=True):
            name = f"edit:{version}:{status['id']}"
            if await steps.get(name) is not None:
                continue
            sid = str(status["id"])
            attributes = await self._media_attributes(steps, status, alts)

            def update(api: Mastodon, sid: str = sid, text: str = text,
                       attributes: list[dict[str, Any]] | None = attributes) -> Any:
                return api.status_update(sid, text,
                                         spoiler_text=_str(payload["spoiler_text"]) or "",
                                         sensitive=bool(payload["sensitive"]),
                                         media_attributes=attributes)

            await self.client.call("edit the status", update)
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

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        for status in reversed(_statuses(receipt)):
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
        for acct in _strs(draft.payload.get("text_mentions")):
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
            if quotes := _str(payload.get("quote_policy")):
                # Through the session, not status_post(quote_approval_policy=...): Mastodon.py
                # 2.3.3 then also sends its local ``valid_policies`` list as form fields.
                fields["quote_approval_policy"] = [quotes]

            def post(api: Mastodon) -> Any:
                return api.status_post(
                    text, in_reply_to_id=reply_to, media_ids=media_ids or None,
                    sensitive=bool(payload["sensitive"]), visibility=visibility,
                    spoiler_text=_str(payload["spoiler_text"]) or None,
                    language=_str(payload.get("language")), idempotency_key=key)

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
        return {"id": str(status["id"]), "url": _str(status.get("url")), "visibility": returned,
                "mentions": [a for a in sorted(full_acct(m["acct"], domain)
                                               for m in status["mentions"])]}

    async def _upload(self, payload: Mapping[str, JSON], group: int, steps: Steps) -> list[str]:
        media = payload.get("media")
        ids = []
        for j, item in enumerate(media if isinstance(media, list) else []):
            assert isinstance(item, dict)
            name = f"media:{group}:{j}"
            media_id = await steps.get(name)
            if media_id is None:
                media_id = await self._upload_one(item)
                await steps.record(name, media_id)
            await self._wait_processed(media_id)
            ids.append(media_id)
        return ids

    async def _upload_one(self, item: Mapping[str, JSON]) -> str:
        if self.media_loader is None:
            raise PermanentDeliveryError("this post has media but the Mastodon adapter was built "
                                         "without a media loader", platform=self.platform)
        loader = self.media_loader
        sha, mime = str(item["sha256"]), str(item["mime_type"])
        name = sha[:16] + (mimetypes.guess_extension(mime) or ".bin")

        def upload(api: Mastodon) -> Any:
            return api.media_post(loader(sha), mime_type=mime, file_name=name,
                                  description=_str(item.get("alt")) or None)

        attachment = await self.client.call("upload the media", upload)
        return str(attachment["id"])

    async def _wait_processed(self, media_id: str) -> None:
        """Poll ``GET /api/v1/media/:id`` (206 while processing) until it has a URL."""
        deadline = time.monotonic() + self.settings.media_wait
        while True:
            attachment = await self.client.call("check the media",
                                                lambda api: api.media(media_id))
            if attachment.get("url"):
                return
            if time.monotonic() >= deadline:
                raise TransientDeliveryError(
                    f"media {media_id} is still processing", platform=self.platform,
                    retry_after=self.settings.media_poll_interval * 5)
            await asyncio.sleep(self.settings.media_poll_interval)


def _groups(payload: Mapping[str, JSON]) -> list[tuple[list[str], list[str]]]:
    groups = payload.get("groups")
    assert isinstance(groups, list)
    return [(_strs(g.get("recipients")), _strs(g.get("parts")))
            for g in groups if isinstance(g, dict)]


def _media_items(payload: Mapping[str, JSON]) -> list[dict[str, JSON]]:
    media = payload.get("media")
    return [m for m in media if isinstance(m, dict)] if isinstance(media, list) else []


def _media_shas(payload: Mapping[str, JSON]) -> list[str]:
    return [str(m["sha256"]) for m in _media_items(payload)]


def _statuses(receipt: Receipt) -> list[dict[str, Any]]:
    statuses = receipt.details.get("statuses")
    if not isinstance(statuses, list) or not statuses:
        return [{"id": receipt.remote_id, "group": 0, "part": 0}]
    return [s for s in statuses if isinstance(s, dict)]


def _strs(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
