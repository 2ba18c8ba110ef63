"""Mastodon media: upload each image once per delivery (checkpointed in ``Steps``: an upload
has no idempotency key) and wait until the server has processed it."""

from __future__ import annotations

import asyncio
import mimetypes
import time
from collections.abc import Callable, Mapping
from typing import Any

from mastodon import Mastodon

from adapters.mastodon._payload import str_or_none
from adapters.mastodon.client import Client
from adapters.mastodon.limits import AccountSettings
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.ports import JSON, Steps

MediaLoader = Callable[[str], bytes]
PLATFORM = "mastodon"


class MediaUploader:
    """Uploads a draft's images for one account."""

    def __init__(self, settings: AccountSettings, client: Client,
                 loader: MediaLoader | None) -> None:
        self.settings = settings
        self.client = client
        self.media_loader = loader

    async def upload(self, payload: Mapping[str, JSON], group: int, steps: Steps) -> list[str]:
        """The media ids of group ``group``'s images, uploading those not recorded yet."""
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
                                         "without a media loader", platform=PLATFORM)
        loader = self.media_loader
        sha, mime = str(item["sha256"]), str(item["mime_type"])
        name = sha[:16] + (mimetypes.guess_extension(mime) or ".bin")

        def upload(api: Mastodon) -> Any:
            return api.media_post(loader(sha), mime_type=mime, file_name=name,
                                  description=str_or_none(item.get("alt")) or None)

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
                    f"media {media_id} is still processing", platform=PLATFORM,
                    retry_after=self.settings.media_poll_interval * 5)
            await asyncio.sleep(self.settings.media_poll_interval)
