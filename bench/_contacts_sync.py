"""The child process of ``bench/m_contacts.py``: syncs ``N`` followers (and ``N/5`` follows)
of one account, 80 a page as Mastodon serves them, from a generating ContactReader (the
port), into the hub of the environment (``HUB_*``), as ``hub contacts sync`` would. Prints
JSON: seconds, the longest write transaction (lock wait and hold) and how many there were.

    HUB_DATA_DIR=… HUB_POLICY_DIR=… HUB_SECRET_KEY=… python -m bench._contacts_sync ACCOUNT N
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hub.domain.model import IdentityKind
from hub.ports import Contact, ContactDirection, ContactPage

PAGE = 80


class Generated:
    """``followers`` and ``followers // 5`` follows, paged by offset."""

    platform = "mastodon"

    def __init__(self, followers: int) -> None:
        self.sizes = {ContactDirection.FOLLOWERS: followers,
                      ContactDirection.FOLLOWING: followers // 5}

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        start, total = int(cursor or 0), self.sizes[direction]
        end = min(start + PAGE, total)
        contacts = tuple(Contact(IdentityKind.MASTODON, f"@fan{i}@bench.social", str(i),
                                 f"Fan {i}") for i in range(start, end))
        return ContactPage(contacts, str(end) if end < total else None)

    async def aclose(self) -> None:
        return None


class TimedDatabase:
    """The hub's database, timing each write transaction from asking for it to its commit."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.longest = 0.0
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        t0 = time.perf_counter()
        with self._db.transaction() as s:
            yield s
        self.longest = max(self.longest, time.perf_counter() - t0)
        self.count += 1


def main(account: str, n: int) -> None:
    from hub.bootstrap import build_hub
    from hub.config import Settings
    from hub.services.contacts import sync_account

    hub = build_hub(Settings(), require_policy=False)
    timed = TimedDatabase(hub.db)
    hub = dataclasses.replace(hub, db=timed)
    t0 = time.perf_counter()
    results = asyncio.run(sync_account(hub, account, Generated(n)))
    seconds = time.perf_counter() - t0
    assert all(r.done for r in results), results
    print(json.dumps({"seconds": seconds, "longest_tx_ms": timed.longest * 1000,
                      "transactions": timed.count,
                      "relationships": sum(r.seen for r in results)}))
    hub.db.dispose()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
