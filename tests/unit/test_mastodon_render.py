"""``prepare`` for Mastodon without a network: counting, threads, addressing, the mention guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import regex
from mastodon._url_regex import url_regex

from adapters.mastodon.limits import AccountSettings
from adapters.mastodon.render import render
from adapters.mastodon.spec import MastodonOptions, MastodonSpec
from adapters.mastodon.text import mentions, split_text, status_length
from hub.domain.model import (
    Identity,
    IdentityKind,
    Media,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Target,
)
from hub.errors import ContentRejected

ACCOUNT = AccountSettings(instance="https://home.example", account_id="1", username="me",
                          domain="home.example",
                          mime_types=("image/png", "image/jpeg", "video/mp4"))


def post(text: str, *, cw: str | None = None, media: tuple[Media, ...] = ()) -> Post:
    return Post(PostId("p"), text, ("a",), datetime(2026, 1, 1, tzinfo=UTC),
                content_warning=cw, language="en", media=media)


def target(visibility: str, **options: object) -> Target:
    opts = {"visibility": visibility, **options}
    return Target("t", "mastodon:work", MastodonSpec.reach(MastodonOptions.model_validate(opts)),
                  opts)  # type: ignore[arg-type]


def people(*members: tuple[str, str | None], list_name: str = "friends") -> PeopleSnapshot:
    found = {}
    for i, (name, address) in enumerate(members):
        ids = (Identity(IdentityKind.MASTODON, address),) if address else ()
        found[PersonId(f"p{i}")] = Person(PersonId(f"p{i}"), name, ids)
    return PeopleSnapshot(found, {list_name: frozenset(found)})


@pytest.mark.parametrize(("text", "cw", "expected"), [
    ("hello", "", 5),
    ("see https://example.org/" + "a" * 100, "", 4 + 23),
    ("hi @ana@a.very.long.domain.example!", "", len("hi @ana!")),
    ("👨‍👩‍👧‍👦 family", "", 8),
    ("text", "spoiler", 11),
    ("two links https://a.example/x and http://b.example/y.", "", 10 + 23 + 5 + 23 + 1),
    ("not a link: example.org or ftp://x.example", "", 42),
])
def test_status_length_counts_the_mastodon_way(text, cw, expected):
    assert status_length(text, cw) == expected


@pytest.mark.parametrize("text", [
    "plain words only", "a link https://example.org/path?q=1#frag, then more",
    "(https://example.org/in/parens) and https://example.org/end.",
    "émojis 🎉🎉 and https://sub.example.co.uk/ünïcode/path ok",
])
def test_link_counting_agrees_with_twitter_text(text):
    """The adapter's link matcher gives the length Mastodon.py's twitter-text pattern gives."""
    reference = url_regex.sub(lambda m: m.group(2) + "x" * 23, text)
    assert status_length(text) == len(regex.findall(r"\X", reference))


def test_mentions_fill_in_the_local_domain_and_skip_links():
    found = mentions("@ana hi @Bob@Other.Example see https://x.example/@carol",
                     local_domain="home.example")
    assert [m.acct for m in found] == ["ana@home.example", "bob@other.example"]


def test_split_text_keeps_links_whole_and_fits_the_budget():
    link = "https://example.org/" + "p" * 60
    text = " ".join(["word"] * 60 + [link] + ["more"] * 60)
    pieces = split_text(text, 100)
    assert all(status_length(p) <= 100 for p in pieces)
    assert sum(p.count(link) for p in pieces) == 1
    assert " ".join(pieces).split() == text.split()


def test_short_public_post_is_one_part():
    draft = render(post("Hello"), target("public"), people(), ACCOUNT)
    assert draft.parts == ("Hello",)
    assert draft.payload["visibility"] == "public"
    assert draft.counter == "5/500 characters"


def test_over_the_limit_without_split_is_refused_naming_target_and_limit():
    with pytest.raises(ContentRejected, match=r"t: 501 characters .* limit of 500") as raised:
        render(post("x" * 491, cw="ten chars!"), target("public"), people(), ACCOUNT)
    assert raised.value.target == "t"


def test_long_text_becomes_a_thread_with_the_cw_on_every_part():
    text = " ".join(f"Sentence {i} is here." for i in range(120))
    draft = render(post(text, cw="long"), target("unlisted", split=True), people(), ACCOUNT)
    assert len(draft.parts) >= 4
    assert all(status_length(p, "long") <= 500 for p in draft.parts)
    assert draft.parts[0].endswith(f"(1/{len(draft.parts)})")


def test_direct_addresses_the_list_members_and_notes_who_is_missing():
    snapshot = people(("Ana", "@ana@far.example"), ("Bo", "bo@home.example"), ("Cy", None),
                      ("Di", "not-an-address"), ("Ana again", "@ANA@far.example"))
    draft = render(post("Dinner?"), target("direct", list="friends"), snapshot, ACCOUNT)
    assert [r.address for r in draft.recipients] == ["@ana@far.example", "@bo@home.example"]
    assert draft.parts == ("@ana@far.example @bo Dinner?",)
    assert any("Cy has no Mastodon identity" in n for n in draft.notes)
    assert any("Di has a Mastodon identity that is not @user@domain" in n for n in draft.notes)


def test_direct_to_twelve_members_splits_the_addressees_not_the_text():
    members = [(f"M{i}", f"@member_with_a_long_name_{i:02d}@far.example") for i in range(12)]
    text = "Family update: " + "we are moving house next month " * 8
    draft = render(post(text.strip()), target("direct", list="friends"), people(*members),
                   ACCOUNT)
    groups = draft.payload["groups"]
    assert len(groups) >= 2
    assert sorted(a for g in groups for a in g["recipients"]) == \
        sorted(m[1][1:] for m in members)
    assert all(status_length(p) <= 500 for p in draft.parts)
    assert all(p.endswith(text.strip()) for p in draft.parts)
    assert any("direct posts" in n for n in draft.notes)


def test_direct_long_text_with_split_gives_every_group_the_whole_thread():
    members = [(f"M{i}", f"@m{i}@far.example") for i in range(3)]
    text = " ".join(f"Sentence {i} is here." for i in range(80))
    draft = render(post(text), target("direct", list="friends", split=True), people(*members),
                   ACCOUNT)
    groups = draft.payload["groups"]
    assert all(len(g["parts"]) == len(groups[0]["parts"]) > 1 for g in groups)
    assert all(status_length(p) <= 500 for p in draft.parts)


def test_a_recipient_mentioned_in_the_text_is_not_mentioned_twice():
    draft = render(post("@ana@far.example see you"), target("direct", list="friends"),
                   people(("Ana", "@ana@far.example"), ("Bo", "@bo@far.example")), ACCOUNT)
    assert draft.parts == ("@bo@far.example @ana@far.example see you",)


def test_mention_guard_refuses_an_outsider_in_a_direct_post_and_names_them():
    with pytest.raises(ContentRejected, match="mentions @eve@evil.example, who is not in list"):
        render(post("Psst @eve@evil.example"), target("direct", list="friends"),
               people(("Ana", "@ana@far.example")), ACCOUNT)


def test_mentioning_oneself_is_not_outside_the_audience():
    draft = render(post("note to @me"), target("direct", list="friends"),
                   people(("Ana", "@ana@far.example")), ACCOUNT)
    assert draft.payload["text_mentions"] == []


def test_direct_to_a_list_without_mastodon_identities_is_refused():
    with pytest.raises(ContentRejected, match="no member with a Mastodon identity"):
        render(post("Hi"), target("direct", list="friends"), people(("Cy", None)), ACCOUNT)


def test_private_notes_the_growing_audience_unless_locked():
    open_draft = render(post("Hi @ana@far.example"), target("private"), people(), ACCOUNT)
    assert any("anyone who follows the account later" in n for n in open_draft.notes)
    assert any("publishing checks they already follow" in n for n in open_draft.notes)
    locked = AccountSettings(**{**ACCOUNT.__dict__, "locked": True})
    assert not any("later" in n for n in render(post("Hi"), target("private"), people(),
                                                  locked).notes)


def _media(mime: str = "image/png", alt: str = "alt", size: int = 10) -> Media:
    return Media("ab" * 32, mime, alt, size)


@pytest.mark.parametrize(("media", "message"), [
    ((_media(),) * 5, "5 attachments; this instance takes at most 4"),
    ((_media(), _media("video/mp4")), "not a mix"),
    ((_media(alt="x" * 1501),), "alt text .* longer than 1500"),
    ((_media("image/tiff"),), "does not accept image/tiff"),
    ((_media(size=17 * 1024 * 1024),), "at most 16777216"),
])
def test_media_the_instance_cannot_take_is_refused(media, message):
    with pytest.raises(ContentRejected, match=message):
        render(post("pics", media=media), target("public"), people(), ACCOUNT)


def test_media_without_alt_text_is_noted_and_listed_in_the_payload():
    draft = render(post("pic", media=(_media(alt=""),)), target("public", sensitive=True),
                   people(), ACCOUNT)
    assert any("has no alt text" in n for n in draft.notes)
    assert draft.payload["media"] == [{"sha256": "ab" * 32, "mime_type": "image/png",
                                       "alt": "", "size": 10}]
    assert draft.payload["sensitive"] is True
