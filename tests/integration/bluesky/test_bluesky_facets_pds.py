"""Facets at a real PDS never cut a token: what lands in the record (text and facets, read back)
has every facet's byte span decoding to exactly its token, on grapheme-cluster boundaries as the
PDS counts them, links glued to emoji included; threads keep links whole; a token longer than one
post is refused before anything is sent."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from bluesky_pds import MemorySteps, Pds, new_key

from adapters.bluesky import graphemes
from hub.domain.model import (
    Identity,
    IdentityKind,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Reach,
    Target,
)
from hub.domain.reading import read_text
from hub.errors import ContentRejected

pytestmark = pytest.mark.integration
FAMILY = "👩\u200d👩\u200d👧\u200d👦"


def post(text: str) -> Post:
    return Post(id=PostId("p"), text=text, audiences=("public",),
                created=datetime(2026, 1, 1, tzinfo=UTC))


TARGET = Target(name="bsky", account="bluesky:me", reach=Reach.WORLD, options={"split": True})


async def publish(pds: Pds, conn: Any, text: str, people: PeopleSnapshot
                  ) -> list[dict[str, Any]]:
    """Publish through the adapter; the records as the PDS stores them, thread order."""
    draft = conn.publisher.prepare(post(text), TARGET, people)
    receipt = await conn.publisher.publish(draft, key=new_key(), steps=MemorySteps())
    uris = [p["uri"] for p in receipt.details.get("parts", [])] or [receipt.remote_id]
    return [pds.record(uri)["value"] for uri in uris]


def tokens(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, bytes the facet covers decoded strictly, feature value); checks cluster bounds."""
    text = record["text"]
    data = text.encode()
    bounds = {0} | {len(text[:end].encode()) for end in graphemes.ends(text)}
    out, last = [], 0
    for facet in record.get("facets", []):
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        assert last <= start < end and {start, end} <= bounds, (facet, text)
        last = end
        feature = facet["features"][0]
        kind = feature["$type"].rsplit("#", 1)[1]
        value = feature.get("uri") or feature.get("tag") or feature.get("did")
        out.append((kind, data[start:end].decode("utf-8", "strict"), value))
    return out


@pytest.fixture
async def friendly(pds: Pds, connect_account: Any) -> tuple[Any, Any, PeopleSnapshot]:
    friend = pds.create_account("friend")
    people = PeopleSnapshot(people={PersonId("f"): Person(PersonId("f"), "Friend", (
        Identity(IdentityKind.BLUESKY, friend.handle),
        Identity(IdentityKind.BLUESKY, friend.did)))})
    conn = await connect_account()
    return conn, friend, people


async def test_links_glued_to_emoji_and_tags_ending_in_clusters_land_whole(
        pds: Pds, friendly: tuple[Any, Any, PeopleSnapshot]) -> None:
    conn, friend, people = friendly
    text = (f"🚀https://example.com/launch #party{FAMILY} #love❤️ (@{friend.handle}) "
            "#क्षत्रिय 🇺🇦example.org/x done")
    [record] = await publish(pds, conn, text, people)
    assert record["text"] == text
    assert tokens(record) == [
        ("link", "https://example.com/launch", "https://example.com/launch"),
        ("tag", f"#party{FAMILY}", f"party{FAMILY}"),
        ("tag", "#love❤️", "love❤️"),
        ("mention", f"@{friend.handle}", friend.did),
        ("tag", "#क्षत्रिय", "क्षत्रिय"),
        ("link", "example.org/x", "https://example.org/x"),
    ]


PIECES = ["https://example.com/a(b)", "example.com/x", "#kids", "#Ki\u200dds", "＃tag", "#tag!",
          "#🦋", "@FRIEND", "(@FRIEND)", FAMILY, "👋🏽", "🚀", "❤️", "🇺🇦", "1️⃣", "e\u0301",
          "\u0301", "क्ष", "अ्", "\u200d", "\uac00\u11a8", "\r\n", " ", " ", " ", "\n\n", ". ",
          ",", "(", ")", "x", "語", "#", "@"]


async def test_generated_texts_land_with_every_facet_exactly_on_its_token(
        pds: Pds, friendly: tuple[Any, Any, PeopleSnapshot]) -> None:
    conn, friend, people = friendly
    rng = random.Random(5)
    checked = 0
    for _ in range(30):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(3, 40)))
        text = text.replace("FRIEND", friend.handle).strip() or "x"
        for record in await publish(pds, conn, text, people):
            for kind, covered, value in tokens(record):
                if kind == "link":
                    assert value in (covered, "https://" + covered)
                elif kind == "tag":
                    assert covered[0] in "#＃" and covered[1:] == value
                else:
                    assert covered == f"@{friend.handle}" and value == friend.did
                checked += 1
    assert checked > 30


async def test_a_thread_keeps_a_long_link_whole_in_one_post(
        pds: Pds, friendly: tuple[Any, Any, PeopleSnapshot]) -> None:
    conn, _, people = friendly
    url = "https://example.com/" + "a" * 250
    text = "word " * 40 + url + " #after" + " more" * 30
    records = await publish(pds, conn, text, people)
    assert len(records) == 3
    holding = [r for r in records if url in r["text"]]
    assert len(holding) == 1 and ("link", url, url) in tokens(holding[0])
    assert sum("example.com" in r["text"] for r in records) == 1       # no fragment elsewhere
    assert ("tag", "#after", "after") in tokens(holding[0])


async def test_a_link_longer_than_a_post_is_refused_and_nothing_is_sent(
        pds: Pds, friendly: tuple[Any, Any, PeopleSnapshot]) -> None:
    conn, _, people = friendly
    text = "see https://example.com/" + "a" * 400 + " now"
    with pytest.raises(ContentRejected, match="a link of 420 graphemes .* longer than one"):
        conn.publisher.prepare(post(text), TARGET, people)
    assert pds.records(conn.account.did, "app.bsky.feed.post") == []
    assert read_text(text).links                      # it is a link: refused for that reason
