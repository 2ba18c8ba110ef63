"""Bluesky facets and threads never cut a token: links glued to emoji, tags that end in an emoji
sequence, byte spans that decode to exactly their token, splits outside links, mentions, tags and
grapheme clusters (as the PDS counts them), and a token too long for one post refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.bluesky import facets as fx
from adapters.bluesky import graphemes
from adapters.bluesky.render import MAX_BYTES, MAX_GRAPHEMES, Plan, render, split
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
from hub.domain.reading import read_post, read_text
from hub.errors import ContentRejected

FAMILY = "👩\u200d👩\u200d👧\u200d👦"
ANA = Person(PersonId("p1"), "Ana", (Identity(IdentityKind.BLUESKY, "ana.test"),
                                      Identity(IdentityKind.BLUESKY, "did:plc:ana")))
PEOPLE = PeopleSnapshot(people={ANA.id: ANA})
TARGET = Target(name="bsky", account="bluesky:me", reach=Reach.WORLD, options={"split": True})


def post(text: str, warning: str | None = None) -> Post:
    return Post(id=PostId("p"), text=text, audiences=("public",), content_warning=warning,
                created=datetime(2026, 1, 1, tzinfo=UTC))


def facets_of(text: str) -> list[tuple[str, dict]]:
    """(the bytes a facet covers, decoded strictly; its feature) for a one-part post."""
    plan = Plan.from_json(render(post(text), TARGET, PEOPLE).payload)
    assert len(plan.parts) == 1
    data = plan.parts[0].text.encode()
    return [(data[s:e].decode("utf-8", "strict"), f["features"][0])
            for f in plan.parts[0].facets for s, e in [fx.span(f)]]


@pytest.mark.parametrize("glue", ["🚀", "👋🏽", "❤️", "🇺🇦", "1️⃣", FAMILY, "🏴\U000e0067\U000e007f"])
def test_a_link_glued_to_an_emoji_is_still_a_link(glue: str) -> None:
    assert facets_of(f"look {glue}https://example.com/x?y=1 now") == [
        ("https://example.com/x?y=1",
         {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/x?y=1"})]


@pytest.mark.parametrize(("text", "tag"), [
    (f"#party{FAMILY} tonight", f"party{FAMILY}"),        # the joiner stops the rule: whole cluster
    ("#love❤️ x", "love❤️"),
    ("#ki\u200dds", "ki\u200d"),                          # letter + joiner is one cluster
    ("#tag\u20e2 x", "tag\u20e2"),
])
def test_a_tag_ending_in_a_cluster_takes_all_of_it(text: str, tag: str) -> None:
    assert facets_of(text) == [(f"#{tag}", {"$type": "app.bsky.richtext.facet#tag", "tag": tag})]


# Pieces glued together at random: tokens, clusters of every kind, whitespace and punctuation.
PIECES = st.sampled_from([
    "https://example.com/a(b)", "example.com/x", "https://x.org/p?q=1#f", "#kids", "#Ki\u200dds",
    "＃tag", "#tag!", "#🦋", "#a", "@ana.test", "@bo.test", "(@ana.test)", FAMILY, "👋🏽", "🚀",
    "❤️", "🇺🇦", "🇵", "1️⃣", "e\u0301", "\u0301", "क्ष", "अ्", "\u094d", "\u200d", "\u200c",
    "\uac00\u11a8", "\u1100", "\r\n", " ", "\n\n", ". ", ",", "(", ")", "x", "語", "#", "@",
])
TEXTS = st.lists(PIECES, min_size=1, max_size=30).map("".join)


def cluster_bytes(text: str) -> set[int]:
    return {0} | {len(text[:end].encode()) for end in graphemes.ends(text)}


@settings(max_examples=400, deadline=None)
@given(TEXTS, st.one_of(st.none(), TEXTS))
def test_every_facet_spans_exactly_its_token_on_cluster_boundaries(text: str,
                                                                   warning: str | None) -> None:
    if not text.strip():
        return
    draft = render(post(text, warning), TARGET, PEOPLE)
    judged = read_post(post(text, warning)).tags_by_key
    for part in Plan.from_json(draft.payload).parts:
        data, bounds, last = part.text.encode(), cluster_bytes(part.text), 0
        for facet in part.facets:
            start, end = fx.span(facet)
            assert last <= start < end and {start, end} <= bounds
            last = end
            token = data[start:end].decode("utf-8", "strict")
            feature = facet["features"][0]
            kind = feature["$type"].rsplit("#", 1)[1]
            if kind == "link":
                assert feature["uri"] in (token, "https://" + token)
            elif kind == "tag":
                assert token[0] in "#＃" and token[1:] == feature["tag"]
                assert read_text(feature["tag"] and "#" + feature["tag"]).hashtags
                assert any(k in judged for k in [t.key for t in read_text(token).hashtags])
            else:
                assert token.lower() == "@ana.test" and feature["did"] == "did:plc:ana"
        for mention in part.mentions:
            assert data[mention.byte_start:mention.byte_end].decode() == "@" + mention.handle


def cuts(text: str, parts: list[str]) -> list[int]:
    """Where, in ``text``, each part ends (parts are stripped slices of it, in order)."""
    out, pos = [], 0
    for part in parts:
        pos = text.index(part, pos) + len(part)
        out.append(pos)
    return out[:-1]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(PIECES, st.just("word " * 20), st.just("x" * 120)),
                min_size=1, max_size=300).map("".join))
def test_threads_are_never_cut_inside_a_token_or_a_cluster(text: str) -> None:
    text = text.strip()
    try:
        parts = split(text)
    except ContentRejected as refused:
        assert "longer than one Bluesky post" in str(refused)
        return
    assert all(fx.graphemes(p) <= MAX_GRAPHEMES and fx.utf8_len(p) <= MAX_BYTES for p in parts)
    found = read_text(text)
    spans = [(t.start, t.end) for t in (*found.hashtags, *found.mentions, *found.links)]
    bounds = {0, *graphemes.ends(text)}
    for cut in cuts(text, parts):
        assert cut in bounds
        assert not any(s < cut < e for s, e in spans), (cut, text[cut - 20:cut + 20])


def test_a_long_url_moves_whole_to_the_next_post() -> None:
    url = "https://example.com/" + "a" * 250
    text = "word " * 20 + url + " after"
    parts = split(text)
    assert parts == ["word " * 19 + "word", url + " after"]


@pytest.mark.parametrize(("token", "kind"), [
    ("https://example.com/" + "a" * 400, "link"),
    ("#" + "a" * 400, "tag"),
])
def test_a_token_longer_than_one_post_is_refused_with_its_reason(token: str, kind: str) -> None:
    with pytest.raises(ContentRejected, match=f"a {kind} of .* is longer than one Bluesky post"):
        render(post("before " + token + " after"), TARGET, PEOPLE)
