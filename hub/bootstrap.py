"""Composition root: builds the Hub from Settings. The only hub module that imports adapters."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from sqlalchemy import text

import adapters
from hub.config import Settings
from hub.crypto import SecretBox
from hub.domain.model import PeopleSnapshot, Post, Target
from hub.errors import AccountNotConnected, ContentRejected, HubError
from hub.ports import Connection, MediaLoader, Publisher, PublisherFactory, TargetSpec
from hub.runtime import Hub, PolicyState, utcnow
from hub.store.db import Database, make_engine
from hub.store.migrate import current as current_revision
from hub.store.tables import AccountRow


class DbCredentials:
    """``hub.ports.CredentialStore``: adapters persist refreshed sessions, encrypted; and a
    lock across processes so exactly one of them refreshes an account's session at a time
    (PostgreSQL advisory lock, or a file lock next to the SQLite database)."""

    def __init__(self, db: Database, box: SecretBox, lock_dir: Path) -> None:
        self._db = db
        self._box = box
        self._lock_dir = lock_dir

    async def save(self, account: str, secret: str) -> None:
        await asyncio.to_thread(self._save, account, secret)

    def _save(self, account: str, secret: str) -> None:
        with self._db.transaction() as s:
            row = s.get(AccountRow, account)
            if row is not None:
                row.secret_enc = self._box.encrypt(secret)
                row.updated = utcnow()
                s.add(row)

    async def load(self, account: str) -> str | None:
        """The latest stored secret (another process may have refreshed it)."""
        def read() -> str | None:
            with self._db.read() as s:
                row = s.get(AccountRow, account)
                return self._box.decrypt(row.secret_enc) if row and row.secret_enc else None

        return await asyncio.to_thread(read)

    @contextlib.asynccontextmanager
    async def refresh_lock(self, account: str) -> AsyncIterator[None]:
        if self._db.dialect == "postgresql":
            conn = await asyncio.to_thread(self._db.engine.connect)
            key = int.from_bytes(hashlib.sha256(account.encode()).digest()[:8], "big", signed=True)
            try:
                await asyncio.to_thread(
                    lambda: conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key}))
                yield
            finally:
                await asyncio.to_thread(
                    lambda: conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key}))
                await asyncio.to_thread(conn.close)
            return
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(account.encode()).hexdigest()[:16]
        handle = (self._lock_dir / f"refresh-{name}.lock").open("a")
        try:
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


class AccountPublishers:
    """One publisher per connected account, built on first use and kept (one client each)."""

    def __init__(self, db: Database, box: SecretBox,
                 specs: Mapping[str, type[TargetSpec]],
                 factory: Callable[[str], PublisherFactory] = adapters.load_factory,
                 overrides: Mapping[str, Publisher] | None = None,
                 media_loader: MediaLoader | None = None,
                 lock_dir: Path = Path("var/locks")) -> None:
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
                f"({row.status_reason}); reconnect with `hub accounts add {platform} {name}`")
        secret = self._box.decrypt(row.secret_enc) if row.secret_enc else None
        return self._factory(platform)(Connection(account, row.settings, secret), credentials,
                                       media_loader=self._media_loader)

    def check(self, post: Post, target: Target, people: PeopleSnapshot) -> str | None:
        try:
            publisher = self.get(target.account)
        except HubError:
            return None   # not connected: the delivery fails later with that reason
        try:
            publisher.prepare(post, target, people)
        except ContentRejected as exc:
            return exc.message
        return None

    async def forget(self, account: str) -> None:
        with self._lock:
            publisher = self._cache.pop(account, None)
        if publisher is not None:
            await _close(publisher)

    async def aclose(self) -> None:
        """Close every publisher's client (whoever built a client closes it)."""
        with self._lock:
            publishers, self._cache = list(self._cache.values()), {}
        for publisher in publishers:
            await _close(publisher)


async def _close(publisher: Publisher) -> None:
    aclose = getattr(publisher, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(publisher, "close", None)
    if close is not None:
        await asyncio.to_thread(close)


def build_hub(settings: Settings, *, publishers: Mapping[str, Publisher] | None = None,
              require_schema: bool = True) -> Hub:
    """Assemble a Hub. ``publishers`` overrides accounts with given publishers (tests, dev)."""
    key = settings.load_secret_key()
    if key is None:
        raise HubError("the hub is not initialised: run `hub init` first")
    engine = make_engine(settings.sqlalchemy_url)
    if require_schema and current_revision(engine) is None:
        engine.dispose()
        raise HubError("the database has no schema: run `hub init` (or `hub db upgrade`)")
    db = Database(engine)
    box = SecretBox(key)
    specs = adapters.TARGET_SPECS
    return Hub(settings=settings, db=db, policies=PolicyState(settings.policy_dir, specs),
               publishers=AccountPublishers(db, box, specs, overrides=publishers,
                                            media_loader=_media_reader(settings),
                                            lock_dir=settings.data_dir / "locks"), box=box)


def _media_reader(settings: Settings) -> MediaLoader:
    def read(sha256: str) -> bytes:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a media hash: {sha256[:16]!r}")
        return (settings.media_dir / sha256).read_bytes()

    return read
