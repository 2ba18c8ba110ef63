"""Platform knowledge lives on each adapter's spec, so the core's previews and deletion
reports name no network: adding one touches only ``adapters/`` and the composition root."""

from __future__ import annotations

import pytest

from adapters import TARGET_SPECS
from hub.domain.model import IdentityKind, PeopleSnapshot, Person, PersonId, Reach, Target
from hub.ports import PlatformFacts
from hub.services.preview import reach_words


@pytest.mark.parametrize("platform", sorted(TARGET_SPECS))
def test_every_adapter_declares_what_the_owner_is_told(platform):
    facts = TARGET_SPECS[platform].facts
    assert isinstance(facts, PlatformFacts) and facts.display_name
    assert facts.can_recall == (facts.recall == "")


def test_what_cannot_be_recalled_says_why():
    cannot = {p: s.facts.recall for p, s in TARGET_SPECS.items() if not s.facts.can_recall}
    assert sorted(cannot) == ["bluesky-chat", "email"]
    assert "inboxes" in cannot["email"] and "unsent" in cannot["bluesky-chat"]


def _target(platform: str, reach: Reach) -> Target:
    return Target(name="t", account=f"{platform}:main", reach=reach, options={"list": "friends"})


PEOPLE = PeopleSnapshot(
    people={PersonId("p1"): Person(PersonId("p1"), "Ana", ()),
            PersonId("p2"): Person(PersonId("p2"), "Bo", ())},
    lists={"friends": frozenset({PersonId("p1"), PersonId("p2")})})


@pytest.mark.parametrize(("facts", "reach", "words"), [
    (PlatformFacts("Cloudnet"), Reach.WORLD, "anyone on the web"),
    (PlatformFacts("Cloudnet"), Reach.FOLLOWERS, "your Cloudnet followers"),
    (PlatformFacts("Cloudnet", reaches_people="by carrier pigeon"), Reach.RECIPIENTS,
     "the 2 people in friends, by carrier pigeon"),
    (PlatformFacts("Cloudnet"), Reach.RECIPIENTS, "the 2 people in friends, on Cloudnet"),
    (PlatformFacts("Cloudnet", identity=IdentityKind.EMAIL), Reach.RECIPIENTS,
     "nobody yet: no one in friends can be reached on Cloudnet"),
])
def test_a_new_network_is_described_from_its_facts_alone(facts, reach, words):
    assert reach_words(_target("cloudnet", reach), facts, PEOPLE).startswith(words)
