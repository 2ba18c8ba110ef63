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
     "the members of the Matrix room when it is sent — later members see it too if the room "
     "shares its history"),
    (Target("site", "webhook:site", Reach.WORLD, {"reach": "world"}), "anyone on the web"),
])
def test_reach_words_for_the_new_channels(target: Target, words: str) -> None:
    facts = adapters.TARGET_SPECS[target.platform].facts
    assert reach_words(target, facts, PEOPLE) == words


@pytest.mark.parametrize(("options", "words"), [
    ({"list": "family"}, "the members of the hub's Matrix room for family, joined or invited "
                         "when it is sent (the invited read it once they join); people invited "
                         "later never see it"),
    ({"list": "family", "history": "joined"}, "the members of the hub's Matrix room for family "
                                              "who have joined when it is sent; people who join "
                                              "later never see it"),
    ({"room": "#family:example.org"}, "the members of the Matrix room #family:example.org when "
                                      "it is sent — people who join later see it too if the "
                                      "room shares its history"),
])
def test_a_kept_matrix_room_never_grows_and_an_existing_one_may(options, words) -> None:
    # A room the hub keeps is created with history_visibility invited or joined, never shared:
    # the preview must not say it grows.
    spec = adapters.TARGET_SPECS["matrix"]
    target = Target("room", "matrix:home", Reach.ROOM_MEMBERS, options)
    said = reach_words(target, spec.facts, PEOPLE, room=spec.reach_words(
        spec.options.model_validate(options)))
    assert said == words
    assert ("grows" in said) is False
