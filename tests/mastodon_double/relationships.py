"""The double's following list and unfollowing: ``GET /api/v1/accounts/{id}/following`` paged
by follow id with ``Link`` headers as Mastodon does, and the ``unfollow`` control action."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request

from tests.mastodon_double import entities
from tests.mastodon_double.world import Account, Rejected, World

if TYPE_CHECKING:
    from tests.mastodon_double.app import Double

FOLLOWING = "/api/v1/accounts/{id}/following"


def following(world: World, account_id: str) -> list[tuple[str, Account]]:
    """(follow id, followed account), newest first."""
    rows = [(fid, world.accounts[b]) for fid, a, b in world.follows if a == account_id]
    return sorted(rows, key=lambda r: int(r[0]), reverse=True)


def unfollow(world: World, follower: str, followee: str) -> None:
    world.follows[:] = [f for f in world.follows if (f[1], f[2]) != (follower, followee)]


def page_rows(rows: list[tuple[str, Account]], request: Request) -> list[tuple[str, Account]]:
    """One page of ``rows`` (newest first) for max_id / since_id / min_id / limit."""
    q = request.query_params
    limit = min(int(q.get("limit") or 40), 80)
    if q.get("max_id"):
        rows = [row for row in rows if int(row[0]) < int(q["max_id"])]
    if q.get("since_id"):
        rows = [row for row in rows if int(row[0]) > int(q["since_id"])]
    if q.get("min_id"):
        rows = sorted((row for row in rows if int(row[0]) > int(q["min_id"])),
                      key=lambda row: int(row[0]))[:limit][::-1]
    return rows[:limit]


def handle_following(d: Double, me: Any, p: Any, b: Any, f: Any, r: Request, base: str) -> Any:
    if p["id"] not in d.world.accounts:
        raise Rejected(404, "Record not found")
    return 200, [entities.account(d.world, acc, base)
                 for _, acc in page_rows(following(d.world, p["id"]), r)]


def following_link(world: World, request: Request, page: Any) -> dict[str, str]:
    """``Link`` next/prev by follow id, whenever a page is full (as Mastodon does)."""
    limit = min(int(request.query_params.get("limit") or 40), 80)
    if not isinstance(page, list) or not page or len(page) < limit:
        return {}
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    account_id = request.url.path.rstrip("/").split("/")[-2]
    follow_ids = {b: fid for fid, a, b in world.follows if a == account_id}
    last, first = follow_ids[page[-1]["id"]], follow_ids[page[0]["id"]]
    return {"Link": f'<{base}?{urlencode({"limit": limit, "max_id": last})}>; rel="next", '
                    f'<{base}?{urlencode({"limit": limit, "min_id": first})}>; rel="prev"'}
