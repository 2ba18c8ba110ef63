"""A real Publisher that keeps what it publishes in memory: for tests and local development.

It behaves like a careful platform: a repeated ``key`` returns the first receipt (idempotency),
an edit in place is recorded once per text,
``fail_next(n, error)`` makes the next n publishes raise, and ``limit`` refuses long text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import ClassVar

from hub.domain.model import IdentityKind, PeopleSnapshot, Post, Reach, Target
from hub.errors import ContentRejected, DeliveryError
from hub.ports import Draft, Receipt, Recipient, Size, Steps

_IDENTITY = {"email": IdentityKind.EMAIL, "mastodon": IdentityKind.MASTODON,
             "bluesky": IdentityKind.BLUESKY}


@dataclass
class FakePublisher:
    account: str
    limit: int = 500
    platform: ClassVar[str] = "fake"
    published: dict[str, Draft] = field(default_factory=dict)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    edited: list[tuple[str, Draft]] = field(default_factory=list)   # (remote id, new draft)
    calls: int = 0
    _failures: list[DeliveryError] = field(default_factory=list)

    def fail_next(self, n: int, error: DeliveryError) -> None:
        self._failures.extend([error] * n)

    def measure(self, text: str, *, content_warning: str = "", first: bool = True) -> Size:
        return Size(len(text.strip()), self.limit, "characters", len(text.strip()) <= self.limit)

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        for n, part in enumerate(post.parts, 1):   # a thread: each part is one post
            if len(part) > self.limit:
                which = "text" if len(post.parts) == 1 else f"thread part {n}"
                raise ContentRejected(f"{target.name}: {which} is {len(part)} characters; "
                                      f"{self.account} takes {self.limit}", target=target.name)
        recipients: tuple[Recipient, ...] = ()
        kind = _IDENTITY.get(target.platform)
        if target.list_name and target.reach is Reach.RECIPIENTS and kind:
            recipients = tuple(
                Recipient(p.id, p.name, ident.value, target.list_name)
                for p in people.members(target.list_name)
                if (ident := p.identity(kind)) is not None)
        return Draft(platform=target.platform, account=self.account, target=target.name,
                     parts=post.parts, recipients=recipients,
                     payload={"post_id": post.id}, counter=f"{len(post.text)}/{self.limit}")

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        self.calls += 1
        if self._failures:
            raise self._failures.pop(0)
        if key not in self.receipts:
            self.published[key] = draft
            self.receipts[key] = Receipt(remote_id=f"{self.account}/{key}",
                                         url=f"https://fake.invalid/{key}")
        return self.receipts[key]

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        self.deleted.append(receipt.remote_id)

    async def edit(self, receipt: Receipt, draft: Draft, *, steps: Steps) -> Receipt:
        """Edit in place (``hub.ports.Editor``), once per distinct text."""
        name = "edit:" + hashlib.sha256("\x00".join(draft.parts).encode()).hexdigest()[:16]
        if self._failures:
            raise self._failures.pop(0)
        if await steps.get(name) is None:
            self.edited.append((receipt.remote_id, draft))
            await steps.record(name, "1")
        return receipt

    async def aclose(self) -> None:
        """Nothing to close: this publisher holds no client."""
