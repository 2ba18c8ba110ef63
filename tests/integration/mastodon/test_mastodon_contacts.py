"""Contact sync from Mastodon: followers and following paged with Link headers, against the
contract-validated double and a real database; resumable after a rate limit or a crash."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.mastodon import connect
from adapters.mastodon.contacts import MastodonContacts, build
from hub.ports import Connection, ContactDirection, ContactPage
from hub.services.contacts import direction_of, relationships, sync_account, sync_states

pytestmark = pytest.mark.integration


@pytest.fixture
def reader(double: Any) -> Any:
    built: list[MastodonContacts] = []

    async def make(owner: Any) -> MastodonContacts:
        settings, secret = await connect({"instance": double.base, "request_timeout": 3.0},
                                         owner.token)
        r = build(Connection("mastodon:main", settings, secret))
        built.append(r)
        return r

    yield make
    for r in built:
        r._client.close()


def _unfollow(double: Any, follower: Any, followee: Any) -> None:
    double.http.post("/_double/unfollow", json={"follower": follower.id,
                                                "followee": followee.id}).raise_for_status()


class Crashing:
    """A ContactReader that dies (as a process would) after ``pages`` pages of the real one."""

    platform = "mastodon"

    def __init__(self, inner: MastodonContacts, pages: int) -> None:
        self.inner, self.left = inner, pages

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        if self.left == 0:
            raise RuntimeError("killed mid-sync")
        self.left -= 1
        return await self.inner.page(direction, cursor)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_sync_records_followers_following_and_mutuals_paged_by_link(
        database_url, make_hub, double, reader, hub_scopes):
    """170 followers take three pages of 80 (the next page from the Link header); one of
    them is followed back, so mutual; someone only followed is "I follow"."""
    hub = make_hub(database_url)
    owner = double.local("hub", scopes=hub_scopes)
    fans = [double.account(f"fan{i}", "example.social") for i in range(170)]
    for fan in fans:
        double.follow(fan, owner)
    idol = double.account("idol", "elsewhere.social")
    double.follow(owner, idol)
    double.follow(owner, fans[5])
    seen: list[Any] = []
    results = await sync_account(hub, "mastodon:main", await reader(owner),
                                 progress=seen.append)
    assert [(r.direction, r.seen, r.new, r.done) for r in results] == [
        (ContactDirection.FOLLOWERS, 170, 170, True), (ContactDirection.FOLLOWING, 2, 2, True)]
    assert [p.pages for p in seen if p.direction is ContactDirection.FOLLOWERS] == [1, 2, 3]
    pages = [r for r in double.requests() if r["path"].endswith("/followers")]
    assert [r["query"].get("max_id") is not None for r in pages] == [False, True, True]
    rows = {r.address: r for r in relationships(hub, "mastodon:main")}
    assert len(rows) == 171
    assert direction_of(rows[fans[5].address]) == "mutual"
    assert direction_of(rows[fans[0].address]) == "follows me"
    assert direction_of(rows[idol.address]) == "I follow"
    assert rows[idol.address].i_follow_since == hub.now()


async def test_a_second_sync_records_lost_and_new_followers_without_duplicates(
        database_url, make_hub, double, reader, hub_scopes):
    hub = make_hub(database_url)
    owner = double.local("hub", scopes=hub_scopes)
    ana, bo = double.account("ana", "example.social"), double.account("bo", "example.social")
    double.follow(ana, owner)
    double.follow(bo, owner)
    r = await reader(owner)
    await sync_account(hub, "mastodon:main", r)
    _unfollow(double, bo, owner)
    cy = double.account("cy", "example.social")
    double.follow(cy, owner)
    hub.now.advance(3600)
    [followers, _] = await sync_account(hub, "mastodon:main", r)
    assert (followers.seen, followers.new, followers.lost) == (2, 1, 1)
    current = {x.address for x in relationships(hub, "mastodon:main")}
    assert current == {ana.address, cy.address}
    [gone] = relationships(hub, "mastodon:main", lost=True)
    assert gone.address == bo.address and gone.follower_lost == hub.now()


async def test_a_rate_limited_sync_pauses_and_resumes_at_its_cursor(
        database_url, make_hub, double, reader, hub_scopes):
    """With a budget of two calls the third page is refused; the next run carries on from
    the cursor it kept, reads each follower once, and finishes."""
    hub = make_hub(database_url)
    owner = double.local("hub", scopes=hub_scopes)
    for i in range(200):
        double.follow(double.account(f"fan{i}", "example.social"), owner)
    r = await reader(owner)
    double.configure(ratelimit_limit=2, ratelimit_window=600.0)
    [paused] = await sync_account(hub, "mastodon:main", r,
                                  directions=[ContactDirection.FOLLOWERS])
    assert paused.paused_until is not None and not paused.done and paused.seen == 160
    [state] = sync_states(hub)
    assert state.status == "paused" and state.cursor is not None
    cursor = state.cursor
    double.configure(ratelimit_limit=300)
    before = len(double.requests())
    [done] = await sync_account(hub, "mastodon:main", r,
                                directions=[ContactDirection.FOLLOWERS])
    assert done.done and done.seen == 200 and done.pages == 3
    first = [x for x in double.requests()[before:] if x["path"].endswith("/followers")][0]
    assert first["query"]["max_id"] == cursor
    assert len(relationships(hub, "mastodon:main")) == 200


async def test_a_sync_killed_halfway_resumes_without_duplicates_or_false_losses(
        database_url, make_hub, double, reader, hub_scopes):
    hub = make_hub(database_url)
    owner = double.local("hub", scopes=hub_scopes)
    fans = [double.account(f"fan{i}", "example.social") for i in range(170)]
    for fan in fans:
        double.follow(fan, owner)
    r = await reader(owner)
    with pytest.raises(RuntimeError, match="killed"):
        await sync_account(hub, "mastodon:main", Crashing(r, 1),
                           directions=[ContactDirection.FOLLOWERS])
    assert len(relationships(hub, "mastodon:main")) == 80
    [done] = await sync_account(hub, "mastodon:main", r,
                                directions=[ContactDirection.FOLLOWERS])
    assert (done.done, done.seen, done.pages, done.lost) == (True, 170, 3, 0)
    rows = relationships(hub, "mastodon:main")
    assert sorted(x.address for x in rows) == sorted(f.address for f in fans)
    assert relationships(hub, "mastodon:main", lost=True) == []
