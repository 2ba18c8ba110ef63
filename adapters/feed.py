"""Private Atom feeds served by the hub (``/feeds/{feed}.atom?token=...``).

Publishing records the post as delivered to the feed; the web layer renders each member's feed
from the deliveries whose who-could-see snapshot includes that member, so a person added to the
list later never sees posts from before (the audit stays true).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from adapters.feed_spec import FeedOptions
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.ports import (
    JSON,
    Connection,
    CredentialStore,
    Draft,
    MediaLoader,
    Receipt,
    Recipient,
    Steps,
)


def feed_name(options: Mapping[str, object]) -> str:
    parsed = FeedOptions.model_validate(dict(options))
    return parsed.feed or parsed.list


class FeedPublisher:
    platform: ClassVar[str] = "feed"

    def __init__(self, account: str) -> None:
        self.account = account

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        options = FeedOptions.model_validate(dict(target.options))
        name = options.feed or options.list
        recipients = tuple(Recipient(p.id, p.name, p.id, options.list)
                           for p in people.members(options.list))
        return Draft(platform=self.platform, account=self.account, target=target.name,
                     parts=(post.text,), recipients=recipients, payload={"feed": name},
                     counter=f"{len(recipients)} readers")

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        feed = str(draft.payload["feed"])
        return Receipt(remote_id=f"feed:{feed}:{key}", url=f"/feeds/{feed}.atom",
                       details={"feed": feed})

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        return None   # the web layer stops listing deleted posts

    async def aclose(self) -> None:
        """Nothing to close: this publisher holds no client."""


def build(connection: Connection, credentials: CredentialStore, *,
          media_loader: MediaLoader | None = None) -> FeedPublisher:
    return FeedPublisher(connection.account)


async def connect(settings: Mapping[str, JSON], secret: str) -> tuple[dict[str, JSON], str]:
    return dict(settings), ""
