"""The policy engine as a table: one row per case, plus errors, reasons and the explain text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import MappingProxyType

import pytest

from hub.domain.model import (
    Identity,
    IdentityKind,
    Media,
    Outcome,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Reach,
    Target,
)
from hub.errors import InvalidInput, UnknownAudience
from hub.policy import Action, Audience, Conditions, Policy, Requirement, Rule, explain_lines, route

ALLOW, DENY, HOLD = Outcome.ALLOW, Outcome.DENY, Outcome.HOLD
NOON = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)          # a Tuesday

TARGETS = {
    "mail": Target("mail", "email:personal", Reach.RECIPIENTS, {"list": "friends"}),
    "feed": Target("feed", "feed:site", Reach.RECIPIENTS, {"list": "friends"}),
    "bsky": Target("bsky", "bluesky:me", Reach.WORLD),
    "masto": Target("masto", "mastodon:main", Reach.WORLD, {"visibility": "public"}),
    "masto-fol": Target("masto-fol", "mastodon:main", Reach.FOLLOWERS, {"visibility": "private"}),
}
AUDIENCES = {
    "public": Audience("public", Reach.WORLD, ("bsky", "masto")),
    "friends": Audience("friends", Reach.RECIPIENTS, ("mail", "feed")),
    "pro": Audience("pro", Reach.FOLLOWERS, ("masto-fol", "feed")),
    # careless definitions: listed targets wider than the audience's declared reach
    "careless": Audience("careless", Reach.RECIPIENTS, ("mail", "bsky")),
    "leaky-pro": Audience("leaky-pro", Reach.FOLLOWERS, ("masto-fol", "masto")),
}
ANA = Person(PersonId("p1"), "Ana", (
    Identity(IdentityKind.EMAIL, "ana@example.org"),
    Identity(IdentityKind.MASTODON, "@ana@example.social"),
    Identity(IdentityKind.BLUESKY, "ana.bsky.social"),
))
BO = Person(PersonId("p2"), "Bo", (Identity(IdentityKind.EMAIL, "bo@example.org"),))
PEOPLE = PeopleSnapshot({ANA.id: ANA, BO.id: BO},
                        {"clients": frozenset({ANA.id}), "friends": frozenset({BO.id})})


def make_policy(*rules: Rule, audiences: dict[str, Audience] | None = None) -> Policy:
    return Policy(version=1, accounts=("email:personal", "feed:site", "bluesky:me",
                                       "mastodon:main"),
                  targets=MappingProxyType(TARGETS),
                  audiences=MappingProxyType(audiences or AUDIENCES),
                  rules=rules, digest="d" * 64)


def make_post(audiences: tuple[str, ...] = ("friends",), text: str = "hello", **fields: object
              ) -> Post:
    return Post(id=PostId("post-1"), text=text, audiences=audiences, created=NOON,
                **fields)  # type: ignore[arg-type]


def deny(rule_id: str, reason: str = "", **conditions: object) -> Rule:
    return Rule(rule_id, Action.DENY, Conditions(**conditions), reason=reason)  # type: ignore[arg-type]


def hold(rule_id: str, **conditions: object) -> Rule:
    return Rule(rule_id, Action.HOLD, Conditions(**conditions))  # type: ignore[arg-type]


def require(rule_id: str, what: Requirement, **conditions: object) -> Rule:
    return Rule(rule_id, Action.REQUIRE, Conditions(**conditions),  # type: ignore[arg-type]
                requirement=what)


CW, ALT = Requirement.CONTENT_WARNING, Requirement.ALT_TEXT
NO_PRIVATE = deny("no-private", tags=("private",), reach=(Reach.WORLD, Reach.FOLLOWERS))
HOLD_WORLD = hold("review-world", reach=(Reach.WORLD,))
NIGHT = hold("night", hours=(22 * 60, 7 * 60))
CLIENTS = hold("client-mention", mentions_member_of=("clients",))
IMAGE = Media("abc", "image/png", alt="")
DESCRIBED = Media("def", "image/png", alt="a red bicycle")

ROWS = [
    # (rules, post, now, {target: (outcome, rule ids)})
    pytest.param((), make_post(("friends",)), NOON,
                 {"mail": (ALLOW, ("audience:friends",)), "feed": (ALLOW, ("audience:friends",)),
                  "bsky": (DENY, ("default-deny",)), "masto-fol": (DENY, ("default-deny",))},
                 id="friends-post-reaches-friends-only"),
    pytest.param((), make_post(("public",)), NOON,
                 {"bsky": (ALLOW, ("audience:public",)), "masto": (ALLOW, ("audience:public",)),
                  "mail": (DENY, ("default-deny",))},
                 id="public-post-reaches-networks-only"),
    pytest.param((), make_post(("public", "friends")), NOON,
                 {"bsky": (ALLOW, ("audience:public",)), "mail": (ALLOW, ("audience:friends",)),
                  "masto-fol": (DENY, ("default-deny",))},
                 id="empty-rule-set-allows-requested-audiences"),
    pytest.param((), make_post(("friends", "pro")), NOON,
                 {"feed": (ALLOW, ("audience:friends", "audience:pro"))},
                 id="target-in-two-requested-audiences-names-both"),
    pytest.param((NO_PRIVATE,), make_post(("public",), tags=("private",)), NOON,
                 {"bsky": (DENY, ("no-private",)), "masto": (DENY, ("no-private",))},
                 id="deny-by-tag"),
    pytest.param((NO_PRIVATE,), make_post(("public",), tags=("#Private",)), NOON,
                 {"bsky": (DENY, ("no-private",))},
                 id="tags-match-case-insensitively-without-hash"),
    pytest.param((NO_PRIVATE,), make_post(("public", "friends"), tags=("private",)), NOON,
                 {"bsky": (DENY, ("no-private",)), "mail": (ALLOW, ("audience:friends",))},
                 id="deny-by-reach-spares-narrow-targets"),
    pytest.param((HOLD_WORLD, NO_PRIVATE), make_post(("public",), tags=("private",)), NOON,
                 {"bsky": (DENY, ("no-private",))},
                 id="deny-wins-when-written-last"),
    pytest.param((NO_PRIVATE, HOLD_WORLD), make_post(("public",), tags=("private",)), NOON,
                 {"bsky": (DENY, ("no-private",))},
                 id="deny-wins-when-written-first"),
    pytest.param((deny("a", platforms=("bluesky",)), deny("b", tags=("x",))),
                 make_post(("public",), tags=("x",)), NOON,
                 {"bsky": (DENY, ("a", "b")), "masto": (DENY, ("b",))},
                 id="all-matching-deny-rules-recorded"),
    pytest.param((deny("only-bsky", targets=("bsky",)),), make_post(("public",)), NOON,
                 {"bsky": (DENY, ("only-bsky",)), "masto": (ALLOW, ("audience:public",))},
                 id="deny-on-one-target-leaves-others"),
    pytest.param((deny("friends-no-feed", audiences=("friends",), platforms=("feed",)),),
                 make_post(("pro",)), NOON,
                 {"feed": (ALLOW, ("audience:pro",))},
                 id="audiences-condition-is-about-the-request"),
    pytest.param((deny("no-masto", accounts=("mastodon:main",)),), make_post(("public",)), NOON,
                 {"masto": (DENY, ("no-masto",)), "bsky": (ALLOW, ("audience:public",))},
                 id="accounts-condition"),
    pytest.param((), make_post(("careless",)), NOON,
                 {"bsky": (DENY, ("never-widen",)), "mail": (ALLOW, ("audience:careless",))},
                 id="never-widen-overrides-careless-audience"),
    pytest.param((), make_post(("careless", "public")), NOON,
                 {"bsky": (ALLOW, ("audience:careless", "audience:public"))},
                 id="wider-requested-audience-raises-the-ceiling"),
    pytest.param((), make_post(("leaky-pro",)), NOON,
                 {"masto": (DENY, ("never-widen",)), "masto-fol": (ALLOW, ("audience:leaky-pro",))},
                 id="never-widen-followers-ceiling"),
    pytest.param((deny("no-bsky", platforms=("bluesky",)),), make_post(("careless",)), NOON,
                 {"bsky": (DENY, ("no-bsky", "never-widen"))},
                 id="deny-and-never-widen-both-recorded"),
    pytest.param((HOLD_WORLD,), make_post(("public", "friends")), NOON,
                 {"bsky": (HOLD, ("review-world",)), "mail": (ALLOW, ("audience:friends",))},
                 id="hold-by-reach"),
    pytest.param((HOLD_WORLD, hold("review-bsky", platforms=("bluesky",))),
                 make_post(("public",)), NOON,
                 {"bsky": (HOLD, ("review-world", "review-bsky")),
                  "masto": (HOLD, ("review-world",))},
                 id="all-matching-hold-rules-recorded"),
    pytest.param((HOLD_WORLD,), make_post(("careless",)), NOON,
                 {"bsky": (DENY, ("never-widen",))},
                 id="hold-applies-after-never-widen"),
    pytest.param((require("cw", CW, tags=("politics",)),),
                 make_post(("public",), tags=("politics",)), NOON,
                 {"bsky": (DENY, ("cw",))},
                 id="require-cw-denies-without-one"),
    pytest.param((require("cw", CW, tags=("politics",)),),
                 make_post(("public",), tags=("politics",), content_warning="elections"), NOON,
                 {"bsky": (ALLOW, ("audience:public",))},
                 id="require-cw-satisfied"),
    pytest.param((require("cw", CW, tags=("politics",)),), make_post(("public",)), NOON,
                 {"bsky": (ALLOW, ("audience:public",))},
                 id="require-cw-not-applicable"),
    pytest.param((require("alt", ALT, platforms=("bluesky", "mastodon")),),
                 make_post(("public", "friends"), media=(DESCRIBED, IMAGE)), NOON,
                 {"bsky": (DENY, ("alt",)), "mail": (ALLOW, ("audience:friends",))},
                 id="require-alt-text-denies-undescribed-image"),
    pytest.param((require("alt", ALT),), make_post(("public",), media=(DESCRIBED,)), NOON,
                 {"bsky": (ALLOW, ("audience:public",))},
                 id="require-alt-text-satisfied"),
    pytest.param((HOLD_WORLD, require("cw", CW)), make_post(("public",)), NOON,
                 {"bsky": (DENY, ("cw",))},
                 id="failed-require-beats-hold"),
    pytest.param((NIGHT,), make_post(("friends",)), datetime(2025, 3, 4, 23, 30, tzinfo=UTC),
                 {"mail": (HOLD, ("night",))},
                 id="hours-window-before-midnight"),
    pytest.param((NIGHT,), make_post(("friends",)), datetime(2025, 3, 5, 6, 59, tzinfo=UTC),
                 {"mail": (HOLD, ("night",))},
                 id="hours-window-wraps-past-midnight"),
    pytest.param((NIGHT,), make_post(("friends",)), datetime(2025, 3, 5, 7, 0, tzinfo=UTC),
                 {"mail": (ALLOW, ("audience:friends",))},
                 id="hours-window-end-is-excluded"),
    pytest.param((hold("office", hours=(9 * 60, 17 * 60)),), make_post(("friends",)), NOON,
                 {"mail": (HOLD, ("office",))},
                 id="hours-window-daytime"),
    pytest.param((hold("office", hours=(9 * 60, 17 * 60)),), make_post(("friends",)),
                 datetime(2025, 3, 4, 17, 0, tzinfo=UTC),
                 {"mail": (ALLOW, ("audience:friends",))},
                 id="hours-window-daytime-end-excluded"),
    pytest.param((hold("berlin-night", hours=(22 * 60, 7 * 60), timezone="Europe/Berlin"),),
                 make_post(("friends",)), datetime(2025, 3, 4, 21, 30, tzinfo=UTC),
                 {"mail": (HOLD, ("berlin-night",))},
                 id="hours-in-timezone"),
    pytest.param((hold("weekend", weekdays=(5, 6)),), make_post(("friends",)),
                 datetime(2025, 3, 8, 9, 0, tzinfo=UTC),
                 {"mail": (HOLD, ("weekend",))},
                 id="weekday-matches"),
    pytest.param((hold("weekend", weekdays=(5, 6)),), make_post(("friends",)), NOON,
                 {"mail": (ALLOW, ("audience:friends",))},
                 id="weekday-does-not-match"),
    pytest.param((CLIENTS,), make_post(("public",), "Thanks @ana@example.social!"), NOON,
                 {"bsky": (HOLD, ("client-mention",))},
                 id="mention-by-mastodon-address"),
    pytest.param((CLIENTS,), make_post(("public",), "mail ANA@EXAMPLE.ORG."), NOON,
                 {"bsky": (HOLD, ("client-mention",))},
                 id="mention-by-email-case-insensitive"),
    pytest.param((CLIENTS,), make_post(("public",), "hi @ana.bsky.social"), NOON,
                 {"bsky": (HOLD, ("client-mention",))},
                 id="mention-by-bluesky-handle"),
    pytest.param((CLIENTS,), make_post(
                     ("public",), "banana@example.org @ana@example.socialx ana@example.org.uk"),
                 NOON, {"bsky": (ALLOW, ("audience:public",))},
                 id="mention-needs-whole-token"),
    pytest.param((CLIENTS,), make_post(("public",), "hi bo@example.org"), NOON,
                 {"bsky": (ALLOW, ("audience:public",))},
                 id="mention-of-someone-not-on-the-list"),
    pytest.param((deny("salary", text=(re.compile(r"\bsalary\b", re.I),)),),
                 make_post(("friends",), "My SALARY is up"), NOON,
                 {"mail": (DENY, ("salary",))},
                 id="text-regex"),
    pytest.param((deny("salary", text=(re.compile(r"\bsalary\b", re.I),)),),
                 make_post(("friends",), "salaryman"), NOON,
                 {"mail": (ALLOW, ("audience:friends",))},
                 id="text-regex-no-match"),
    pytest.param((hold("phone", author=("token:*",)),),
                 make_post(("friends",), author="token:phone"), NOON,
                 {"mail": (HOLD, ("phone",))},
                 id="author-any-token"),
    pytest.param((hold("phone", author=("token:phone",)),), make_post(("friends",)), NOON,
                 {"mail": (ALLOW, ("audience:friends",))},
                 id="author-owner-is-not-a-token"),
    pytest.param((deny("english", language=("en",)),),
                 make_post(("friends",), language="en-GB"), NOON,
                 {"mail": (DENY, ("english",))},
                 id="language-matches-subtag"),
    pytest.param((deny("english", language=("en",)),), make_post(("friends",)), NOON,
                 {"mail": (ALLOW, ("audience:friends",))},
                 id="language-unset-matches-nothing"),
    pytest.param((deny("no-media", has_media=True),), make_post(("friends",), media=(IMAGE,)),
                 NOON, {"mail": (DENY, ("no-media",))},
                 id="has-media"),
    pytest.param((deny("undescribed", missing_alt_text=True),),
                 make_post(("friends",), media=(DESCRIBED,)), NOON,
                 {"mail": (ALLOW, ("audience:friends",))},
                 id="missing-alt-text-false-when-all-described"),
    pytest.param((deny("everything"),), make_post(("friends",)), NOON,
                 {"mail": (DENY, ("everything",)), "bsky": (DENY, ("default-deny",))},
                 id="rule-without-conditions-matches-all"),
]


@pytest.mark.parametrize(("rules", "post", "now", "expected"), ROWS)
def test_route(rules: tuple[Rule, ...], post: Post, now: datetime,
               expected: dict[str, tuple[Outcome, tuple[str, ...]]]) -> None:
    routing = route(post, make_policy(*rules), PEOPLE, now)
    got = {d.target.name: (d.outcome, d.rule_ids) for d in routing.decisions}
    assert {name: got[name] for name in expected} == expected


def test_every_target_is_decided_once_with_the_policy_digest() -> None:
    routing = route(make_post(("friends",)), make_policy(), PEOPLE, NOON)
    assert [d.target.name for d in routing.decisions] == list(TARGETS)
    assert routing.policy_digest == "d" * 64
    assert [d.target.name for d in routing.allowed()] == ["mail", "feed"]


def test_decision_lists_the_requested_audiences_containing_the_target() -> None:
    routing = route(make_post(("friends", "pro", "public")), make_policy(), PEOPLE, NOON)
    audiences = {d.target.name: d.audiences for d in routing.decisions}
    assert audiences == {"mail": ("friends",), "feed": ("friends", "pro"), "bsky": ("public",),
                         "masto": ("public",), "masto-fol": ("pro",)}


def test_unknown_audience_is_refused_naming_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownAudience) as caught:
        route(make_post(("friends", "colleagues")), make_policy(), PEOPLE, NOON)
    assert caught.value.audience == "colleagues"
    assert "'colleagues'" in caught.value.message
    assert "careless, friends, leaky-pro, pro, public" in caught.value.message


def test_recheck_lets_a_removed_audience_grant_nothing() -> None:
    routing = route(make_post(("friends", "colleagues")), make_policy(), PEOPLE, NOON,
                    recheck=True)
    outcomes = {d.target.name: d.outcome for d in routing.decisions}
    assert outcomes == {"mail": ALLOW, "feed": ALLOW, "bsky": DENY, "masto": DENY,
                        "masto-fol": DENY}


def test_recheck_with_only_removed_audiences_denies_everything_and_says_why() -> None:
    routing = route(make_post(("colleagues",)), make_policy(), PEOPLE, NOON, recheck=True)
    assert {d.outcome for d in routing.decisions} == {DENY}
    assert all(d.rule_ids == ("default-deny",) for d in routing.decisions)
    assert "Audience colleagues is no longer in the policy." in routing.decisions[0].reasons[0]


def test_a_post_without_audiences_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        route(make_post(()), make_policy(), PEOPLE, NOON)
    assert caught.value.field == "audiences"


def test_naive_now_is_taken_as_utc() -> None:
    routing = route(make_post(("friends",)), make_policy(NIGHT), PEOPLE,
                    datetime(2025, 3, 4, 23, 30))
    assert routing.decisions[0].outcome is HOLD


def decision(rules: tuple[Rule, ...], post: Post, target: str, *, policy: Policy | None = None
             ) -> tuple[str, ...]:
    routing = route(post, policy or make_policy(*rules), PEOPLE, NOON)
    return next(d.reasons for d in routing.decisions if d.target.name == target)


def test_reasons_are_sentences_an_owner_understands() -> None:
    assert decision((), make_post(("friends",)), "bsky") == (
        "Not in any audience this post asked for (friends); bsky belongs to audiences public "
        "and careless.",)
    assert decision((), make_post(("friends",)), "mail") == (
        "This post asked for audience friends, which includes mail.",)
    assert decision((), make_post(("careless",)), "bsky") == (
        "Never widen: bsky reaches world (anyone on the web), wider than this post's audiences "
        "allow (recipients: exactly the listed people).",)


def test_rule_reason_from_the_file_is_used_and_generated_ones_describe_the_conditions() -> None:
    owner_worded = deny("no-private", reason="Private posts stay home.", tags=("private",))
    assert decision((owner_worded,), make_post(("public",), tags=("private",)), "bsky") == (
        "Private posts stay home.",)
    assert decision((NO_PRIVATE,), make_post(("public",), tags=("private",)), "bsky") == (
        "Rule no-private keeps out posts tagged #private, going to a target with reach world or "
        "followers.",)
    assert decision((HOLD_WORLD,), make_post(("public",)), "bsky") == (
        "Held for approval: rule review-world holds posts going to a target with reach world.",)


def test_require_reasons_say_what_to_add() -> None:
    cw = require("cw", CW, tags=("politics",))
    assert decision((cw,), make_post(("public",), tags=("politics",)), "bsky") == (
        "Add a content warning to send it here: rule cw requires a content warning on posts "
        "tagged #politics.",)
    alt = require("alt", ALT)
    assert decision((alt,), make_post(("public",), media=(IMAGE,)), "bsky")[0].startswith(
        "Add alt text to every image to send it here")


def test_explain_lists_allowed_then_held_then_denied_with_rules_and_reasons() -> None:
    routing = route(make_post(("public", "friends"), tags=("private",)),
                    make_policy(hold("review-bsky", platforms=("bluesky",)),
                                deny("no-masto", reason="Not on Mastodon today.",
                                     platforms=("mastodon",))),
                    PEOPLE, NOON)
    lines = explain_lines(routing)
    assert [line.split()[:2] for line in lines] == [
        ["allow", "feed"], ["allow", "mail"], ["HOLD", "bsky"], ["DENY", "masto"],
        ["DENY", "masto-fol"]]
    assert lines[3] == ("DENY   masto      mastodon:main   world       [no-masto]  "
                        "Not on Mastodon today.")
    assert "bluesky:me" in lines[2] and "[review-bsky]" in lines[2]
    assert "[default-deny]" in lines[4] and "followers" in lines[4]


def test_explain_of_an_empty_routing_is_empty() -> None:
    empty = Policy(version=1, accounts=(), targets={}, audiences={"a": Audience("a")}, rules=(),
                   digest="")
    assert explain_lines(route(make_post(("a",)), empty, PEOPLE, NOON)) == []
