"""Lists that keep themselves (``lists:`` in a policy file): refused with file and line when
they name something missing, reach themselves or name nobody; evaluated over the snapshot's
relationship facts, never reaching anyone the rule does not name; and explained."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters import TARGET_SPECS
from hub.domain.model import (
    Identity,
    IdentityKind,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Relationship,
)
from hub.errors import PolicyFileInvalid
from hub.policy import Policy, load_policy, route
from hub.policy.lists import RuleSyntaxError, parse_rule

BASE = """\
version: 1
accounts: [mastodon:main, bluesky:me, email:personal]
targets:
  close-mail: {account: email:personal, list: close}
audiences:
  close: {reach: recipients, targets: [close-mail]}
"""
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def load(tmp_path: Path, lists: str, static: list[str] | None = None) -> Policy:
    (tmp_path / "hub.yaml").write_text(BASE)
    (tmp_path / "lists.yaml").write_text("version: 1\nlists:\n" + lists)
    return load_policy(tmp_path, TARGET_SPECS, static_lists=static)


def refused(tmp_path: Path, lists: str, static: list[str] | None = None) -> PolicyFileInvalid:
    with pytest.raises(PolicyFileInvalid) as info:
        load(tmp_path, lists, static)
    return info.value


@pytest.mark.parametrize(("lists", "line", "words"), [
    ("  a: {rule: friends and not ghosts}\n", 3, "names list 'ghosts', which is neither"),
    ("  a: {rule: followers of mastodon:other}\n", 3, "account 'mastodon:other', which is not "
                                                       "declared"),
    ("  a: {rule: followers of myspace}\n", 3, "network 'myspace', which is not a platform"),
    ("  ok: {rule: friends}\n  a:\n    rule: b and not a\n  b: {rule: friends}\n", 5,
     "depends on itself: a → a"),
    ("  a: {rule: b}\n  b: {rule: friends or a}\n", 3, "depends on itself: a → b → a"),
    ("  a: {rule: not clients}\n", 3, "does not say who is in"),
    ("  a: {rule: friends or not clients}\n", 3, "does not say who is in"),
    ("  a: {rule: in no list}\n", 3, "does not say who is in"),
    ("  a: {rule: friends or in no list}\n", 3, "does not say who is in"),
    ("  a: {rule: friends clients}\n", 3, "unexpected 'clients'"),
    ("  a: {rule: (friends or clients}\n", 3, "'(' is not closed"),
    ("  a: {rule: followers of}\n", 3, "needs an account"),
    ("  a: {rule: mastodon:main}\n", 3, "looks like an account"),
    ("  a: {rule: \"\"}\n", 3, "at least 1 character"),
    ("  friends: {rule: followers of mastodon:main}\n", 3, "already exists in the address book"),
    ("  a: {rule: friends, size: 3}\n", 3, "unknown key 'size'"),
    ("  Bad: {rule: friends}\n", 3, "not a valid name"),
])
def test_a_bad_rule_list_is_refused_with_file_and_line(tmp_path: Path, lists: str, line: int,
                                                       words: str) -> None:
    exc = refused(tmp_path, lists, static=["friends", "clients"])
    assert exc.file.endswith("lists.yaml") and exc.line == line, str(exc)
    assert words in exc.reason, exc.reason


def test_a_list_defined_twice_names_both_places(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("version: 1\nlists:\n  a: {rule: friends}\n")
    exc = refused(tmp_path, "  a: {rule: clients}\n", static=["friends", "clients"])
    assert exc.file.endswith("other.yaml") and exc.line == 3
    assert "defined twice" in exc.reason and "lists.yaml:3" in exc.reason


def test_without_the_address_book_list_names_are_checked_only_among_rule_lists(
        tmp_path: Path) -> None:
    policy = load(tmp_path, "  a: {rule: friends and not b}\n  b: {rule: clients}\n")
    assert set(policy.lists) == {"a", "b"}
    assert policy.lists_used() == ("a", "b", "clients", "close", "friends")
    assert "depends on itself" in refused(tmp_path, "  a: {rule: friends and not a}\n").reason


def test_the_grammar_reads_like_the_issue_examples() -> None:
    for text in ("followers of mastodon:main", "mutuals on bluesky:me",
                 "friends and not clients", "follows me on any network and in no list",
                 "FOLLOWED BY mastodon and (in friends or family)", "i follow on any network"):
        assert parse_rule(text).names_someone(), text
    assert parse_rule("a or b and not c").words() == "a or (b and not c)"
    with pytest.raises(RuleSyntaxError):
        parse_rule("friends and")


def person(n: int, *identities: Identity) -> Person:
    return Person(PersonId(f"p{n}"), f"Person {n}", identities)


def snapshot() -> PeopleSnapshot:
    people = {p.id: p for p in (person(i) for i in range(1, 8))}
    rel = {
        PersonId("p1"): (Relationship("mastodon:main", follows_me=True, follows_me_since=T0),),
        PersonId("p2"): (Relationship("mastodon:main", follows_me=True, i_follow=True,
                                      follows_me_since=T0, i_follow_since=T0),
                         Relationship("bluesky:me", follows_me=True)),
        PersonId("p3"): (Relationship("bluesky:me", follows_me=True, i_follow=True),),
        PersonId("p4"): (Relationship("mastodon:main", i_follow=True),),
        PersonId("p9"): (Relationship("mastodon:main", follows_me=True),),   # not a person
    }
    lists = {"friends": frozenset({PersonId("p1"), PersonId("p5"), PersonId("p6")}),
             "clients": frozenset({PersonId("p6"), PersonId("p2")})}
    return PeopleSnapshot(people=people, lists=lists, relationships=rel)


RULES = """\
  masto-followers: {rule: followers of mastodon:main}
  bsky-mutuals: {rule: mutuals on bluesky:me}
  close: {rule: friends and not clients}
  strays: {rule: follows me on any network and in no list}
  masto-net: {rule: followed by mastodon}
  nested: {rule: close or bsky-mutuals}
"""


def test_members_follow_the_rules_and_reach_only_people_the_rule_names(tmp_path: Path) -> None:
    policy = load(tmp_path, RULES, static=["friends", "clients"])
    people = policy.with_lists(snapshot())
    ids = {name: sorted(people.lists[name]) for name in policy.lists}
    assert ids == {"masto-followers": ["p1", "p2"], "bsky-mutuals": ["p3"],
                   "close": ["p1", "p5"], "strays": ["p3"], "masto-net": ["p2", "p4"],
                   "nested": ["p1", "p3", "p5"]}
    # never widen: only people of the address book, never an identity nobody holds
    assert all(m <= set(people.people) for m in people.lists.values())
    assert people.lists["friends"] == snapshot().lists["friends"]     # kept as they are
    assert policy.with_lists(people) is people                        # evaluated once
    assert policy.with_lists(snapshot()) is not people                # a new snapshot: again


def test_why_names_the_clauses_and_dates(tmp_path: Path) -> None:
    policy = load(tmp_path, RULES, static=["friends", "clients"])
    people = snapshot()
    assert policy.rule_lists.why("close", PersonId("p1"), people) == [
        "in friends", "not in clients"]
    assert policy.rule_lists.why("masto-followers", PersonId("p1"), people) == [
        "follows mastodon:main since 2026-11-02 (followers of mastodon:main)"]
    assert policy.rule_lists.why("nested", PersonId("p3"), people) == [
        "in bsky-mutuals"]
    assert policy.rule_lists.why("strays", PersonId("p3"), people) == [
        "follows bluesky:me (follows me on any network)", "in no list"]
    assert policy.rule_lists.why("close", PersonId("p2"), people) == []


def test_routing_sees_rule_lists_and_a_lost_follower_leaves_them(tmp_path: Path) -> None:
    policy = load(tmp_path, "  close: {rule: followers of mastodon:main and not clients}\n",
                  static=["friends", "clients"])
    post = Post(PostId("x"), "hello", ("close",), T0)
    people = snapshot()
    routing = route(post, policy, people, T0)
    assert [d.outcome.value for d in routing.decisions] == ["allow"]
    assert sorted(policy.with_lists(people).lists["close"]) == ["p1"]
    gone = PeopleSnapshot(people=people.people, lists=people.lists,
                          relationships={k: v for k, v in people.relationships.items()
                                         if k != "p1"})
    assert sorted(policy.with_lists(gone).lists["close"]) == []


def test_a_policy_without_rule_lists_leaves_the_snapshot_alone(tmp_path: Path) -> None:
    (tmp_path / "hub.yaml").write_text(BASE)
    policy = load_policy(tmp_path, TARGET_SPECS)
    people = snapshot()
    assert policy.with_lists(people) is people and not policy.lists
    _ = Identity(IdentityKind.EMAIL, "a@example.org")
