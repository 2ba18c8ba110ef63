"""Reply and quote controls: threadgate and postgate records, and the curatelists behind
``list:<name>`` rules.

These restrict who may *reply* and *quote*; they never restrict who can read. A hub list used in
a threadgate becomes a public Bluesky curatelist of its members' DIDs, kept in sync (members
added and removed) each time a post uses it.
"""

from __future__ import annotations

import random
import time

from adapters.bluesky.repo import MAX_WRITES, Repo, create, delete
from hub.domain.tid import make_tid, offset_tid
from hub.errors import PermanentDeliveryError
from hub.ports import JSON

POST = "app.bsky.feed.post"
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
LIST = "app.bsky.graph.list"
LISTITEM = "app.bsky.graph.listitem"
_RULES = {"mentioned": "mentionRule", "followers": "followerRule", "following": "followingRule"}
LIST_RKEY_OFFSET = 1000        # list records created by a delivery: offset_tid(key, 1000 + i)


def marker(name: str) -> str:
    return f"Synced by crosspost-hub from the hub list {name!r}; used to gate replies."


def threadgate(post_uri: str, rules: list[str], lists: dict[str, str],
               created_at: str) -> dict[str, JSON]:
    """``rules`` as in the target options; ``lists`` maps hub list names to list URIs."""
    allow: list[JSON] = []
    for rule in rules:
        if rule == "nobody":
            continue
        if rule.startswith("list:"):
            allow.append({"$type": f"{THREADGATE}#listRule", "list": lists[rule[5:]]})
        else:
            allow.append({"$type": f"{THREADGATE}#{_RULES[rule]}"})
    if len(allow) > 5:
        raise PermanentDeliveryError("a threadgate allows at most 5 rules", platform="bluesky")
    return {"$type": THREADGATE, "post": post_uri, "allow": allow, "createdAt": created_at}


def postgate(post_uri: str, created_at: str) -> dict[str, JSON]:
    return {"$type": POSTGATE, "post": post_uri, "createdAt": created_at,
            "embeddingRules": [{"$type": f"{POSTGATE}#disableRule"}]}


def describe(rules: list[str] | None, quotes: bool) -> dict[str, JSON]:
    """What the gates do, for the receipt and the audit: controls, not reach."""
    return {"reach": "world",
            "reply_control": "anyone" if rules is None else (list(rules) or ["nobody"]),
            "quotes": "allowed" if quotes else "disabled"}


async def _find_list(repo: Repo, name: str) -> str | None:
    found = sorted(uri for uri, value in await repo.list(LIST)
                   if value.get("description") == marker(name))
    return found[0] if found else None       # the oldest, should two ever exist


async def sync_list(repo: Repo, name: str, dids: list[str], *, key: str, index: int,
                    created_at: str) -> str:
    """Make the curatelist for hub list ``name`` hold exactly ``dids``; return its URI.

    Safe to repeat: the list is found by its marker (so a create whose answer was lost is found
    by the next attempt), and members are diffed against what the PDS holds, so a repeat adds
    and removes only what still differs."""
    uri = await _find_list(repo, name)
    if uri is None:
        rkey = offset_tid(key, LIST_RKEY_OFFSET + index)
        record: dict[str, JSON] = {"$type": LIST, "purpose": "app.bsky.graph.defs#curatelist",
                                   "name": name[:64], "description": marker(name),
                                   "createdAt": created_at}
        await repo.apply_writes([create(LIST, rkey, record)], doing="create reply list")
        uri = f"at://{repo.did}/{LIST}/{rkey}"
    present: dict[str, list[str]] = {}
    for item_uri, value in await repo.list(LISTITEM):
        if value.get("list") == uri:
            present.setdefault(str(value.get("subject")), []).append(item_uri.rsplit("/", 1)[-1])
    ops = []
    for did, rkeys in present.items():           # removed members and duplicates
        ops += [delete(LISTITEM, r) for r in (rkeys if did not in dids else rkeys[1:])]
    base, clock = int(time.time() * 1_000_000), random.randrange(1024)
    for n, did in enumerate(d for d in dids if d not in present):
        ops.append(create(LISTITEM, make_tid(base + n, clock),
                          {"$type": LISTITEM, "subject": did, "list": uri,
                           "createdAt": created_at}))
    for start in range(0, len(ops), MAX_WRITES):
        await repo.apply_writes(ops[start:start + MAX_WRITES], doing="sync reply list")
    return uri
