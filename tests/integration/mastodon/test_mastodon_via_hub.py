"""The whole hub path against the Mastodon double: connect, post once to a followers-only
target, and the audit names the followers (a lower bound) who could see it; a public post goes
out once through a 503; and audiences that grow — someone follows the account after the post,
re-reading the followers (the contacts reader behind its port) appends an AudienceGrew event,
and both audit answers say who could see it since when."""

from __future__ import annotations

import asyncio

import pytest

import adapters.mastodon
from adapters.fake import FakePublisher
from hub.bootstrap import contact_reader
from hub.errors import TransientDeliveryError
from hub.services.accounts import connect_account
from hub.services.audit_growth import GrowthSchedule, growing_accounts
from hub.services.audit_post import post_audit
from hub.services.audit_queries import person_audit
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, get_post, submit_post

pytestmark = pytest.mark.integration


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    """Only Bluesky is faked here: Mastodon is the real adapter against the double."""
    return {"bluesky:me": FakePublisher("bluesky:me")}


async def _run(hub) -> None:
    for _ in range(2):
        for delivery_id in await asyncio.to_thread(due_ids, hub):
            await deliver(hub, delivery_id, worker="w")


async def _connected(double, make_hub, url):
    """A hub whose mastodon:main is the double's local account ``me``."""
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    hub = make_hub(url, real_clock=True)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
    return hub, me


async def _followers_post(hub, **people):
    """Add ``people`` (name -> double account), post to the followers-only target, publish."""
    for name, account in people.items():
        add_person(hub, NewPerson(name, [("mastodon", account.address)]))
    view = submit_post(hub, PostInput("for my followers", ["professional"]), Author())
    await _run(hub)
    return view


async def test_followers_only_post_records_its_followers_as_a_lower_bound(double, make_hub,
                                                                         sqlite_url):
    hub, me = await _connected(double, make_hub, sqlite_url)
    ana = double.account("ana", "example.social")
    double.follow(ana, me)
    view = await _followers_post(hub, Ana=ana)
    masto = next(d for d in get_post(hub, view.post.id).deliveries
                 if d.target == "masto-followers")
    assert masto.status == "published", masto.reason
    live = double.live()
    assert [(s["visibility"], s["text"]) for s in live] == [("private", "for my followers")]
    who = next(c for c in post_audit(hub, view.post.id)["could_see"]
               if c["target"] == "masto-followers")
    assert who["reach"] == "followers" and who["lower_bound"] is True
    assert [m["name"] for m in who["people"]] == ["Ana"]
    ana_sees = person_audit(hub, "Ana", include_public=False)["posts"]
    assert [p["post_id"] for p in ana_sees] == [view.post.id]


async def test_public_post_goes_out_public_exactly_once(double, make_hub, sqlite_url):
    hub, _ = await _connected(double, make_hub, sqlite_url)
    double.fault("error", method="POST", path="/api/v1/statuses", status=503)
    view = submit_post(hub, PostInput("hello fediverse", ["public"]), Author())
    await _run(hub)
    masto = next(d for d in get_post(hub, view.post.id).deliveries if d.target == "masto-public")
    assert masto.status == "pending" and "503" in masto.reason   # retried later, not lost
    hub.now.advance(5 * 60)                                       # past the retry's due time
    await _run(hub)
    masto = next(d for d in get_post(hub, view.post.id).deliveries if d.target == "masto-public")
    assert masto.status == "published"
    assert [(s["visibility"], s["text"]) for s in double.live()] == [("public", "hello fediverse")]


async def test_a_later_follower_could_see_the_post_since_they_followed(double, database_url,
                                                                      make_hub):
    hub, me = await _connected(double, make_hub, database_url)
    ana = double.account("ana", "example.social")
    bo = double.account("bo", "example.social")
    double.follow(ana, me)
    view = await _followers_post(hub, Ana=ana, Bo=bo)
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
    hub, me = await _connected(double, make_hub, sqlite_url)
    double.follow(double.account("ana", "example.social"), me)
    view = await _followers_post(hub)
    before = post_audit(hub, view.post.id)
    [paused] = await GrowthSchedule(hub, lambda account: RateLimited()).run_once()
    assert paused.paused and (paused.events, paused.pairs) == (0, 0)
    assert post_audit(hub, view.post.id) == before
