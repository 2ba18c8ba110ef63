"""Attacks on the reading: tags and mentions hidden in the field, the text or the content warning,
in random case and width, with invisible characters, in every form the networks parse.

Invariant: no target a matching deny covers is allowed or held, and no target a matching hold
covers is allowed. The oracle knows what was planted; it never asks the reading.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.model import (
    Identity,
    IdentityKind,
    Outcome,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Reach,
    Target,
)
from hub.policy import Action, Audience, Conditions, Policy, Rule, route

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
TAGS = ("kids", "holiday", "family")
TARGETS = {
    "bsky": Target("bsky", "bluesky:me", Reach.WORLD),
    "masto": Target("masto", "mastodon:main", Reach.WORLD, {"visibility": "public"}),
    "masto-fol": Target("masto-fol", "mastodon:main", Reach.FOLLOWERS,
                        {"visibility": "private"}),
    "mail": Target("mail", "email:personal", Reach.RECIPIENTS, {"list": "friends"}),
    "feed": Target("feed", "feed:site", Reach.RECIPIENTS, {"list": "friends"}),
}
AUDIENCES = {"everyone": Audience("everyone", Reach.WORLD, tuple(TARGETS))}
ANA = Person(PersonId("ana"), "Ana", (
    Identity(IdentityKind.EMAIL, "ana@example.org"),
    Identity(IdentityKind.MASTODON, "@ana@example.social"),
    Identity(IdentityKind.BLUESKY, "ana.bsky.social"),
    Identity(IdentityKind.BLUESKY, "did:plc:ewvi7nxzyoun6zhxrhs64oiz"),
))
PEOPLE = PeopleSnapshot({ANA.id: ANA}, {"clients": frozenset({ANA.id})})
LOCAL = {"mastodon:main": "example.social"}
INVISIBLE = ("\u200d", "\u200c", "\u200b", "\ufe0f", "\ufe0e", "\u00ad", "\u2060", "\u180e")
BEFORE = ("", " ", "\n", "(", "🚀", "\u00a0", "\u3000", "…")
AFTER = ("", " ", ".", "!", ",", ")", "?", "\n", "🎉", "'s", ":")
MENTIONS = ("@ana@example.social", "@ana.bsky.social", "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "ana@example.org", "@ana")


@st.composite
def disguised(draw: Any, word: str) -> str:
    """``word`` in random case and width, with invisible characters between its letters."""
    out = []
    for ch in word:
        if draw(st.booleans()):
            ch = ch.upper()
        if draw(st.integers(0, 3)) == 0 and ch.isascii():
            ch = chr(ord(ch) + 0xFEE0)           # fullwidth
        if draw(st.integers(0, 3)) == 0:
            ch = draw(st.sampled_from(INVISIBLE)) + ch
        out.append(ch)
    return "".join(out)


@st.composite
def planted(draw: Any) -> tuple[Post, set[str], bool]:
    """A post with some of TAGS planted (field, text or content warning) and maybe Ana."""
    chosen = draw(st.sets(st.sampled_from(TAGS), max_size=2))
    field: list[str] = []
    text = [draw(st.sampled_from(["Sunday lunch", "boarding now", "hello", "see you"]))]
    cw: list[str] = []
    for tag in chosen:
        where = draw(st.sampled_from(["field", "text", "cw"]))
        if where == "field":
            field.append(draw(st.sampled_from(["", "#"])) + draw(disguised(tag)))
            continue
        token = (draw(st.sampled_from(BEFORE)) + draw(st.sampled_from("#＃"))
                 + draw(disguised(tag)) + draw(st.sampled_from(AFTER)))
        (text if where == "text" else cw).append(token)
    mention = draw(st.booleans())
    if mention:
        form = draw(st.sampled_from(MENTIONS))
        form = "".join(c.upper() if draw(st.booleans()) else c for c in form) \
            if not form.startswith("did:") else form
        token = draw(st.sampled_from(["", " ", "("])) + form + draw(st.sampled_from(AFTER))
        (text if draw(st.booleans()) else cw).append(token)
    post = Post(PostId("p"), " ".join(text), ("everyone",), NOW, tags=tuple(field),
                content_warning=" ".join(cw) or None)
    return post, chosen, mention


@st.composite
def rules(draw: Any) -> tuple[Rule, ...]:
    made = []
    for i in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from([Action.DENY, Action.HOLD]))
        if draw(st.integers(0, 3)) == 0:
            conditions = Conditions(mentions_member_of=("clients",))
        else:
            conditions = Conditions(tags=(draw(st.sampled_from(TAGS)),))
        reach = draw(st.sets(st.sampled_from(tuple(Reach)), max_size=2))
        made.append(Rule(f"r{i}", action, Conditions(
            tags=conditions.tags, mentions_member_of=conditions.mentions_member_of,
            reach=tuple(reach))))
    return tuple(made)


def covers(rule: Rule, tags: set[str], mention: bool, target: Target) -> bool:
    c = rule.conditions
    return ((not c.reach or target.reach in c.reach)
            and (not c.tags or bool(set(c.tags) & tags))
            and (not c.mentions_member_of or mention))


@settings(max_examples=600, deadline=None)
@given(planted(), rules(), st.booleans())
def test_no_target_a_matching_deny_covers_is_reached_and_holds_hold(
        case: tuple[Post, set[str], bool], policy_rules: tuple[Rule, ...],
        know_domain: bool) -> None:
    post, tags, mention = case
    policy = Policy(version=1, accounts=(), targets=TARGETS, audiences=AUDIENCES,
                    rules=policy_rules, digest="x")
    # "@ana" is ana@example.social on the instance; unknown instance: any ana (fail closed)
    routing = route(post, policy, PEOPLE, NOW, local_domains=LOCAL if know_domain else None)
    for d in routing.decisions:
        denies = [r.id for r in policy_rules
                  if r.action is Action.DENY and covers(r, tags, mention, d.target)]
        holds = [r.id for r in policy_rules
                 if r.action is Action.HOLD and covers(r, tags, mention, d.target)]
        if denies:
            assert d.outcome is Outcome.DENY, (post, d)
            assert set(denies) <= set(d.rule_ids)
        elif holds:
            assert d.outcome is Outcome.HOLD, (post, d)
            assert set(holds) <= set(d.rule_ids)
        else:
            assert d.outcome is Outcome.ALLOW, (post, d)
