"""Who can read a Mastodon post: followers snapshots, recipient ids, and the receipt's audience.

``private`` reaches the followers at send time (a lower bound unless the account is locked) plus
anyone mentioned; ``direct`` reaches exactly the accounts the server says it mentioned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mastodon import Mastodon
from mastodon.errors import MastodonNotFoundError

from adapters.mastodon.client import Client
from hub.domain.reading import fold
from hub.ports import JSON


def full_acct(acct: str, local_domain: str) -> str:
    """``user@domain`` (folded as :mod:`hub.domain.reading` folds mentions) from an
    ``Account.acct``, which omits the local domain."""
    acct = fold(acct.lstrip("@"))
    return acct if "@" in acct else f"{acct}@{fold(local_domain)}"


@dataclass(frozen=True)
class FollowersSnapshot:
    """The account's followers as paged from the instance, with whether that is all of them."""

    locked: bool
    followers_count: int
    accounts: Mapping[str, str]          # user@domain -> account id
    complete: bool

    def to_json(self) -> str:
        return json.dumps({"locked": self.locked, "followers_count": self.followers_count,
                           "accounts": dict(self.accounts), "complete": self.complete},
                          sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> FollowersSnapshot:
        data = json.loads(raw)
        return cls(bool(data["locked"]), int(data["followers_count"]),
                   dict(data["accounts"]), bool(data["complete"]))


async def followers_snapshot(client: Client) -> FollowersSnapshot:
    """Read ``locked`` and page ``/followers`` (80 a page, at most ``followers_max_pages``)."""
    settings = client.settings

    def read(api: Mastodon) -> FollowersSnapshot:
        me = api.account_verify_credentials()
        accounts: dict[str, str] = {}
        page: Any = api.account_followers(me["id"], limit=80)
        pages = 0
        truncated = False
        while page:
            pages += 1
            for account in page:
                accounts[full_acct(account["acct"], settings.domain)] = str(account["id"])
            if pages >= settings.followers_max_pages:
                truncated = True
                break
            page = api.fetch_next(page) if getattr(page, "_pagination_next", None) else None
        count = int(me.get("followers_count") or 0)
        return FollowersSnapshot(bool(me["locked"]), count, accounts,
                                 complete=not truncated and len(accounts) >= count)

    return await client.call("read the followers", read)


async def account_ids(client: Client, accts: Iterable[str]) -> dict[str, str]:
    """Ids of the accounts the instance already knows (``/accounts/lookup``); others are absent
    (the server may still resolve them over WebFinger when the status is created)."""
    wanted = sorted(set(accts))
    domain = client.settings.domain

    def lookup(api: Mastodon) -> dict[str, str]:
        found = {}
        for acct in wanted:
            user, _, host = acct.partition("@")
            try:
                account = api.account_lookup(user if host == domain else acct)
            except MastodonNotFoundError:
                continue
            found[acct] = str(account["id"])
        return found

    return await client.call("look up the recipients", lookup)


def digest(identities: Iterable[str]) -> str:
    """Content address of an audience: the same people give the same digest."""
    canonical = json.dumps(sorted(set(identities)), separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def receipt_audience(visibility: str, *, mentioned: Iterable[str], expected: Iterable[str] = (),
                     followers: FollowersSnapshot | None = None) -> dict[str, JSON]:
    """``Receipt.details["audience"]`` for one delivery (identities as ``@user@domain``)."""
    reached = sorted({f"@{a}" for a in mentioned})
    if visibility == "direct":
        unreached = sorted({f"@{a}" for a in expected} - set(reached))
        return {"kind": "recipients", "identities": list(reached), "unreached": list(unreached),
                "digest": digest(reached)}
    if visibility == "private" and followers is not None:
        identities = sorted({f"@{a}" for a in followers.accounts} | set(reached))
        return {"kind": "followers", "lower_bound": not followers.locked,
                "locked": followers.locked, "complete": followers.complete,
                "followers_count": followers.followers_count, "mentioned": list(reached),
                "identities": list(identities), "digest": digest(identities)}
    return {"kind": "world" if visibility == "public" else "world-unlisted"}
