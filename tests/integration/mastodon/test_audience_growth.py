"""Audiences that grow, end to end against the Mastodon double: a followers-only post, then
someone follows the account; re-reading the followers (the contacts reader behind its port)
appends an AudienceGrew event, and both audit answers say who could see it since when."""

from __future__ import annotations

import asyncio

import pytest

import adapters.mastodon
from adapters.fake import FakePublisher
from hub.bootstrap import contact_reader
from hub.errors import TransientDeliveryError
from hub.services.accounts import connect_account
from hub.services.audit_growth import GrowthSchedule, growing_accounts
from hub.services.audit_queries import person_audit, post_audit
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, submit_post

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {"bluesky:me": FakePublisher("bluesky:me")}


async def _run(hub) -> None:
    for _ in range(2):
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")


async def test_a_later_follower_could_see_the_post_since_they_followed(double, database_url,
                                                                      make_hub):
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    ana = double.account("ana", "example.social")
    bo = double.account("bo", "example.social")
    double.follow(ana, me)
    hub = make_hub(database_url, real_clock=True)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
    add_person(hub, NewPerson("Ana", [("mastodon", ana.address)]))
    add_person(hub, NewPerson("Bo", [("mastodon", bo.address)]))
    view = submit_post(hub, PostInput("for my followers", ["professional"]), Author())
    await _run(hub)
    assert growing_accounts(hub) == ["mastodon:main"]
    schedule = GrowthSchedule(hub, lambda account: contact_reader(hub, account))

    # nobody new yet: nothing is appended
    [none] = await schedule.run_once()
    assert (none.events, none.pairs, none.paused) == (0, 0, False)
    assert person_audit(hub, "Bo", include_public=False)["posts"] == []

    double.follow(bo, me)                       # Bo follows after the post went out
    [grew] = await schedule.run_once()
    assert (grew.events, grew.pairs) == (1, 1)
    [bo_sees] = person_audit(hub, "Bo", include_public=False)["posts"]
    assert bo_sees["post_id"] == view.post.id and bo_sees["grew"] is True
    assert bo_sees["through"].startswith("could see since ")
    assert bo_sees["through"].endswith("(followed you later)")
    [ana_sees] = person_audit(hub, "Ana", include_public=False)["posts"]
    assert ana_sees["grew"] is False and "followed you later" not in ana_sees["through"]
    who = next(c for c in post_audit(hub, view.post.id)["could_see"]
               if c["target"] == "masto-followers")
    assert [g["added"] for g in who["growth"]] == [1]
    assert {m["name"]: bool(m["since"]) for m in who["people"]} == {"Ana": False, "Bo": True}

    # a second run finds nobody new: no second event, the answer does not change
    [again] = await schedule.run_once()
    assert (again.events, again.pairs) == (0, 0)
    assert len(person_audit(hub, "Bo", include_public=False)["posts"]) == 1


class RateLimited:
    """A followers reader (the ContactReader port) that the network rate-limits."""

    platform = "mastodon"

    async def page(self, direction, cursor):
        raise TransientDeliveryError("slow down", status_code=429, retry_after=600)

    async def aclose(self) -> None:
        return None


async def test_a_rate_limited_read_records_nothing_and_says_it_paused(double, make_hub,
                                                                     sqlite_url):
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    ana = double.account("ana", "example.social")
    double.follow(ana, me)
    hub = make_hub(sqlite_url, real_clock=True)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
    view = submit_post(hub, PostInput("for my followers", ["professional"]), Author())
    await _run(hub)
    before = post_audit(hub, view.post.id)
    [paused] = await GrowthSchedule(hub, lambda account: RateLimited()).run_once()
    assert paused.paused and (paused.events, paused.pairs) == (0, 0)
    assert post_audit(hub, view.post.id) == before
