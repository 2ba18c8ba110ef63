"""The policy compiled once for ``route()``: each rule's target-side conditions (target,
platform, account, reach) are resolved at compile time into one set of rule numbers per target;
its post-side conditions are indexed by tag and audience, so a post only evaluates the rules that
can apply to it, once per post (not once per target); the text patterns are searched once per
post behind one combined pattern; mentions are looked up in a prepared set of identity keys.

The decisions and reasons are those of the straightforward evaluation (every rule, every target,
in file order) kept in ``tests/unit/policy_reference.py``; the tests prove them equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub.domain.model import Decision, Outcome, PeopleSnapshot, Post, Reach, Routing, Target
from hub.domain.reading import Field, Mention, Reading, fold, read_post
from hub.errors import InvalidInput, UnknownAudience
from hub.policy import engine as e

_Live = tuple[frozenset[int], Mapping[int, list[str]]]   # rule numbers, their evidence


class CompiledPolicy:
    """Built once per loaded policy (``Policy.compiled``); ``route`` is pure."""

    def __init__(self, policy: e.Policy) -> None:
        self.policy = policy
        rules = self.rules = policy.rules
        self.audience_targets = {name: frozenset(a.targets) for name, a in policy.audiences.items()}
        self.owners = {t: [a.name for a in policy.audiences.values() if t in a.targets]
                       for t in policy.targets}
        by_action: dict[e.Action, dict[str, frozenset[int]]] = {}
        for action in e.Action:
            by_action[action] = {name: frozenset(
                i for i, r in enumerate(rules)
                if r.action is action and _accepts(r.conditions, target))
                for name, target in policy.targets.items()}
        self.deny_for, self.hold_for = by_action[e.Action.DENY], by_action[e.Action.HOLD]
        self.require_for = by_action[e.Action.REQUIRE]
        self.by_tag: dict[str, set[int]] = {}
        self.by_audience: dict[str, set[int]] = {}
        for i, r in enumerate(rules):
            for tag in r.conditions.tags:
                self.by_tag.setdefault(tag, set()).add(i)
            for audience in r.conditions.audiences:
                self.by_audience.setdefault(audience, set()).add(i)
        self.untagged = frozenset(i for i, r in enumerate(rules) if not r.conditions.tags)
        self.any_audience = frozenset(i for i, r in enumerate(rules)
                                      if not r.conditions.audiences)
        self.mentioning = frozenset(i for i, r in enumerate(rules)
                                    if r.conditions.mentions_member_of)
        self.reasons = tuple(_reason(r) for r in rules)
        patterns = {p: None for r in rules for p in r.conditions.text}
        self.patterns = tuple(patterns)
        self.prefilter = _combine(self.patterns)
        self.by_pattern: dict[re.Pattern[str], set[int]] = {}
        for i, r in enumerate(rules):
            for pattern in r.conditions.text:
                self.by_pattern.setdefault(pattern, set()).add(i)
        self.textless = frozenset(i for i, r in enumerate(rules) if not r.conditions.text)
        # Decisions that depend only on the target and the audiences asked for, kept: they
        # are frozen values, the same for every post that asks the same way.
        self._plain: dict[tuple[str, tuple[str, ...], tuple[str, ...], bool], Decision] = {}

    def route(self, post: Post, people: PeopleSnapshot, now: datetime, *, recheck: bool,
              local_domains: Mapping[str, str]) -> Routing:
        policy = self.policy
        if not post.audiences:
            raise InvalidInput("a post needs at least one audience", field="audiences")
        if policy.lists:   # rule lists' members as of this snapshot (kept while it lasts)
            people = policy.rule_lists.resolve(people)
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
        facts = _PostFacts(self, post, people, now)
        # With variants each target is judged on the text it receives (post.as_sent_to): one
        # set of facts per distinct text, so a tag or mention typed only in one variant
        # counts for the targets that get that variant, and only for them.
        by_text: dict[tuple[str, tuple[str, ...]], _PostFacts] = {
            (post.text, post.thread): facts}
        asked, gone = tuple(dict.fromkeys(post.audiences)), tuple(unknown)
        if len(self._plain) > 4096:
            self._plain.clear()
        decisions = []
        for name, target in policy.targets.items():
            containing = tuple(a for a in requested if name in self.audience_targets[a])
            if not containing:
                decisions.append(self._plain_decision(target, asked, gone, post, unknown))
                continue
            domain = local_domains.get(target.account, "") if target.platform == "mastodon" \
                else ""
            judged = facts
            if post.variants:
                sent = post.as_sent_to(target)
                judged = by_text.get((sent.text, sent.thread)) or by_text.setdefault(
                    (sent.text, sent.thread), _PostFacts(self, sent, people, now))
            decisions.append(self._decide(target, judged.live(domain), containing, ceiling))
        return Routing(decisions=tuple(decisions), policy_digest=policy.digest)

    def _plain_decision(self, target: Target, asked: tuple[str, ...], gone: tuple[str, ...],
                        post: Post, unknown: list[str]) -> Decision:
        key = (target.name, asked, gone, False)
        found = self._plain.get(key)
        if found is None:
            found = self._plain[key] = Decision(target, Outcome.DENY, (e.DEFAULT_DENY,), (
                e._not_requested(target, self.policy, post, unknown),))
        return found

    def _decide(self, target: Target, live: _Live, containing: tuple[str, ...],
                ceiling: Reach) -> Decision:
        numbers, evidence = live
        rules, name = self.rules, target.name
        denied = [(rules[i].id, e.with_evidence(self.reasons[i], evidence[i]))
                  for i in sorted(numbers & self.deny_for[name])]
        if target.reach.wider_than(ceiling):
            denied.append((e.NEVER_WIDEN, (
                f"Never widen: {target.name} reaches {target.reach} ({target.reach.plain}), "
                f"wider than this post's audiences allow ({ceiling}: {ceiling.plain}).")))
        denied += [(rules[i].id, e.with_evidence(self.reasons[i], evidence[i]))
                   for i in sorted(numbers & self.require_for[name])]
        if denied:
            return Decision(target, Outcome.DENY, tuple(i for i, _ in denied),
                            tuple(r for _, r in denied), containing)
        held = sorted(numbers & self.hold_for[name])
        if held:
            return Decision(target, Outcome.HOLD, tuple(rules[i].id for i in held), tuple(
                e.with_evidence(self.reasons[i], evidence[i]) for i in held), containing)
        key = (name, containing, (), True)
        allowed = self._plain.get(key)
        if allowed is None:
            allowed = self._plain[key] = Decision(
                target, Outcome.ALLOW, tuple(f"audience:{a}" for a in containing),
                tuple(f"This post asked for audience {a}, which includes {name}."
                      for a in containing), containing)
        return allowed


class _PostFacts:
    """Everything about one post the rules ask, each computed once and only if asked."""

    def __init__(self, compiled: CompiledPolicy, post: Post, people: PeopleSnapshot,
                 now: datetime) -> None:
        self.compiled, self.post, self.people, self.now = compiled, post, people, now
        self._reading: Reading | None = None
        self._base: _Live | None = None
        self._live: dict[str, _Live] = {}
        self._local: dict[str, datetime] = {}

    @property
    def reading(self) -> Reading:
        if self._reading is None:
            self._reading = read_post(self.post)
        return self._reading

    def live(self, domain: str) -> _Live:
        """The rules whose post-side conditions hold, with their evidence, for a target whose
        local mentions are on ``domain`` ("" when none is known or it is not Mastodon)."""
        found = self._live.get(domain)
        if found is None:
            found = self._live[domain] = self._with_mentions(domain)
        return found

    def _with_mentions(self, domain: str) -> _Live:
        numbers, evidence = self._post_side()
        mentioning = numbers & self.compiled.mentioning
        if not mentioning:
            return numbers, evidence
        keys = self.reading.mentions_by_key(domain or None)
        kept, extra = set(numbers - mentioning), dict(evidence)
        for i in mentioning:
            for list_name in self.compiled.rules[i].conditions.mentions_member_of:
                found = self._mention_of(list_name, keys)
                if found is not None:
                    kept.add(i)
                    extra[i] = [*evidence[i], found]
                    break
        return frozenset(kept), extra

    def _post_side(self) -> _Live:
        """Rules whose conditions, mentions aside, hold for the post (target-side ones are in
        the per-target sets): tags and audiences through the indexes, the rest rule by rule."""
        if self._base is not None:
            return self._base
        c, post = self.compiled, self.post
        candidates = set(c.untagged)
        tags = self.reading.tags_by_key if c.by_tag else {}
        for key in tags:
            candidates.update(c.by_tag.get(key, ()))
        audiences = set(c.any_audience)
        for name in post.audiences:
            audiences.update(c.by_audience.get(name, ()))
        candidates &= audiences
        hits = self._pattern_hits() if c.patterns else {}
        if c.by_pattern:
            texts = set(c.textless)
            for pattern, field in hits.items():
                if field is not None:
                    texts.update(c.by_pattern[pattern])
            candidates &= texts
        if not self.reading.mentions:
            candidates -= c.mentioning
        missing_alt = any(not m.alt.strip() for m in post.media)
        kept: dict[int, list[str]] = {}
        for i in sorted(candidates):
            rule = c.rules[i]
            cond = rule.conditions
            if (cond.has_media is not None and bool(post.media) != cond.has_media
                    or cond.missing_alt_text is not None and missing_alt != cond.missing_alt_text
                    or cond.author and not any(e._author_is(a, post.author) for a in cond.author)
                    or cond.language and not any(e._language_is(lang, post.language)
                                                 for lang in cond.language)
                    or (cond.weekdays or cond.hours is not None) and not self._in_time(cond)
                    or rule.action is e.Action.REQUIRE and not e._missing(rule, post)):
                continue
            evidence: list[str] = []
            if cond.tags:
                tag = next(tags[t] for t in cond.tags if t in tags)
                if tag.field is not Field.TAGS:
                    evidence.append(tag.where)
            if cond.text:
                where = next(((p, f) for p in cond.text if (f := hits.get(p)) is not None),
                             None)
                if where is None:
                    continue
                evidence.append(f"/{where[0].pattern}/ {where[1].words}")
            kept[i] = evidence
        self._base = (frozenset(kept), kept)
        return self._base

    def _in_time(self, cond: e.Conditions) -> bool:
        local = self._local.get(cond.timezone)
        if local is None:
            local = self._local[cond.timezone] = self.now.astimezone(ZoneInfo(cond.timezone))
        if cond.weekdays and local.weekday() not in cond.weekdays:
            return False
        return cond.hours is None or e._within(local.hour * 60 + local.minute, cond.hours)

    def _pattern_hits(self) -> dict[re.Pattern[str], Field | None]:
        """For each text pattern of the policy, the first field it is found in (as written,
        then as read), searching each text once with the combined pattern first."""
        post, c = self.post, self.compiled
        texts = [(Field.TEXT, post.text), (Field.CONTENT_WARNING, post.content_warning or "")]
        texts += [(Field.TEXT, part) for part in post.thread]   # each post of a chain alone
        texts = list(dict.fromkeys(texts + [(f, fold(t)) for f, t in texts]))
        combined, alone = c.prefilter
        searched = combined is not None and any(combined.search(t) for _, t in texts)
        hits: dict[re.Pattern[str], Field | None] = {}
        for p in c.patterns:
            if combined is None or p in alone or searched:
                hits[p] = next((f for f, t in texts if p.search(t)), None)
        return hits

    def _mention_of(self, list_name: str, keys: Mapping[str, Mention]) -> str | None:
        """The first mention that stands for a member of ``list_name``: "@ana in the text
        (Ana, in clients)". Looked up in the snapshot's identity index, never by scanning."""
        members = self.people.lists.get(list_name)
        if not members or not keys:
            return None
        index = self.people.by_identity
        for key, mention in keys.items():
            found = index.get(key, frozenset()) & members
            people = [self.people.people[i] for i in found if i in self.people.people]
            if people:
                person = max(people, key=lambda p: (p.name.casefold(), p.id))
                return f"{mention.where} ({person.name}, in {list_name})"
        return None


def _accepts(c: e.Conditions, target: Target) -> bool:
    """The target-side conditions, decided once per target at compile time."""
    return not (c.targets and target.name not in c.targets
                or c.platforms and target.platform not in c.platforms
                or c.accounts and target.account not in c.accounts
                or c.reach and target.reach not in c.reach)


def _reason(rule: e.Rule) -> str:
    if rule.action is e.Action.DENY:
        return rule.reason or f"Rule {rule.id} keeps out posts {rule.conditions.describe()}."
    if rule.action is e.Action.HOLD:
        return rule.reason or (f"Held for approval: rule {rule.id} holds posts "
                               f"{rule.conditions.describe()}.")
    what = ("Add a content warning" if rule.requirement is e.Requirement.CONTENT_WARNING
            else "Add alt text to every image")
    return f"{what} to send it here: {rule.reason or e._required_for(rule)}"


def _combine(patterns: tuple[re.Pattern[str], ...]
             ) -> tuple[re.Pattern[str] | None, frozenset[re.Pattern[str]]]:
    """One pattern that matches where any of ``patterns`` does, and the patterns it cannot
    stand in for (groups or flags of their own: those are always searched alone)."""
    flags = re.IGNORECASE | re.UNICODE
    joinable = [p for p in patterns if p.flags == flags and not p.groups]
    alone = frozenset(p for p in patterns if p not in joinable)
    if not joinable:
        return None, alone
    try:
        return re.compile("|".join(f"(?:{p.pattern})" for p in joinable), flags), alone
    except re.error:
        return None, alone
