"""The compiled ``route()`` gives exactly the decisions and reasons of the straightforward
reference evaluator (``policy_reference.py``): on every row of the engine's table, and on random
policies and posts that use every kind of condition."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    Routing,
    Target,
)
from hub.policy import Action, Audience, Conditions, Policy, Requirement, Rule, route
from tests.unit.policy_reference import reference_route
from tests.unit.test_policy_engine import PEOPLE, ROWS, make_policy


def both(post: Post, policy: Policy, people: PeopleSnapshot, now: datetime,
         **kw: Any) -> tuple[Routing | str, Routing | str]:
    """Both evaluators' answers; an error counts as its type and message."""
    answers: list[Routing | str] = []
    for evaluate in (route, reference_route):
        try:
            answers.append(evaluate(post, policy, people, now, **kw))
        except Exception as exc:  # noqa: BLE001 - compared, not handled
            answers.append(f"{type(exc).__name__}: {exc}")
    return answers[0], answers[1]


@pytest.mark.parametrize(("rules", "post", "now", "expected"), ROWS)
def test_every_table_row_decides_as_the_reference(rules: tuple[Rule, ...], post: Post,
                                                  now: datetime, expected: object) -> None:
    compiled, reference = both(post, make_policy(*rules), PEOPLE, now)
    assert compiled == reference


PLATFORMS = ("email", "feed", "bluesky", "mastodon")
TAGS = ("kids", "work", "Private", "ｆｏｏｄ")
# combinable ones, one with a group and one without IGNORECASE (both searched alone)
PATTERNS = (re.compile(r"\bsalary\b", re.I), re.compile("secret", re.I),
            re.compile(r"x{2,}", re.I), re.compile(r"(a)\1", re.I), re.compile("lunch"))
ANA = Person(PersonId("ana"), "Ana", (Identity(IdentityKind.MASTODON, "@ana@example.social"),
                                      Identity(IdentityKind.EMAIL, "ana@example.org")))
BO = Person(PersonId("bo"), "Bo", (Identity(IdentityKind.BLUESKY, "bo.bsky.social"),))
PEOPLE2 = PeopleSnapshot({ANA.id: ANA, BO.id: BO},
                         {"clients": frozenset({ANA.id}), "friends": frozenset({BO.id})})
WORDS = ("hello", "#kids", "#Private", "@ana", "@ana@example.social", "@bo.bsky.social",
         "ana@example.org", "salary", "SECRET", "aa", "lunch", "xxx", "＃ｋｉｄｓ", "#wo\u200drk",
         "#food", " ", "!")
START = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)


def subset(draw: Any, items: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(draw(st.lists(st.sampled_from(items), max_size=2, unique=True))) \
        if draw(st.integers(0, 2)) == 0 else ()


@st.composite
def policies(draw: Any) -> Policy:
    names = tuple(f"t{i}" for i in range(draw(st.integers(1, 6))))
    targets = {n: Target(n, f"{draw(st.sampled_from(PLATFORMS))}:acct{draw(st.integers(0, 1))}",
                         draw(st.sampled_from(tuple(Reach))),
                         {"list": draw(st.sampled_from(["clients", "friends"]))})
               for n in names}
    audience_names = tuple(f"a{i}" for i in range(draw(st.integers(1, 3))))
    audiences = {a: Audience(a, draw(st.sampled_from(tuple(Reach))),
                             tuple(draw(st.lists(st.sampled_from(names), unique=True))))
                 for a in audience_names}
    made = []
    for i in range(draw(st.integers(0, 8))):
        hours = draw(st.one_of(st.none(), st.tuples(st.integers(0, 1439), st.integers(0, 1439))
                               .filter(lambda h: h[0] != h[1])))
        conditions = Conditions(
            tags=subset(draw, TAGS), audiences=subset(draw, audience_names),
            targets=subset(draw, names), platforms=subset(draw, PLATFORMS),
            accounts=subset(draw, ("mastodon:acct0", "bluesky:acct1", "email:acct0")),
            reach=subset(draw, tuple(Reach)), text=subset(draw, PATTERNS),
            mentions_member_of=subset(draw, ("clients", "friends")),
            has_media=draw(st.sampled_from([None, True, False])),
            missing_alt_text=draw(st.sampled_from([None, True, False])),
            author=subset(draw, ("owner", "token:*", "token:phone")),
            language=subset(draw, ("en", "de")), weekdays=subset(draw, tuple(range(7))),
            hours=hours, timezone=draw(st.sampled_from(["UTC", "Europe/Berlin"])))
        action = draw(st.sampled_from(tuple(Action)))
        requirement = draw(st.sampled_from(tuple(Requirement))) \
            if action is Action.REQUIRE else None
        made.append(Rule(f"r{i}", action, conditions, requirement,
                         reason=draw(st.sampled_from(["", "Owner words."]))))
    return Policy(version=1, accounts=(), targets=targets, audiences=audiences,
                  rules=tuple(made), digest="x")


@st.composite
def posts(draw: Any, policy: Policy) -> Post:
    audiences = tuple(draw(st.lists(st.sampled_from([*policy.audiences, "gone"]),
                                    max_size=3)))
    text = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=6)))
    cw = draw(st.one_of(st.none(), st.lists(st.sampled_from(WORDS), max_size=3).map(" ".join)))
    media = tuple(Media(f"m{i}", "image/png", alt=draw(st.sampled_from(["", "a cat"])))
                  for i in range(draw(st.integers(0, 2))))
    return Post(PostId("p"), text, audiences, START, tags=subset(draw, TAGS),
                content_warning=cw, media=media,
                author=draw(st.sampled_from(["owner", "token:phone"])),
                language=draw(st.sampled_from([None, "en", "en-GB", "de"])))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_policies_and_posts_decide_as_the_reference(data: st.DataObject) -> None:
    policy = data.draw(policies())
    post = data.draw(posts(policy))
    now = START + timedelta(minutes=data.draw(st.integers(0, 7 * 24 * 60)))
    kw = {"recheck": data.draw(st.booleans()),
          "local_domains": data.draw(st.sampled_from([None, {"mastodon:acct0": "example.social"},
                                                      {"mastodon:acct0": "other.social"}]))}
    compiled, reference = both(post, policy, PEOPLE2, now, **kw)
    assert compiled == reference
