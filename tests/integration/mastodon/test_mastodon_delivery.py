"""Exactly once on the network, whatever fails: timeouts, 429, 5xx; media; threads; edits."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.domain.model import Media
from hub.errors import ContentRejected, PermanentDeliveryError, TransientDeliveryError
from tests.conftest import async_wait_until

pytestmark = pytest.mark.integration
KEY = "3lccccccccccc"


async def test_retry_after_a_timeout_posts_once(backend, publisher, compose, hub_scopes):
    """The first request times out on the client after the server acted on it; the retry
    carries the same Idempotency-Key and gets the same status back."""
    owner = backend.local("hub", scopes=hub_scopes)
    pub = await publisher(backend, owner, request_timeout=0.5)
    draft = pub.prepare(compose.post("Once only"), compose.target("public"), compose.people([]))
    backend.fault("delay", method="POST", path="/api/v1/statuses", seconds=1.5, when="after")
    steps = compose.steps()
    with pytest.raises(TransientDeliveryError, match="network error"):
        await pub.publish(draft, key=KEY, steps=steps)
    if backend.name == "double":   # it acted, then answers late: wait until the status exists
        await async_wait_until(lambda: len(backend.live(owner=owner)) == 1,
                               what="the slow request to take effect on the server")
    # (mastodon-mock delays before acting and drops a request whose client went away: no
    # status ever appears for it, so there is nothing to wait for)
    receipt = await pub.publish(draft, key=KEY, steps=steps)
    statuses = backend.live(owner=owner)
    assert [s["id"] for s in statuses] == [receipt.remote_id]
    if backend.name == "double":
        posts = [r for r in backend.requests() if r["path"] == "/api/v1/statuses"]
        assert [r["idempotency_key"] for r in posts] == [KEY, KEY]


async def test_429_is_raised_at_once_with_the_reset_time_and_honoured(backend, publisher,
                                                                      compose, hub_scopes):
    owner = backend.local("hub", scopes=hub_scopes)
    pub = await publisher(backend, owner)
    draft = pub.prepare(compose.post("Patience"), compose.target("public"), compose.people([]))
    backend.fault("ratelimit", method="POST", path="/api/v1/statuses", reset_in=1.5)
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError) as raised:
        await pub.publish(draft, key=KEY, steps=compose.steps())
    assert time.monotonic() - started < 1.0           # "throw", never Mastodon.py's "wait"
    assert raised.value.status_code == 429
    # (mastodon-mock sends whole epoch seconds; Mastodon.py corrects by the Date header)
    assert raised.value.retry_after is not None and 0.5 < raised.value.retry_after <= 5.0
    assert backend.live(owner=owner) == []
    await asyncio.sleep(raised.value.retry_after)
    receipt = await pub.publish(draft, key=KEY, steps=compose.steps())
    assert [s["id"] for s in backend.live(owner=owner)] == [receipt.remote_id]


async def test_429_budget_exhausted_until_reset(double, publisher, compose, hub_scopes):
    """With the budget spent every call gets 429 until X-RateLimit-Reset (ISO 8601)."""
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("Budget"), compose.target("public"), compose.people([]))
    double.configure(ratelimit_limit=1, ratelimit_window=1.5)
    await asyncio.sleep(0)
    with pytest.raises(TransientDeliveryError) as raised:
        for _ in range(3):
            await pub.publish(draft, key=KEY, steps=compose.steps())
    assert raised.value.status_code == 429
    double.configure(ratelimit_limit=300)
    await asyncio.sleep(raised.value.retry_after or 0)
    await pub.publish(draft, key=KEY, steps=compose.steps())
    assert len(double.live()) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient_and_retried_with_the_same_key(
        double, publisher, compose, hub_scopes, status):
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    draft = pub.prepare(compose.post("5xx"), compose.target("unlisted"), compose.people([]))
    double.fault("error", method="POST", path="/api/v1/statuses", status=status, count=2)
    steps = compose.steps()
    for _ in range(2):
        with pytest.raises(TransientDeliveryError):
            await pub.publish(draft, key=KEY, steps=steps)
    await pub.publish(draft, key=KEY, steps=steps)
    assert len(double.live()) == 1
    keys = {r["idempotency_key"] for r in double.requests() if r["path"] == "/api/v1/statuses"}
    assert keys == {KEY}


async def test_over_length_text_is_refused_before_sending_and_by_the_server(
        double, publisher, compose, hub_scopes):
    """URLs count 23 on both sides: 480 letters and a 100-character link fit 500; 490 don't."""
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    link = "https://example.org/" + "p" * 80
    fits = pub.prepare(compose.post("a" * 476 + " " + link), compose.target("public"),
                       compose.people([]))
    await pub.publish(fits, key=KEY, steps=compose.steps())
    assert double.live()[0]["length"] == 500
    with pytest.raises(ContentRejected, match="over this instance's limit of 500"):
        pub.prepare(compose.post("a" * 477 + " " + link), compose.target("public"),
                    compose.people([]))
    # The server agrees: forced past prepare(), the same text gets Mastodon's 422.
    too_long = type(fits)(**{**fits.__dict__, "payload": {**fits.payload, "groups": [
        {"recipients": [], "parts": ["a" * 477 + " " + link]}]}})
    with pytest.raises(PermanentDeliveryError, match="422.*character limit of 500"):
        await pub.publish(too_long, key="3ldddddddddd2", steps=compose.steps())


async def test_long_text_becomes_a_thread_when_splitting_is_allowed(backend, publisher, compose,
                                                                    hub_scopes):
    owner = backend.local("hub", scopes=hub_scopes)
    pub = await publisher(backend, owner)
    text = " ".join(f"Sentence number {i} of a long story." for i in range(40))
    draft = pub.prepare(compose.post(text, cw="long"), compose.target("public", split=True),
                        compose.people([]))
    assert len(draft.parts) >= 3
    receipt = await pub.publish(draft, key=KEY, steps=compose.steps())
    statuses = sorted(backend.live(owner=owner), key=lambda s: int(s["id"]))
    assert [s["id"] for s in statuses] == [s["id"] for s in receipt.details["statuses"]]
    assert statuses[0]["in_reply_to_id"] is None
    assert [s["in_reply_to_id"] for s in statuses[1:]] == [s["id"] for s in statuses[:-1]]
    assert all(s["spoiler_text"] == "long" for s in statuses)


async def test_a_thread_interrupted_half_way_resumes_without_duplicates(double, publisher,
                                                                        compose, hub_scopes):
    owner = double.local("hub", scopes=hub_scopes)
    pub = await publisher(double, owner)
    text = " ".join(f"Part of the story, sentence {i}." for i in range(50))
    draft = pub.prepare(compose.post(text), compose.target("public", split=True),
                        compose.people([]))
    steps = compose.steps()
    # Let two posts through, then fail: the job dies after part 2.
    original = steps.record
    calls = 0

    async def record_then_fail(name: str, value: str) -> None:
        nonlocal calls
        await original(name, value)
        calls += name.startswith("status:")
        if calls == 2:
            double.fault("error", method="POST", path="/api/v1/statuses", status=503)

    steps.record = record_then_fail   # type: ignore[method-assign]
    with pytest.raises(TransientDeliveryError):
        await pub.publish(draft, key=KEY, steps=steps)
    assert len(double.live()) == 2
    receipt = await pub.publish(draft, key=KEY, steps=steps)
    assert len(double.live()) == len(draft.parts) == len(receipt.details["statuses"])
    keys = [s["idempotency_key"] for s in double.live()]
    assert len(set(keys)) == len(keys) and keys[0] == KEY


async def test_media_waits_for_processing_before_posting(double, publisher, compose, hub_scopes,
                                                         media_store):
    """202 on upload, 206 three times, then 200: the status is created only after that."""
    owner = double.local("hub", scopes=hub_scopes)
    double.configure(async_media=True, media_processing_polls=3)
    pub = await publisher(double, owner)
    sha = media_store.add(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    video = Media(sha, "video/mp4", alt="A short clip of the sea", size=80)
    draft = pub.prepare(compose.post("Waves", media=(video,)), compose.target("public"),
                        compose.people([]))
    await pub.publish(draft, key=KEY, steps=compose.steps())
    [status] = double.live()
    assert status["media"][0]["description"] == "A short clip of the sea"
    log = [(r["method"], r["path"].split("/")[3], r["status"]) for r in double.requests()
           if "/media" in r["path"] or r["path"] == "/api/v1/statuses"]
    assert log == [("POST", "media", 202)] + [("GET", "media", 206)] * 3 + \
        [("GET", "media", 200), ("POST", "statuses", 200)]


async def test_media_and_alt_text_on_the_second_opinion_server(backend, publisher, compose,
                                                               hub_scopes, media_store):
    owner = backend.local("hub", scopes=hub_scopes)
    pub = await publisher(backend, owner)
    sha = media_store.add(_PNG)
    image = Media(sha, "image/png", alt="A single red pixel", size=len(_PNG))
    draft = pub.prepare(compose.post("Pixel", media=(image,)), compose.target("unlisted"),
                        compose.people([]))
    receipt = await pub.publish(draft, key=KEY, steps=compose.steps())
    assert len(backend.live(owner=owner)) == 1
    assert receipt.details["visibility_returned"] == "unlisted"


async def test_edit_changes_text_but_never_visibility_and_delete_removes(backend, publisher,
                                                                         compose, hub_scopes):
    owner = backend.local("hub", scopes=hub_scopes)
    pub = await publisher(backend, owner)
    target = compose.target("private")
    draft = pub.prepare(compose.post("First version"), target, compose.people([]))
    receipt = await pub.publish(draft, key=KEY, steps=compose.steps())
    edited = pub.prepare(compose.post("Second version", cw="edited"), target, compose.people([]))
    steps = compose.steps()
    await pub.edit(receipt, edited, steps=steps)
    await pub.edit(receipt, edited, steps=steps)          # a repeated job edits nothing more
    [status] = backend.live(owner=owner)
    assert "Second version" in status["text"] and status["spoiler_text"] == "edited"
    assert status["visibility"] == "private"
    if backend.name == "double":
        assert len(status["edits"]) == 1
    wider = pub.prepare(compose.post("Third"), compose.target("public"), compose.people([]))
    with pytest.raises(PermanentDeliveryError, match="never changes visibility"):
        await pub.edit(receipt, wider, steps=compose.steps())
    await pub.delete(receipt, steps=compose.steps())
    await pub.delete(receipt, steps=compose.steps())        # 404 the second time: already gone
    assert backend.live(owner=owner) == []


async def test_an_edit_cannot_add_a_mention_of_a_non_follower(double, publisher, compose,
                                                              hub_scopes):
    owner = double.local("hub", scopes=hub_scopes)
    eve = double.account("eve", "elsewhere.example")
    pub = await publisher(double, owner)
    target = compose.target("private")
    receipt = await pub.publish(pub.prepare(compose.post("Hi"), target, compose.people([])),
                                key=KEY, steps=compose.steps())
    edited = pub.prepare(compose.post(f"Hi {eve.address}"), target, compose.people([]))
    with pytest.raises(PermanentDeliveryError, match=f"@{eve.acct}, who does not follow"):
        await pub.edit(receipt, edited, steps=compose.steps())
    assert double.live()[0]["mentions"] == []


_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d7"
    "63f8cfc000000301010018dd8db00000000049454e44ae426082")


async def test_an_edit_refuses_when_the_lists_members_changed(double, publisher, compose,
                                                              hub_scopes):
    """Re-addressing by an edit would let new people read it: delete and publish again."""
    owner = double.local("hub", scopes=hub_scopes)
    ana = double.account("ana", "example.social")
    bob = double.account("bob", "example.social")
    pub = await publisher(double, owner)
    target = compose.target("direct", list_name="friends")
    receipt = await pub.publish(
        pub.prepare(compose.post("Hi"), target, compose.people([("Ana", ana.address)])),
        key=KEY, steps=compose.steps())
    grown = pub.prepare(compose.post("Hi all"), target,
                        compose.people([("Ana", ana.address), ("Bob", bob.address)]))
    with pytest.raises(PermanentDeliveryError, match="members changed since publishing"):
        await pub.edit(receipt, grown, steps=compose.steps())
    assert double.live()[0]["mentions"] == [ana.acct]
