"""The policy engine: ``route()`` decides, for one post, every target of the policy. Pure: no
files, no clock, no database — the policy, the people snapshot and ``now`` come in as values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING

from hub.domain.model import (
    PeopleSnapshot,
    Post,
    Reach,
    Routing,
    Target,
)
from hub.domain.reading import tag_key
from hub.policy.lists import RuleList, RuleLists

if TYPE_CHECKING:
    from hub.policy.compiled import CompiledPolicy

DEFAULT_DENY = "default-deny"
NEVER_WIDEN = "never-widen"
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Action(StrEnum):
    DENY = "deny"
    HOLD = "hold"
    REQUIRE = "require"


class Requirement(StrEnum):
    CONTENT_WARNING = "content_warning"
    ALT_TEXT = "alt_text"


@dataclass(frozen=True)
class Conditions:
    """A rule's conditions, compiled. Empty fields do not constrain; a non-empty one matches
    when any of its values does; every non-empty field must match."""

    tags: tuple[str, ...] = ()                      # tag_key()s: folded, without '#'
    audiences: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    reach: tuple[Reach, ...] = ()
    text: tuple[re.Pattern[str], ...] = ()
    mentions_member_of: tuple[str, ...] = ()
    has_media: bool | None = None
    missing_alt_text: bool | None = None
    author: tuple[str, ...] = ()                    # "owner", "token:<name>", "token:*"
    language: tuple[str, ...] = ()                  # lowercased; "en" also matches "en-gb"
    weekdays: tuple[int, ...] = ()                  # 0 = Monday
    hours: tuple[int, int] | None = None            # minutes since midnight, [start, end)
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        # Rule tags compare as post tags do, however the rule was built.
        object.__setattr__(self, "tags", tuple(dict.fromkeys(tag_key(t) for t in self.tags)))

    def describe(self) -> str:
        """The conditions as words, e.g. "tagged #private, going to a target with reach world"."""
        parts: list[str] = []
        if self.tags:
            parts.append("tagged " + _any_of([f"#{t}" for t in self.tags]))
        if self.audiences:
            parts.append("asking for audience " + _any_of(self.audiences))
        if self.targets:
            parts.append("going to target " + _any_of(self.targets))
        if self.platforms:
            parts.append("going to " + _any_of(self.platforms))
        if self.accounts:
            parts.append("going to account " + _any_of(self.accounts))
        if self.reach:
            parts.append("going to a target with reach " + _any_of([str(r) for r in self.reach]))
        if self.text:
            parts.append("whose text matches " + _any_of([f"/{p.pattern}/" for p in self.text]))
        if self.mentions_member_of:
            parts.append("mentioning a member of list " + _any_of(self.mentions_member_of))
        if self.has_media is not None:
            parts.append("with media" if self.has_media else "without media")
        if self.missing_alt_text is not None:
            parts.append("with media lacking alt text" if self.missing_alt_text
                         else "whose media all have alt text")
        if self.author:
            parts.append("sent by " + _any_of(
                ["any API token" if a == "token:*" else a for a in self.author]))
        if self.language:
            parts.append("in language " + _any_of(self.language))
        if self.weekdays:
            parts.append("on " + _any_of([WEEKDAY_NAMES[d] for d in self.weekdays]))
        if self.hours is not None:
            start, end = self.hours
            parts.append(f"between {_hhmm(start)} and {_hhmm(end)}")
        if self.weekdays or self.hours is not None:
            parts[-1] += f" ({self.timezone} time)"
        return ", ".join(parts) if parts else "of every kind"


@dataclass(frozen=True)
class Rule:
    """One explicit rule from a policy file; ``source`` is "file:line" for messages."""

    id: str
    action: Action
    conditions: Conditions = field(default_factory=Conditions)
    requirement: Requirement | None = None
    reason: str = ""
    source: str = ""


@dataclass(frozen=True)
class Audience:
    """A compose-form choice: its targets and the widest reach it promises (its ceiling)."""

    name: str
    reach: Reach = Reach.RECIPIENTS
    targets: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Policy:
    """Every policy file of a directory, validated and merged. Built by ``load_policy``."""

    version: int
    accounts: tuple[str, ...]
    targets: Mapping[str, Target]
    audiences: Mapping[str, Audience]
    rules: tuple[Rule, ...]
    digest: str
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    separate_approver: str = "none"     # who may release a held post (``approval`` in a file)
    lists: Mapping[str, RuleList] = field(default_factory=dict)   # lists that keep themselves

    @cached_property
    def rule_lists(self) -> RuleLists:
        """The rule lists, evaluated against a people snapshot (``with_lists``)."""
        return RuleLists(self.lists, self.digest)

    def with_lists(self, people: PeopleSnapshot) -> PeopleSnapshot:
        """``people`` with the members of every rule list of this policy, as of the snapshot:
        what routing, the publish-time re-check and the recipients use."""
        return self.rule_lists.resolve(people) if self.lists else people

    def lists_used(self) -> tuple[str, ...]:
        """Hub list names the policy refers to (target ``list``, ``list:<name>`` option
        values such as Bluesky threadgates, ``mentions_member_of``, rule lists and the lists
        their rules name), sorted."""
        names: set[str] = set(self.lists)
        for rule_list in self.lists.values():
            names.update(rule_list.lists_named())
        for target in self.targets.values():
            if target.list_name:
                names.add(target.list_name)
            for value in target.options.values():
                if isinstance(value, list):
                    names.update(v[5:] for v in value
                                 if isinstance(v, str) and v.startswith("list:"))
        for rule in self.rules:
            names.update(rule.conditions.mentions_member_of)
        return tuple(sorted(names))

    @cached_property
    def compiled(self) -> CompiledPolicy:
        """The rules indexed for ``route()``, built on first use and kept with the policy."""
        from hub.policy.compiled import CompiledPolicy  # it builds on this module's types

        return CompiledPolicy(self)


def route(post: Post, policy: Policy, people: PeopleSnapshot, now: datetime, *,
          recheck: bool = False, local_domains: Mapping[str, str] | None = None) -> Routing:
    """Decide every target of ``policy`` for ``post`` (see ``policies/README.md``).

    Tags and mentions are read from the tags field, the text and the content warning
    (:mod:`hub.domain.reading`). ``local_domains`` maps a Mastodon account to its instance's
    domain, so ``@user`` there means ``user@domain``; without it ``@user`` may be any user of
    that name. Raises ``InvalidInput`` when the post asks for no audience and
    ``UnknownAudience`` for an audience the policy does not define; with ``recheck=True``
    (re-evaluation before publishing) an audience removed since simply grants nothing.
    Evaluated by the policy compiled at load (:mod:`hub.policy.compiled`).
    """
    return policy.compiled.route(post, people, now, recheck=recheck,
                                 local_domains=local_domains or {})


def with_evidence(reason: str, evidence: list[str]) -> str:
    """``reason`` followed by where the post showed what the rule looks for."""
    return f"{reason} Found {'; '.join(evidence)}." if evidence else reason


def _within(minute: int, window: tuple[int, int]) -> bool:
    """``[start, end)``; a window whose end is not after its start wraps past midnight."""
    start, end = window
    return start <= minute < end if start < end else (minute >= start or minute < end)


def _author_is(wanted: str, author: str) -> bool:
    if wanted == "token:*":
        return author.startswith("token:")
    return wanted.casefold() == author.casefold()


def _language_is(wanted: str, language: str | None) -> bool:
    if not language:
        return False
    language = language.lower()
    return language == wanted or language.startswith(wanted + "-")


def _missing(rule: Rule, post: Post) -> str:
    if rule.requirement is Requirement.CONTENT_WARNING and not (post.content_warning or "").strip():
        return "Add a content warning"
    if rule.requirement is Requirement.ALT_TEXT and any(not m.alt.strip() for m in post.media):
        return "Add alt text to every image"
    return ""


def _required_for(rule: Rule) -> str:
    what = "a content warning" if rule.requirement is Requirement.CONTENT_WARNING else "alt text"
    return f"rule {rule.id} requires {what} on posts {rule.conditions.describe()}."


def _not_requested(target: Target, policy: Policy, post: Post, unknown: list[str]) -> str:
    owners = [a.name for a in policy.audiences.values() if target.name in a.targets]
    asked = _all_of(list(dict.fromkeys(post.audiences)))
    if not owners:
        belongs = "no audience at all"
    else:
        belongs = f"audience{'s' if len(owners) > 1 else ''} {_all_of(owners)}"
    reason = (f"Not in any audience this post asked for ({asked}); "
              f"{target.name} belongs to {belongs}.")
    if unknown:
        reason += f" Audience {_all_of(unknown)} is no longer in the policy."
    return reason


def _any_of(items: tuple[str, ...] | list[str]) -> str:
    return _join(items, "or")


def _all_of(items: tuple[str, ...] | list[str]) -> str:
    return _join(items, "and")


def _join(items: tuple[str, ...] | list[str], word: str) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
