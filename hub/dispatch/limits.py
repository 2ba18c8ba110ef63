"""How many deliveries to one account may be published at once, in this process: a limit that
protects the platforms (rate limits, politeness), not the hub, which starts every due delivery
at once. ``HUB_ACCOUNT_CONCURRENCY`` sets it; each event loop gets its own semaphores."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AccountLimits:
    def __init__(self, per_account: int) -> None:
        self.per_account = per_account
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def account(self, account: str) -> AsyncIterator[None]:
        """Hold one of ``account``'s slots while publishing to it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            semaphores = self._loops.setdefault(loop, {})
            semaphore = semaphores.setdefault(account, asyncio.Semaphore(self.per_account))
        async with semaphore:
            yield
