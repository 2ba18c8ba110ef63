"""The policy engine's reference: a straightforward evaluator (every rule, for every target, in
file order), kept beside the tests to prove the compiled ``route()`` gives the same decisions and
reasons (``test_policy_compiled.py``). Not collected by pytest itself."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub.domain.model import Decision, Outcome, PeopleSnapshot, Post, Reach, Routing, Target
from hub.domain.reading import Field, Mention, fold, keys_of, read_post
from hub.errors import InvalidInput, UnknownAudience
from hub.policy.engine import (
    DEFAULT_DENY,
    NEVER_WIDEN,
    Action,
    Conditions,
    Policy,
    _author_is,
    _language_is,
    _missing,
    _not_requested,
    _required_for,
    with_evidence,
)


def reference_route(post: Post, policy: Policy, people: PeopleSnapshot, now: datetime, *,
          recheck: bool = False, local_domains: Mapping[str, str] | None = None) -> Routing:
    """The straightforward evaluation: every rule, for every target, in file order.

    Tags and mentions are read from the tags field, the text and the content warning
    (:mod:`hub.domain.reading`). ``local_domains`` maps a Mastodon account to its instance's
    domain, so ``@user`` there means ``user@domain``; without it ``@user`` may be any user of
    that name. Raises ``InvalidInput`` when the post asks for no audience and
    ``UnknownAudience`` for an audience the policy does not define; with ``recheck=True``
    (re-evaluation before publishing) an audience removed since simply grants nothing.
    """
    if not post.audiences:
        raise InvalidInput("a post needs at least one audience", field="audiences")
    requested: list[str] = []
    unknown: list[str] = []
    for name in dict.fromkeys(post.audiences):
        if name in policy.audiences:
            requested.append(name)
        elif recheck:
            unknown.append(name)
        else:
            raise UnknownAudience(name, list(policy.audiences))
    ceiling = max((policy.audiences[a].reach for a in requested), key=lambda r: r.rank,
                  default=Reach.RECIPIENTS)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    # each target is judged on the text it receives (its variant, if the post has one)
    decisions = tuple(
        _decide(target, policy, _Facts(post.as_sent_to(target), people, now, local_domains or {}),
                requested=requested, unknown=unknown, ceiling=ceiling)
        for target in policy.targets.values())
    return Routing(decisions=decisions, policy_digest=policy.digest)


def _decide(target: Target, policy: Policy, facts: _Facts, *, requested: list[str],
            unknown: list[str], ceiling: Reach) -> Decision:
    containing = tuple(a for a in requested if target.name in policy.audiences[a].targets)
    if not containing:
        return Decision(target, Outcome.DENY, (DEFAULT_DENY,),
                        (_not_requested(target, policy, facts.post, unknown),))

    denied: list[tuple[str, str]] = []
    for rule in policy.rules:
        if rule.action is Action.DENY:
            found = _matches(rule.conditions, facts, target)
            if found is not None:
                denied.append((rule.id, with_evidence(rule.reason or (
                    f"Rule {rule.id} keeps out posts {rule.conditions.describe()}."), found)))
    if target.reach.wider_than(ceiling):
        denied.append((NEVER_WIDEN, (
            f"Never widen: {target.name} reaches {target.reach} ({target.reach.plain}), wider "
            f"than this post's audiences allow ({ceiling}: {ceiling.plain}).")))
    for rule in policy.rules:
        if rule.action is Action.REQUIRE:
            found = _matches(rule.conditions, facts, target)
            missing = _missing(rule, facts.post) if found is not None else ""
            if found is not None and missing:
                denied.append((rule.id, with_evidence(
                    f"{missing} to send it here: {rule.reason or _required_for(rule)}", found)))
    if denied:
        return Decision(target, Outcome.DENY, tuple(i for i, _ in denied),
                        tuple(r for _, r in denied), containing)

    holds: list[tuple[str, str]] = []
    for rule in policy.rules:
        if rule.action is Action.HOLD:
            found = _matches(rule.conditions, facts, target)
            if found is not None:
                holds.append((rule.id, with_evidence(rule.reason or (
                    f"Held for approval: rule {rule.id} holds posts "
                    f"{rule.conditions.describe()}."), found)))
    if holds:
        return Decision(target, Outcome.HOLD, tuple(i for i, _ in holds),
                        tuple(r for _, r in holds), containing)

    return Decision(target, Outcome.ALLOW, tuple(f"audience:{a}" for a in containing), tuple(
        f"This post asked for audience {a}, which includes {target.name}." for a in containing),
        containing)


def _matches(conditions: Conditions, facts: _Facts, target: Target) -> list[str] | None:
    """``None`` unless every condition given holds for this post going to ``target``; else the
    evidence worth telling: tags found outside the tags field, mentions, text patterns."""
    c, post = conditions, facts.post
    if (c.audiences and not any(a in post.audiences for a in c.audiences)
            or c.targets and target.name not in c.targets
            or c.platforms and target.platform not in c.platforms
            or c.accounts and target.account not in c.accounts
            or c.reach and target.reach not in c.reach):
        return None
    if c.has_media is not None and bool(post.media) != c.has_media:
        return None
    if c.missing_alt_text is not None and facts.missing_alt != c.missing_alt_text:
        return None
    if c.author and not any(_author_is(a, post.author) for a in c.author):
        return None
    if c.language and not any(_language_is(lang, post.language) for lang in c.language):
        return None
    if c.weekdays or c.hours is not None:
        local = facts.local(c.timezone)
        if c.weekdays and local.weekday() not in c.weekdays:
            return None
        if c.hours is not None and not _within(local.hour * 60 + local.minute, c.hours):
            return None
    evidence: list[str] = []
    if c.tags:
        tag = next((facts.tags[t] for t in c.tags if t in facts.tags), None)
        if tag is None:
            return None
        if tag.field is not Field.TAGS:
            evidence.append(tag.where)
    if c.text:
        where = next(((p, f) for p in c.text for f, t in facts.texts if p.search(t)), None)
        if where is None:
            return None
        evidence.append(f"/{where[0].pattern}/ {where[1].words}")
    if c.mentions_member_of:
        found = next((m for n in c.mentions_member_of
                      if (m := facts.mention_of(n, target)) is not None), None)
        if found is None:
            return None
        evidence.append(found)
    return evidence


def _within(minute: int, window: tuple[int, int]) -> bool:
    """``[start, end)``; a window whose end is not after its start wraps past midnight."""
    start, end = window
    return start <= minute < end if start < end else (minute >= start or minute < end)


class _Facts:
    """What the rules ask about one post, computed once per ``route`` call."""

    def __init__(self, post: Post, people: PeopleSnapshot, now: datetime,
                 local_domains: Mapping[str, str]) -> None:
        self.post = post
        self.people = people
        self.now = now
        self.local_domains = local_domains
        self.reading = read_post(post)
        self.tags = self.reading.tags_by_key
        texts = [(Field.TEXT, post.text), (Field.CONTENT_WARNING, post.content_warning or "")]
        texts += [(Field.TEXT, part) for part in post.thread]
        # A pattern also sees the text as read: invisible characters gone, width and case folded.
        self.texts = tuple(dict.fromkeys(texts + [(f, fold(t)) for f, t in texts]))
        self.missing_alt = any(not m.alt.strip() for m in post.media)
        self._lists: dict[str, dict[str, str]] = {}
        self._mentions: dict[str, Mapping[str, Mention]] = {}

    def local(self, timezone: str) -> datetime:
        return self.now.astimezone(ZoneInfo(timezone))

    def mention_of(self, list_name: str, target: Target) -> str | None:
        """Where the post mentions a member of ``list_name`` as readers of ``target`` see it
        (``"@ana in the text (Ana, in clients)"``), or ``None``."""
        members = self._lists.get(list_name)
        if members is None:
            members = {key: person.name for person in self.people.members(list_name)
                       for key in keys_of(person.identities)}
            self._lists[list_name] = members
        domain = self.local_domains.get(target.account, "") \
            if target.platform == "mastodon" else ""
        mentions = self._mentions.get(domain)
        if mentions is None:
            mentions = self._mentions[domain] = self.reading.mentions_by_key(domain or None)
        for key, mention in mentions.items():
            if key in members:
                return f"{mention.where} ({members[key]}, in {list_name})"
        return None
