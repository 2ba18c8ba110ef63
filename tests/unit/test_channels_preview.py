"""What the compose preview says about who could see a post on the newer channels (from each
adapter's declared facts)."""

from __future__ import annotations

import pytest

import adapters
from hub.domain.model import Identity, IdentityKind, PeopleSnapshot, Person, PersonId, Reach, Target
from hub.services.preview import reach_words

ANA = Person(PersonId("1"), "Ana", (Identity(IdentityKind.BLUESKY, "did:plc:ana"),
                                    Identity(IdentityKind.MATRIX, "@ana:example.org")))
BO = Person(PersonId("2"), "Bo", (Identity(IdentityKind.EMAIL, "bo@example.org"),))
PEOPLE = PeopleSnapshot({ANA.id: ANA, BO.id: BO}, {"family": frozenset({ANA.id, BO.id})})


@pytest.mark.parametrize(("target", "words"), [
    (Target("chat", "bluesky-chat:me", Reach.RECIPIENTS, {"list": "family"}),
     "the 1 person in family, in a Bluesky group chat"),
    (Target("hook", "webhook:team", Reach.RECIPIENTS, {"list": "family", "reach": "recipients"}),
     "the 2 people in family, through the webhook's receiver"),
    (Target("room", "matrix:home", Reach.ROOM_MEMBERS, {"list": "family"}),
     "the members of the Matrix room — grows if history is shared"),
    (Target("site", "webhook:site", Reach.WORLD, {"reach": "world"}), "anyone on the web"),
])
def test_reach_words_for_the_new_channels(target: Target, words: str) -> None:
    facts = adapters.TARGET_SPECS[target.platform].facts
    assert reach_words(target, facts, PEOPLE) == words
