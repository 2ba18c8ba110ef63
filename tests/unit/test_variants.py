"""Per-network text variants and threads, adversarially: the policy judges each target on the
text that target receives (``Post.as_sent_to``), read as the network reads it, part by part."""

from __future__ import annotations

import re

import pytest

from hub.domain.model import Outcome, Post, Variant, join_thread
from hub.domain.reading import read_post, without
from hub.policy import route
from tests.unit.policy_reference import reference_route
from tests.unit.test_policy_engine import NOON, PEOPLE, TARGETS, deny, make_policy, make_post

PRIVATE = deny("no-private-in-public", tags=("private",), reach=(TARGETS["bsky"].reach,))
CLIENTS = deny("no-clients-in-public", mentions_member_of=("clients",),
               reach=(TARGETS["bsky"].reach,))
SECRET = deny("no-secret", text=(re.compile(r"secret\s+project", re.IGNORECASE),))


def outcomes(post: Post, *rules: object) -> dict[str, Outcome]:
    policy = make_policy(*rules)  # type: ignore[arg-type]
    got = {d.target.name: d.outcome for d in route(post, policy, PEOPLE, NOON).decisions}
    ref = {d.target.name: d.outcome
           for d in reference_route(post, policy, PEOPLE, NOON).decisions}
    assert got == ref
    return got


@pytest.mark.parametrize(("variants", "rule", "bsky", "masto"), [
    # a tag typed only in the Bluesky variant denies Bluesky, not Mastodon
    ((Variant("bluesky", ("lunch #private",)),), PRIVATE, Outcome.DENY, Outcome.ALLOW),
    # by target name, too
    ((Variant("bsky", ("lunch #Private",)),), PRIVATE, Outcome.DENY, Outcome.ALLOW),
    # as Bluesky reads it: fullwidth sign, zero-width joiner
    ((Variant("bluesky", ("lunch ＃private",)),), PRIVATE, Outcome.DENY, Outcome.ALLOW),
    ((Variant("bluesky", ("lunch #pri\u200dvate",)),), PRIVATE, Outcome.DENY, Outcome.ALLOW),
    # a client mention only in the Bluesky variant
    ((Variant("bluesky", ("thanks @ana.bsky.social",)),), CLIENTS, Outcome.DENY, Outcome.ALLOW),
    # ... or only in the Mastodon one
    ((Variant("mastodon", ("thanks @ana@example.social",)),), CLIENTS, Outcome.ALLOW,
     Outcome.DENY),
    # a variant thread: the tag in its second part
    ((Variant("bluesky", ("part one", "part two #private")),), PRIVATE, Outcome.DENY,
     Outcome.ALLOW),
    # a text pattern across two parts is seen in the joined text
    ((Variant("mastodon", ("the secret", "project starts")),), SECRET, Outcome.ALLOW,
     Outcome.DENY),
])
def test_a_variant_is_judged_for_the_targets_that_receive_it(
        variants: tuple[Variant, ...], rule: object, bsky: Outcome, masto: Outcome) -> None:
    post = make_post(("public",), "a clean text", variants=variants)
    got = outcomes(post, rule)
    assert (got["bsky"], got["masto"]) == (bsky, masto)


def test_a_clean_variant_does_not_launder_the_main_text() -> None:
    """The main text's #private still denies every target without a variant of its own."""
    post = make_post(("public",), "lunch #private",
                     variants=(Variant("bluesky", ("lunch",)),))
    got = outcomes(post, PRIVATE)
    assert got["bsky"] is Outcome.ALLOW        # Bluesky gets the clean variant only
    assert got["masto"] is Outcome.DENY


def test_a_target_variant_wins_over_its_platform_variant() -> None:
    post = make_post(("public",), "hello", variants=(
        Variant("bluesky", ("clean",)), Variant("bsky", ("dirty #private",))))
    assert outcomes(post, PRIVATE)["bsky"] is Outcome.DENY
    assert post.as_sent_to(TARGETS["bsky"]).text == "dirty #private"


def test_the_main_thread_is_read_part_by_part() -> None:
    parts = ("first part", "#private second")
    post = make_post(("public",), join_thread(parts), thread=parts)
    assert outcomes(post, PRIVATE)["bsky"] is Outcome.DENY
    reading = read_post(post)
    tag = reading.tags_by_key["private"]
    assert post.text[tag.start:tag.end] == "#private"
    assert {"bluesky", "mastodon"} <= tag.readers


def test_as_sent_to_carries_only_the_targets_own_text() -> None:
    post = make_post(("public",), "main", variants=(
        Variant("bluesky", ("a", "b")), Variant("mastodon", ("long one",))))
    sent = post.as_sent_to(TARGETS["bsky"])
    assert (sent.text, sent.thread, sent.variants) == ("a\n\nb", ("a", "b"), ())
    mail = post.as_sent_to(TARGETS["mail"])
    assert (mail.text, mail.thread, mail.variants) == ("main", (), ())


def test_without_cuts_a_thread_part_by_part() -> None:
    parts = ("one #kids", "two #kids three")
    post = make_post(("public",), join_thread(parts), thread=parts)
    cut = without(post, [t for t in read_post(post).hashtags if t.key == "kids"])
    assert cut.thread == ("one ", "two  three")
    assert cut.text == join_thread(cut.thread)
