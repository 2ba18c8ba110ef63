"""The adapter counts graphemes exactly as the PDS does: a differential test against the PDS's own
``graphemeLen`` (under the PDS's Node) on generated text, and the 300/301 boundary at a real PDS
for every kind of cluster."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from bluesky_pds import MemorySteps, Pds, new_key, pds_grapheme_counts
from grapheme_cases import KINDS, corpus

from adapters.bluesky import graphemes
from adapters.bluesky.render import MAX_BYTES, MAX_GRAPHEMES
from hub.domain.model import PeopleSnapshot, Post, PostId, Reach, Target
from hub.errors import ContentRejected, PermanentDeliveryError

pytestmark = pytest.mark.integration
CORPUS_SIZE = 100_000


def hexed(text: str) -> str:
    return " ".join(f"{ord(c):04X}" for c in text)


def test_the_adapter_and_the_pds_count_100000_generated_texts_alike() -> None:
    started = time.monotonic()
    texts = corpus(CORPUS_SIZE) + corpus(1_000, seed=11, pieces=(100, 400))   # and long ones
    pds = pds_grapheme_counts(texts)
    assert (pds["icu"], pds["unicode"]) == (graphemes.ICU_VERSION, graphemes.UNICODE_VERSION), (
        f"the PDS's Node has ICU {pds['icu']} / Unicode {pds['unicode']}, the adapter's table "
        f"ICU {graphemes.ICU_VERSION}: regenerate it with scripts/gen-grapheme-table")
    ours = [graphemes.count(t) for t in texts]
    wrong = [(t, mine, theirs) for t, mine, theirs in zip(texts, ours, pds["counts"], strict=True)
             if mine != theirs]
    examples = "\n".join(f"  adapter {mine}, PDS {theirs}: {hexed(t)}"
                         for t, mine, theirs in wrong[:10])
    assert not wrong, f"{len(wrong)} of {len(texts)} texts counted differently, e.g.:\n{examples}"
    assert sum(map(len, texts)) - sum(ours) > CORPUS_SIZE    # many code points joined in clusters
    print(f"{len(texts)} texts, {sum(ours)} graphemes, {time.monotonic() - started:.1f}s")


def test_clusters_cut_text_where_the_pds_counts() -> None:
    """Every prefix that ends at a cluster boundary has as many graphemes as clusters before it."""
    texts = corpus(2_000, seed=7)
    prefixes = [t[:end] for t in texts for end in graphemes.ends(t)]
    counts = pds_grapheme_counts(prefixes)["counts"]
    expected = [n for t in texts for n in range(1, len(graphemes.ends(t)) + 1)]
    assert counts == expected


def boundary_texts(unit: str) -> tuple[str, str]:
    """A 300-grapheme text made of as many ``unit``s as the byte limit allows (ASCII around them,
    so the 301st grapheme is refused for its count, not its bytes), and that text plus one."""
    size, width = graphemes.count(unit), len(unit.encode())
    repeats = 298 // size
    while repeats and repeats * width + 301 - repeats * size > MAX_BYTES:
        repeats -= 1
    assert repeats, f"one {unit!r} does not fit"
    text = "a" + unit * repeats + "a" * (MAX_GRAPHEMES - 1 - repeats * size)
    assert graphemes.count(text) == MAX_GRAPHEMES and len((text + "a").encode()) <= MAX_BYTES
    return text, text + "a"


@pytest.mark.parametrize("unit", list(KINDS.values()), ids=list(KINDS))
async def test_300_graphemes_of_each_kind_go_out_and_301_are_refused_by_adapter_and_pds(
        pds: Pds, connect_account: Any, unit: str) -> None:
    from adapters.bluesky.repo import create
    fits, too_long = boundary_texts(unit)
    conn = await connect_account()
    target = Target(name="bsky", account="bluesky:me", reach=Reach.WORLD, options={})

    def draft(text: str) -> Any:
        post = Post(id=PostId("p"), text=text, audiences=("public",),
                    created=datetime(2026, 1, 1, tzinfo=UTC))
        return conn.publisher.prepare(post, target, PeopleSnapshot())

    receipt = await conn.publisher.publish(draft(fits), key=new_key(), steps=MemorySteps())
    assert pds.record(receipt.remote_id)["value"]["text"] == fits
    with pytest.raises(ContentRejected, match=f"{MAX_GRAPHEMES + 1} graphemes"):
        draft(too_long)
    assert len(pds.records(conn.account.did, "app.bsky.feed.post")) == 1   # nothing else sent
    # The PDS agrees: written past the adapter, the same text is refused for its graphemes.
    record = {"$type": "app.bsky.feed.post", "text": too_long, "createdAt": "2026-01-01T00:00:00Z"}
    await conn.publisher.repo.ready()
    with pytest.raises(PermanentDeliveryError, match="grapheme"):
        await conn.publisher.repo.apply_writes(
            [create("app.bsky.feed.post", new_key(), record)], doing="boundary")
