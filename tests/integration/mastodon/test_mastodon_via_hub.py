"""The whole hub path against the Mastodon double: connect, post once to a followers-only
target, and the audit names the followers (a lower bound) who could see it."""

from __future__ import annotations

import asyncio

import pytest

import adapters.mastodon
from adapters.fake import FakePublisher
from hub.services.accounts import connect_account
from hub.services.audit_queries import person_audit, post_audit
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


async def test_followers_only_post_records_its_followers_as_a_lower_bound(double, make_hub,
                                                                         sqlite_url):
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    ana = double.account("ana", "example.social")
    double.follow(ana, me)
    hub = make_hub(sqlite_url, real_clock=True)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
    add_person(hub, NewPerson("Ana", [("mastodon", ana.address)]))
    view = submit_post(hub, PostInput("for my followers", ["professional"]), Author())
    await _run(hub)
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
    me = double.local("me", scopes=adapters.mastodon.SCOPES)
    hub = make_hub(sqlite_url, real_clock=True)
    await connect_account(hub, "mastodon:main", {"instance": double.base}, me.token,
                          adapters.mastodon.connect)
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
