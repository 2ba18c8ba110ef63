"""Rendering for Bluesky, without a network: limits, splitting, facets, labels, media, gates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.bluesky import facets as fx
from adapters.bluesky.render import MAX_BYTES, MAX_GRAPHEMES, Plan, labels_for, render, split
from hub.domain.model import (
    Identity,
    IdentityKind,
    Media,
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

FAMILY = "👩\u200d👩\u200d👧\u200d👦"        # one grapheme, 25 bytes
FLAG = "🇺🇦"                                  # one grapheme, 8 bytes
COMBINING = "e\u0301"                          # one grapheme, 3 bytes
ANA = Person(PersonId("p1"), "Ana", (Identity(IdentityKind.BLUESKY, "ana.test"),
                                      Identity(IdentityKind.BLUESKY, "did:plc:ana")))
BO = Person(PersonId("p2"), "Bo", (Identity(IdentityKind.BLUESKY, "did:plc:bo"),))
CY = Person(PersonId("p3"), "Cy", (Identity(IdentityKind.EMAIL, "cy@example.org"),))
PEOPLE = PeopleSnapshot(people={p.id: p for p in (ANA, BO, CY)},
                        lists={"friends": frozenset({ANA.id, BO.id, CY.id})})


def post(text: str, **kw: object) -> Post:
    return Post(id=PostId("post1"), text=text, audiences=("public",),
                created=datetime(2026, 1, 1, tzinfo=UTC), **kw)  # type: ignore[arg-type]


def target(**options: object) -> Target:
    return Target(name="bsky", account="bluesky:me", reach=Reach.WORLD,
                  options=options)  # type: ignore[arg-type]


def plan_of(text: str, people: PeopleSnapshot = PEOPLE, **options: object) -> Plan:
    return Plan.from_json(render(post(text), target(**options), people).payload)


def sliced(text: str, facet: dict) -> str:
    start, end = fx.span(facet)
    return text.encode()[start:end].decode()


@pytest.mark.parametrize("prefix", [
    "", "👋🏽 ", f"{FAMILY}{FLAG} ", f"{COMBINING}{COMBINING} ", "日本語のテキスト ",
    "שלום עולם ", "مرحبا بالعالم ", f"{FLAG}{FLAG}{FLAG}\u200f ",
])
def test_facets_sit_at_utf8_byte_offsets_after_any_script(prefix: str) -> None:
    """Links, tags and known mentions cover exactly their text, counted in UTF-8 bytes."""
    text = f"{prefix}see https://example.com/a?b=1 #café and @ana.test {FAMILY}"
    part = plan_of(text).parts[0]
    found = {sliced(text, f): f["features"][0] for f in part.facets}
    assert found["https://example.com/a?b=1"]["uri"] == "https://example.com/a?b=1"
    assert found["#café"]["tag"] == "café"
    assert found["@ana.test"]["did"] == "did:plc:ana"
    assert part.mentions == []


def test_unknown_mention_is_left_for_publish_time_and_never_a_broken_facet() -> None:
    text = "hi @nobody.example.com and @bo.test"
    part = plan_of(text).parts[0]
    assert part.facets == []
    assert [m.handle for m in part.mentions] == ["nobody.example.com", "bo.test"]
    assert text.encode()[part.mentions[0].byte_start:part.mentions[0].byte_end] == \
        b"@nobody.example.com"


def test_exactly_300_graphemes_fit_and_301_are_refused_without_split() -> None:
    text = (FAMILY + FLAG + COMBINING + "a") * 75        # 300 graphemes, 2775 bytes
    assert fx.graphemes(text) == 300 and fx.utf8_len(text) <= MAX_BYTES
    assert render(post(text), target(), PEOPLE).parts == (text,)
    with pytest.raises(ContentRejected, match="301 graphemes"):
        render(post(text + "b"), target(), PEOPLE)


def test_byte_limit_counts_even_under_300_graphemes() -> None:
    text = FAMILY * 121                                   # 121 graphemes, 3025 bytes
    with pytest.raises(ContentRejected, match="3025 bytes"):
        render(post(text), target(), PEOPLE)
    parts = render(post(text), target(split=True), PEOPLE).parts
    assert [fx.utf8_len(p) <= MAX_BYTES for p in parts] == [True, True]


def test_long_text_splits_at_sentences_when_allowed() -> None:
    sentence = "This is a sentence of moderate length, written to fill a post. "
    draft = render(post(sentence * 12), target(split=True), PEOPLE)
    assert len(draft.parts) == 3
    assert all(p.endswith(".") for p in draft.parts)
    assert draft.counter.startswith("thread of 3")


def test_cjk_without_spaces_splits_after_full_stops() -> None:
    text = "今日はいい天気です。" * 40
    parts = split(text)
    assert all(fx.graphemes(p) <= MAX_GRAPHEMES for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["word", "x" * 40, FAMILY, FLAG, COMBINING, "日本",
                                 "https://example.com/path", "#tag", "שלום", ". ", " ", "\n\n"]),
                min_size=1, max_size=400))
def test_split_parts_always_fit_and_lose_only_whitespace(pieces: list[str]) -> None:
    text = "".join(pieces)
    try:
        parts = split(text)
    except ContentRejected as refused:     # only for a token (here a link) too long for a post
        found = read_text(text.strip())
        assert "is longer than one Bluesky post" in str(refused)
        assert any(fx.graphemes(token) > MAX_GRAPHEMES for token in
                   (text.strip()[t.start:t.end] for t in (*found.links, *found.hashtags)))
        return
    assert all(fx.graphemes(p) <= MAX_GRAPHEMES and fx.utf8_len(p) <= MAX_BYTES for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == \
        text.replace(" ", "").replace("\n", "")


def test_links_are_not_cut_when_splitting() -> None:
    url = "https://example.com/a/very/long/path/that/must/stay/whole"
    text = ("word " * 55) + url + (" more" * 60)
    for part in plan_of(text, split=True).parts:
        for facet in part.facets:
            assert sliced(part.text, facet) == url


def test_languages_and_extra_tags_travel_with_the_post() -> None:
    draft = render(post("hello", language="pt-BR", tags=("#hub", "x" * 70)), target(), PEOPLE)
    plan = Plan.from_json(draft.payload)
    assert plan.langs == ["pt-BR"] and plan.tags == ["hub"]


def test_content_warning_goes_first_and_maps_to_a_self_label() -> None:
    plan = Plan.from_json(render(post("details", content_warning="gore, injury"),
                                 target(), PEOPLE).payload)
    assert plan.parts[0].text.startswith("CW: gore, injury\n\ndetails")
    assert plan.labels == ["graphic-media"]
    assert labels_for("spoilers for the finale") == []
    assert labels_for("NSFW nudity") == ["sexual", "nudity"]


def test_images_keep_alt_text_and_more_than_four_are_refused() -> None:
    media = tuple(Media(f"{i:064x}", "image/png", alt=f"picture {i}") for i in range(4))
    plan = Plan.from_json(render(post("pics", media=media), target(), PEOPLE).payload)
    assert [i["alt"] for i in plan.images] == [f"picture {i}" for i in range(4)]
    with pytest.raises(ContentRejected, match="at most 4"):
        render(post("pics", media=media + media[:1]), target(), PEOPLE)
    with pytest.raises(ContentRejected, match="images only"):
        render(post("clip", media=(Media("f" * 64, "video/mp4"),)), target(), PEOPLE)


def test_missing_alt_text_is_noted() -> None:
    draft = render(post("pic", media=(Media("a" * 64, "image/jpeg"),)), target(), PEOPLE)
    assert any("no alt text" in n for n in draft.notes)


def test_link_card_is_planned_only_when_allowed_and_without_images() -> None:
    assert plan_of("read https://example.com/x").card is None
    assert plan_of("read https://example.com/x", link_cards=True).card == {
        "uri": "https://example.com/x", "part": 0}


def test_threadgate_list_uses_members_with_a_did_and_says_who_is_left_out() -> None:
    draft = render(post("hi"), target(threadgate=["mentioned", "list:friends"], quotes=False),
                   PEOPLE)
    plan = Plan.from_json(draft.payload)
    assert plan.reply_rules == ["mentioned", "list:friends"]
    assert plan.lists == {"friends": ["did:plc:ana", "did:plc:bo"]}
    assert plan.quotes is False
    assert any("Cy" in n for n in draft.notes)
    assert any("public Bluesky list" in n for n in draft.notes)
    assert draft.recipients == ()


def test_no_threadgate_means_anyone_may_reply() -> None:
    assert plan_of("hi").reply_rules is None
    assert plan_of("hi", threadgate=["nobody"]).reply_rules == ["nobody"]


def test_payload_is_plain_json_and_round_trips() -> None:
    draft = render(post("hi @ana.test https://example.com #x", content_warning="nsfw"),
                   target(threadgate=["list:friends"], split=True), PEOPLE)
    again = json.loads(json.dumps(draft.payload))
    assert Plan.from_json(again) == Plan.from_json(draft.payload)


def test_empty_post_is_refused() -> None:
    with pytest.raises(ContentRejected):
        render(post("   "), target(), PEOPLE)
