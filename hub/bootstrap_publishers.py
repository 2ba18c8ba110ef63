"""Composition root, part two: one publisher per connected account, built from the adapters
(:class:`AccountPublishers`), and the media reader they load images with. Only the
composition root (``hub/bootstrap*.py``) imports ``adapters``."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

import adapters
from hub.config import Settings
from hub.crypto import SecretBox
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.errors import AccountNotConnected, ContentRejected, HubError
from hub.ports import (
    Connection,
    Draft,
    MediaLoader,
    Publisher,
    PublisherFactory,
    TargetSpec,
)
from hub.store.credentials import DbCredentials
from hub.store.db import Database
from hub.store.tables import AccountRow

KEPT_DRAFTS = 256
"""Drafts rendered by ``check`` at submit, kept for the in-process delivery (embedded mode)."""


class AccountPublishers:
    """One publisher per connected account, built on first use and kept (one client each).

    Render once: with ``keep_drafts`` (embedded mode, where the delivery runs in this process)
    the draft ``check`` renders at submit is kept, and ``prepare`` hands it to the delivery if
    the post, the target and the people snapshot (the same object: the book did not change)
    are the ones it was rendered for; anything else renders again. Kept drafts are bounded
    (``KEPT_DRAFTS``, oldest dropped) and dropped with their account's publisher."""

    def __init__(self, db: Database, box: SecretBox,
                 specs: Mapping[str, type[TargetSpec]],
                 factory: Callable[[str], PublisherFactory] = adapters.load_factory,
                 overrides: Mapping[str, Publisher] | None = None,
                 media_loader: MediaLoader | None = None,
                 lock_dir: Path = Path("var/locks"), keep_drafts: bool = False) -> None:
        self._keep_drafts = keep_drafts
        self._drafts: OrderedDict[tuple[str, str],
                                  tuple[Post, Target, PeopleSnapshot, Draft]] = OrderedDict()
        self._media_loader = media_loader
        self._lock_dir = lock_dir
        self._db = db
        self._box = box
        self._specs = specs
        self._factory = factory
        self._overrides = dict(overrides or {})
        self._cache: dict[str, Publisher] = {}
        self._lock = threading.Lock()

    def get(self, account: str) -> Publisher:
        if account in self._overrides:
            return self._overrides[account]
        with self._lock:
            if account not in self._cache:
                self._cache[account] = self._build(account)
            return self._cache[account]

    def fresh(self, account: str) -> Publisher:
        """A new publisher of its own for ``account`` (not cached: for a caller on another
        event loop, such as an anchor sink on a worker thread; it closes it itself)."""
        if account in self._overrides:
            return self._overrides[account]
        return self._build(account)

    def _build(self, account: str) -> Publisher:
        platform, _, name = account.partition(":")
        spec = self._specs.get(platform)
        if spec is None:
            raise AccountNotConnected(f"no adapter for platform {platform!r}")
        credentials = DbCredentials(self._db, self._box, self._lock_dir)
        if not spec.needs_connection:
            return self._factory(platform)(Connection(account, {}), credentials,
                                           media_loader=self._media_loader)
        with self._db.read() as s:
            row = s.get(AccountRow, account)
        if row is None:
            raise AccountNotConnected(
                f"account {account} is not connected: run `hub accounts add {platform} {name}`")
        if row.status == "rejected":
            raise AccountNotConnected(
                f"account {account}: the platform rejected its credentials "
                f"({row.status_reason}); it needs reconnecting: on the Accounts page "
                f"(/accounts) or with `hub accounts add {platform} {name}`")
        secret = self._box.decrypt(row.secret_enc) if row.secret_enc else None
        return self._factory(platform)(Connection(account, row.settings, secret), credentials,
                                       media_loader=self._media_loader)

    def check(self, post: Post, target: Target, people: PeopleSnapshot) -> str | None:
        try:
            publisher = self.get(target.account)
        except HubError:
            return None   # not connected: the delivery fails later with that reason
        try:
            sent = post.as_sent_to(target)   # the text this target gets (its variant)
            draft = publisher.prepare(sent, target, people)
        except ContentRejected as exc:
            return exc.message
        if self._keep_drafts:
            with self._lock:
                self._drafts[(post.id, target.name)] = (sent, target, people, draft)
                while len(self._drafts) > KEPT_DRAFTS:
                    self._drafts.popitem(last=False)
        return None

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        with self._lock:
            kept = self._drafts.pop((post.id, target.name), None)
        if kept is not None and kept[0] == post and kept[1] == target and kept[2] is people:
            return kept[3]
        return self.get(target.account).prepare(post, target, people)

    async def forget(self, account: str) -> None:
        with self._lock:
            publisher = self._cache.pop(account, None)
            for key in [k for k, v in self._drafts.items() if v[1].account == account]:
                del self._drafts[key]
        if publisher is not None:
            await _close(publisher)

    async def aclose(self) -> None:
        """Close every publisher's client (whoever built a client closes it)."""
        with self._lock:
            publishers, self._cache = list(self._cache.values()), {}
        for publisher in publishers:
            await _close(publisher)


async def _close(publisher: Publisher) -> None:
    await publisher.aclose()



def media_reader(settings: Settings) -> MediaLoader:
    def read(sha256: str) -> bytes:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a media hash: {sha256[:16]!r}")
        return (settings.media_dir / sha256).read_bytes()

    return read
