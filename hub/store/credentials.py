"""``hub.ports.CredentialStore`` over the accounts table: refreshed sessions stored encrypted,
and a cross-process lock so exactly one process refreshes an account's session at a time."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from hub.crypto import SecretBox
from hub.store.db import Database
from hub.store.tables import AccountRow


class DbCredentials:
    """Adapters persist refreshed sessions, encrypted; ``refresh_lock`` is a PostgreSQL
    advisory lock, or a file lock next to the SQLite database."""

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
                row.updated = datetime.now(UTC)
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
