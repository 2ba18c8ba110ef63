"""Each visibility reaches whom Mastodon says it does, and the receipt says who could see it."""

from __future__ import annotations

import pytest

from hub.errors import ContentRejected, PermanentDeliveryError

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("visibility", "kind"), [("public", "world"),
                                                  ("unlisted", "world-unlisted")])
async def test_public_and_unlisted_reach_the_world(backend, publisher, compose, hub_scopes,
                                                   visibility, kind):
    """The visibility is always sent explicitly and the receipt says anyone can read it."""
    owner = backend.local("hub", scopes=hub_scopes)
    pub = await publisher(backend, owner)
    draft = pub.prepare(compose.post("Hello world"), compose.target(visibility),
                        compose.people([]))
    receipt = await pub.publish(draft, key="3lbbbbbbbbbb2", steps=compose.steps())
    assert receipt.details["audience"] == {"kind": kind}
    [status] = backend.live(owner=owner)
    assert status["visibility"] == visibility
    if backend.name == "double":
        assert status["visibility_sent"] is True


async def test_private_reaches_a_paged_followers_snapshot_marked_as_lower_bound(
        double, publisher, compose, hub_scopes):
    """170 followers take three pages of 80; the snapshot is complete, the reach can grow."""
    owner = double.local("hub", scopes=hub_scopes)
    followers = [double.account(f"fan{i}", "example.social") for i in range(170)]
    for fan in followers:
        double.follow(fan, owner)
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("For my followers"), compose.target("private"),
                        compose.people([]))
    receipt = await pub.publish(draft, key="3lbbbbbbbbbb3", steps=compose.steps())
    audience = receipt.details["audience"]
    assert audience["kind"] == "followers"
    assert audience["lower_bound"] is True and audience["locked"] is False
    assert audience["complete"] is True and audience["followers_count"] == 170
    assert sorted(audience["identities"]) == sorted(f.address for f in followers)
    assert audience["digest"].startswith("sha256:")
    pages = [r for r in double.requests() if r["path"].endswith("/followers")]
    assert [r["query"].get("limit") for r in pages] == ["80"] * 3
    [status] = double.live()
    assert status["visibility"] == "private"
    assert len(status["audience"]) == 170


async def test_private_on_a_locked_account_is_not_a_lower_bound(double, publisher, compose,
                                                                 hub_scopes):
    owner = double.local("hub", locked=True, scopes=hub_scopes)
    ana = double.account("ana", "example.social")
    double.follow(ana, owner)
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("Locked"), compose.target("private"), compose.people([]))
    receipt = await pub.publish(draft, key="3lbbbbbbbbbb4", steps=compose.steps())
    audience = receipt.details["audience"]
    assert audience["locked"] is True and audience["lower_bound"] is False
    assert audience["identities"] == [ana.address]


async def test_private_with_mention_of_a_follower_counts_them_once(backend, publisher, compose,
                                                                   hub_scopes):
    owner = backend.local("hub", scopes=hub_scopes)
    ana = backend.local("ana")
    backend.follow(ana, owner)
    pub = await publisher(backend, owner)
    draft = pub.prepare(compose.post(f"Thanks {ana.address}!"), compose.target("private"),
                        compose.people([]))
    receipt = await pub.publish(draft, key="3lbbbbbbbbbb5", steps=compose.steps())
    audience = receipt.details["audience"]
    assert audience["identities"] == [ana.address]
    if backend.name == "double":
        # mastodon-mock does not resolve @user@its-own-domain as a mention (Mastodon does).
        assert audience["mentioned"] == [ana.address]


async def test_direct_reaches_exactly_the_list_members(backend, publisher, compose, hub_scopes):
    owner = backend.local("hub", scopes=hub_scopes)
    ana, bob = backend.local("ana"), backend.local("bob")
    stranger = backend.local("eve")
    backend.follow(stranger, owner)
    pub = await publisher(backend, owner)
    people = compose.people([("Ana", ana.address), ("Bob", bob.address), ("Cy", None)])
    draft = pub.prepare(compose.post("Dinner on Friday?"), compose.target("direct",
                        list_name="friends"), people)
    assert [r.address for r in draft.recipients] == [ana.address, bob.address]
    assert any("Cy has no Mastodon identity" in note for note in draft.notes)
    receipt = await pub.publish(draft, key="3lbbbbbbbbbb6", steps=compose.steps())
    audience = receipt.details["audience"]
    assert audience["kind"] == "recipients"
    assert audience["identities"] == [ana.address, bob.address]
    assert audience["unreached"] == []
    [status] = backend.live(owner=owner)
    assert status["visibility"] == "direct"
    assert sorted(status["mentions"]) == [ana.acct, bob.acct]


async def test_direct_to_twelve_members_splits_the_mentions_over_posts(backend, publisher,
                                                                       compose, hub_scopes):
    """500 characters cannot carry 12 long mentions and the text: several posts, each to a
    subset, every member exactly once, nobody dropped."""
    owner = backend.local("hub", scopes=hub_scopes)
    members = [backend.local(f"member_with_a_long_name_{i:02d}") for i in range(12)]
    pub = await publisher(backend, owner)
    text = ("Family update: " + "we are moving house next month and would love help " * 5)
    people = compose.people([(f"M{i}", m.address) for i, m in enumerate(members)])
    draft = pub.prepare(compose.post(text.strip()), compose.target("direct",
                        list_name="friends"), people)
    groups = draft.payload["groups"]
    assert len(groups) >= 2
    assert sorted(a for g in groups for a in g["recipients"]) == sorted(m.acct for m in members)
    receipt = await pub.publish(draft, key="3lbbbbbbbbbb7", steps=compose.steps())
    statuses = backend.live(owner=owner)
    assert len(statuses) == len(groups)
    mentioned = [acct for s in statuses for acct in s["mentions"]]
    assert sorted(mentioned) == sorted(m.acct for m in members)   # each exactly once
    assert all(s["visibility"] == "direct" for s in statuses)
    if backend.name == "double":
        assert all(s["length"] <= 500 for s in statuses)
    assert receipt.details["audience"]["identities"] == sorted(m.address for m in members)
    assert receipt.details["audience"]["unreached"] == []


async def test_mention_guard_refuses_a_direct_post_naming_an_outsider(backend, publisher,
                                                                      compose, hub_scopes):
    owner = backend.local("hub", scopes=hub_scopes)
    ana, eve = backend.local("ana"), backend.local("eve")
    pub = await publisher(backend, owner)
    people = compose.people([("Ana", ana.address)])
    with pytest.raises(ContentRejected, match=f"mentions @{eve.acct}"):
        pub.prepare(compose.post(f"Don't tell {eve.address}"),
                    compose.target("direct", list_name="friends"), people)
    assert backend.live(owner=owner) == []


async def test_mention_guard_refuses_a_private_post_naming_a_non_follower(backend, publisher,
                                                                         compose, hub_scopes):
    owner = backend.local("hub", scopes=hub_scopes)
    ana, eve = backend.local("ana"), backend.local("eve")
    backend.follow(ana, owner)
    pub = await publisher(backend, owner)
    draft = pub.prepare(compose.post(f"Hi {ana.address}, not {eve.address}"),
                        compose.target("private"), compose.people([]))
    with pytest.raises(PermanentDeliveryError, match=f"mentions @{eve.acct}, who does not follow"):
        await pub.publish(draft, key="3lbbbbbbbbbb8", steps=compose.steps())
    assert backend.live(owner=owner) == []


async def test_server_side_guard_refuses_a_mention_the_adapter_missed(double, publisher,
                                                                      compose, hub_scopes):
    """allowed_mentions[] is sent: if the text reached the server with a mention the local
    check did not see, Mastodon refuses it (422 unexpected_accounts) and nothing is posted."""
    owner = double.local("hub", scopes=hub_scopes)
    ana = double.account("ana", "example.social")
    eve = double.account("eve", "elsewhere.example")
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("Hello"), compose.target("direct", list_name="friends"),
                        compose.people([("Ana", ana.address)]))
    groups = [{"recipients": [ana.acct], "parts": [f"{ana.address} hello {eve.address}"]}]
    tampered = type(draft)(**{**draft.__dict__, "payload": {**draft.payload, "groups": groups}})
    with pytest.raises(PermanentDeliveryError, match=f"unexpected accounts.*@{eve.acct}"):
        await pub.publish(tampered, key="3lbbbbbbbbbb9", steps=compose.steps())
    assert double.live() == []
    [attempt] = [r for r in double.requests() if r["path"] == "/api/v1/statuses"]
    assert sorted(attempt["body"]["allowed_mentions"]) == sorted([ana.id, owner.id])


async def test_direct_to_someone_the_instance_has_not_seen_yet(double, publisher, compose,
                                                               hub_scopes):
    """/accounts/lookup does not know them, the server resolves them over WebFinger while
    posting; the adapter allows exactly that addressee and posts once."""
    owner = double.local("hub", scopes=hub_scopes)
    new = double.account("newcomer", "far.example", known=False)
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("Welcome!"), compose.target("direct", list_name="f"),
                        compose.people([("New", new.address)], list_name="f"))
    receipt = await pub.publish(draft, key="3lbbbbbbbbbba", steps=compose.steps())
    assert receipt.details["audience"]["identities"] == [new.address]
    assert len(double.live()) == 1



async def test_a_direct_post_may_mention_its_own_author(double, publisher, compose, hub_scopes):
    """The author is always among the allowed mentions, so the server guard lets it through."""
    owner = double.local("hub", scopes=hub_scopes)
    ana = double.account("ana", "example.social")
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("Reply to @hub or to me"),
                        compose.target("direct", list_name="friends"),
                        compose.people([("Ana", ana.address)]))
    receipt = await pub.publish(draft, key="3lbbbbbbbbbbb", steps=compose.steps())
    assert receipt.details["audience"]["identities"] == [ana.address, owner.address]
    [attempt] = [r for r in double.requests() if r["path"] == "/api/v1/statuses"]
    assert sorted(attempt["body"]["allowed_mentions"]) == sorted([ana.id, owner.id])
