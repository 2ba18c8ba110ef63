"""Properties of ``route`` over random policies and posts, checked against a simple oracle."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.model import Media, Outcome, PeopleSnapshot, Post, PostId, Reach, Target
from hub.policy import Action, Audience, Conditions, Policy, Requirement, Rule, route

PLATFORMS = ("email", "feed", "bluesky", "mastodon")
TAGS = ("private", "work", "politics", "cats")
REACHES = tuple(Reach)
NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
BITS = st.integers(0, (1 << 8) - 1)     # one cheap draw picks a subset of up to 7 items


def pick(draw: Any, items: tuple[Any, ...], *, often_empty: bool = True) -> tuple[Any, ...]:
    """A subset of ``items``; with ``often_empty`` the lowest bit leaves the condition out."""
    bits = draw(BITS)
    if often_empty:
        if not bits & 1:
            return ()
        bits >>= 1
    return tuple(item for i, item in enumerate(items) if bits >> i & 1)


@st.composite
def policies(draw: Any) -> Policy:
    sizes = draw(st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(0, 6)))
    target_names = tuple(f"t{i}" for i in range(sizes[0]))
    targets = {name: Target(name, f"{PLATFORMS[draw(st.integers(0, 3))]}:acct",
                            REACHES[draw(st.integers(0, 4))])
               for name in target_names}
    audience_names = tuple(f"a{i}" for i in range(sizes[1]))
    audiences = {name: Audience(name, REACHES[draw(st.integers(0, 4))],
                                pick(draw, target_names, often_empty=False))
                 for name in audience_names}
    rules = []
    for i in range(sizes[2]):
        conditions = Conditions(
            tags=pick(draw, TAGS), audiences=pick(draw, audience_names),
            targets=pick(draw, target_names), platforms=pick(draw, PLATFORMS),
            reach=pick(draw, REACHES), has_media=(None, True, False)[draw(st.integers(0, 2))])
        action = tuple(Action)[draw(st.integers(0, 2))]
        requirement = tuple(Requirement)[draw(st.integers(0, 1))] \
            if action is Action.REQUIRE else None
        rules.append(Rule(f"r{i}", action, conditions, requirement))
    return Policy(version=1, accounts=(), targets=targets, audiences=audiences,
                  rules=tuple(rules), digest="x")


@st.composite
def posts(draw: Any, policy: Policy) -> Post:
    audiences = pick(draw, tuple(policy.audiences), often_empty=False) or (
        next(iter(policy.audiences)),)
    media = tuple(Media(f"m{i}", "image/png", alt=("", "a cat")[draw(st.integers(0, 1))])
                  for i in range(draw(st.integers(0, 2))))
    return Post(id=PostId("p"), text="hello", audiences=audiences, created=NOW,
                tags=pick(draw, TAGS, often_empty=False), media=media,
                content_warning=(None, "cw")[draw(st.integers(0, 1))])


@st.composite
def cases(draw: Any) -> tuple[Policy, Post]:
    policy = draw(policies())
    return policy, draw(posts(policy))


def oracle_matches(rule: Rule, post: Post, target: Target) -> bool:
    c = rule.conditions
    return bool(
        (not c.tags or set(c.tags) & set(post.tags))
        and (not c.audiences or set(c.audiences) & set(post.audiences))
        and (not c.targets or target.name in c.targets)
        and (not c.platforms or target.account.split(":")[0] in c.platforms)
        and (not c.reach or target.reach in c.reach)
        and (c.has_media is None or bool(post.media) == c.has_media))


def unmet(rule: Rule, post: Post) -> bool:
    if rule.requirement is Requirement.CONTENT_WARNING:
        return not post.content_warning
    return any(not m.alt for m in post.media)


@settings(max_examples=200)
@given(cases())
def test_every_decision_is_explained_by_audiences_ceiling_and_rules(
        case: tuple[Policy, Post]) -> None:
    """Allowed or held: requested, within the ceiling, matched by no deny and no unmet require.
    Denied: by default-deny, never-widen, or rules that really match."""
    policy, post = case
    routing = route(post, policy, PeopleSnapshot(), NOW)
    ceiling = max((policy.audiences[a].reach for a in post.audiences), key=lambda r: r.rank)
    rules = {r.id: r for r in policy.rules}
    assert sorted(d.target.name for d in routing.decisions) == sorted(policy.targets)
    for d in routing.decisions:
        target = d.target
        assert d.rule_ids and len(d.reasons) == len(d.rule_ids)
        if d.outcome is Outcome.DENY:
            if not any(target.name in policy.audiences[a].targets for a in post.audiences):
                assert d.rule_ids == ("default-deny",)
                continue
            for rule_id in d.rule_ids:
                if rule_id == "never-widen":
                    assert target.reach.wider_than(ceiling)
                    continue
                rule = rules[rule_id]
                assert oracle_matches(rule, post, target)
                assert rule.action is Action.DENY or (
                    rule.action is Action.REQUIRE and unmet(rule, post))
            continue
        assert d.audiences and all(
            a in post.audiences and target.name in policy.audiences[a].targets
            for a in d.audiences)
        assert not target.reach.wider_than(ceiling)
        for rule in policy.rules:
            if oracle_matches(rule, post, target):
                assert rule.action is not Action.DENY
                assert not (rule.action is Action.REQUIRE and unmet(rule, post))
        holds = [r.id for r in policy.rules
                 if r.action is Action.HOLD and oracle_matches(r, post, target)]
        assert d.outcome is (Outcome.HOLD if holds else Outcome.ALLOW)
        assert d.rule_ids == (tuple(holds) if holds else
                              tuple(f"audience:{a}" for a in d.audiences))


@settings(max_examples=100)
@given(cases(), st.randoms(use_true_random=False))
def test_rule_order_never_changes_an_outcome(case: tuple[Policy, Post],
                                             rng: random.Random) -> None:
    policy, post = case
    shuffled = list(policy.rules)
    rng.shuffle(shuffled)
    before = route(post, policy, PeopleSnapshot(), NOW)
    after = route(post, replace(policy, rules=tuple(shuffled)), PeopleSnapshot(), NOW)
    assert [(d.outcome, set(d.rule_ids)) for d in before.decisions] == [
        (d.outcome, set(d.rule_ids)) for d in after.decisions]
