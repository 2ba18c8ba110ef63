"""What would happen if this draft were sent now: per target, the policy's decision and the rule
behind it, the text as each network would get it (with that publisher's own counter), who could
see it in plain words, and warnings where a tag or an @mention changes the outcome.

Writes nothing. The compose page (and any JSON endpoint) renders what this returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.domain.model import (
    Decision,
    Outcome,
    PeopleSnapshot,
    Post,
    PostId,
    Reach,
    Routing,
    Target,
)
from hub.domain.reading import Field, read_post, without
from hub.errors import HubError, InvalidInput
from hub.policy.engine import DEFAULT_DENY, route
from hub.policy.loader import Policy
from hub.ports import Draft, Measurer, PlatformFacts, Size
from hub.runtime import Hub
from hub.services.drafts import Author, PendingImage, PostInput, clean_text, make_draft


@dataclass(frozen=True)
class TargetPreview:
    target: str
    account: str
    platform: str
    platform_name: str
    outcome: str                     # allow | hold | deny
    requested: bool                  # in one of the audiences the draft asked for
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    reach: str
    who: str                         # the reach in plain words
    parts: tuple[str, ...] = ()      # the text as this network would get it
    counter: str = ""
    connected: bool = True
    problem: str = ""                # not connected, or the network cannot carry it
    notes: tuple[str, ...] = ()
    variant: str = ""                # the variant this target gets ("" : the post's text)
    sizes: tuple[Size, ...] = ()     # each written part, counted as this network counts

    @property
    def sends(self) -> bool:
        return self.outcome != "deny" and not self.problem

    @property
    def too_long(self) -> bool:
        """A part does not fit one post here (a shorter variant or a thread would)."""
        return any(not size.fits for size in self.sizes)


@dataclass(frozen=True)
class Preview:
    targets: tuple[TargetPreview, ...] = ()
    warnings: tuple[str, ...] = ()
    policy_digest: str = ""
    problem: str = ""                # why there is no (full) preview yet
    problem_field: str | None = None

    @property
    def requested(self) -> tuple[TargetPreview, ...]:
        """Targets in the chosen audiences: what will go out, be held, or be stopped."""
        order = {"allow": 0, "hold": 1, "deny": 2}
        return tuple(sorted((t for t in self.targets if t.requested),
                            key=lambda t: (order[t.outcome], t.target)))

    @property
    def others(self) -> tuple[TargetPreview, ...]:
        return tuple(t for t in self.targets if not t.requested)

    @property
    def too_long_for(self) -> tuple[str, ...]:
        """Networks (platforms) where the text, with no variant of their own, is too long."""
        return tuple(dict.fromkeys(t.platform for t in self.requested
                                   if t.too_long and not t.variant and t.outcome != "deny"))

    def part_counters(self) -> list[list[tuple[str, Size]]]:
        """Per written part of the post's own text, each target's count of it (targets that
        get a variant count that instead, so they are left out here)."""
        rows: list[list[tuple[str, Size]]] = []
        for t in self.requested:
            if t.variant or t.outcome == "deny":
                continue
            for n, size in enumerate(t.sizes):
                while len(rows) <= n:
                    rows.append([])
                rows[n].append((t.target, size))
        return rows

    def as_json(self) -> dict[str, Any]:
        return {"policy_digest": self.policy_digest, "problem": self.problem or None,
                "warnings": list(self.warnings),
                "targets": [dataclasses.asdict(t) for t in self.targets]}


def preview_post(hub: Hub, data: PostInput, author: Author | None = None, *,
                 pending: Sequence[PendingImage] = ()) -> Preview:
    """Route the draft and prepare it for every target that would receive it."""
    author = author or Author()
    policy = hub.policies.current
    problem, field = "", None
    try:
        clean_text(data.text or "\n\n".join(data.thread))
    except InvalidInput as exc:   # an empty or too long text: still show where the rest goes
        problem, field = exc.message, exc.field
    try:
        draft = make_draft(hub, data, author, post_id=PostId("preview"), pending=pending,
                           check_text=False)
    except InvalidInput as exc:
        return Preview(policy_digest=policy.digest, problem=exc.message,
                       problem_field=exc.field)
    post, people, now = draft.post, policy.with_lists(draft.people), draft.post.created
    try:
        routing = route(post, policy, people, now, local_domains=draft.local_domains)
    except InvalidInput as exc:
        return Preview(policy_digest=policy.digest, problem=exc.message,
                       problem_field=exc.field)
    targets = tuple(_target(hub, d, post, people) for d in routing.decisions)
    warnings = _warnings(hub, post, policy, people, routing, now) + tuple(
        f"{t.target}: {t.problem}" for t in targets if t.requested and t.outcome != "deny"
        and t.problem and t.connected)
    return Preview(targets, warnings, routing.policy_digest, problem, field)


def facts_of(hub: Hub, platform: str) -> PlatformFacts:
    """What the platform's adapter says about it (its name, how it reaches people...)."""
    spec = hub.policies.specs.get(platform)
    return spec.facts if spec is not None else PlatformFacts(display_name=platform)


def _target(hub: Hub, d: Decision, post: Post, people: PeopleSnapshot) -> TargetPreview:
    t = d.target
    facts = facts_of(hub, t.platform)
    requested = DEFAULT_DENY not in d.rule_ids
    base = TargetPreview(
        target=t.name, account=t.account, platform=t.platform,
        platform_name=facts.display_name, outcome=d.outcome.value,
        requested=requested, rule_ids=d.rule_ids, reasons=d.reasons, reach=t.reach.value,
        who=reach_words(t, facts, people, room=_room_words(hub, t)))
    if d.outcome is Outcome.DENY:
        return base
    try:
        publisher = hub.publishers.get(t.account)
    except HubError as exc:
        return dataclasses.replace(base, connected=False, problem=exc.message)
    sent = post.as_sent_to(t)                                   # its variant, if any
    variant = post.variant_for(t)
    base = dataclasses.replace(base, variant=variant.key if variant else "")
    if isinstance(publisher, Measurer):
        base = dataclasses.replace(base, sizes=tuple(
            publisher.measure(part, content_warning=sent.content_warning or "", first=n == 0)
            for n, part in enumerate(sent.parts)))
    try:
        draft = publisher.prepare(sent, t, people)
    except HubError as exc:
        return dataclasses.replace(base, problem=exc.message)
    return dataclasses.replace(base, parts=draft.parts, counter=draft.counter,
                               notes=draft.notes,
                               who=reach_words(t, facts, people, draft, room=base.who))


def _room_words(hub: Hub, target: Target) -> str | None:
    """The adapter's own words for who is in a room (``reach_words(options)`` on its spec,
    if it has one: a kept Matrix room never shares its history, an existing one may)."""
    spec = hub.policies.specs.get(target.platform)
    words = getattr(spec, "reach_words", None)
    if spec is None or words is None or target.reach is not Reach.ROOM_MEMBERS:
        return None
    return str(words(spec.options.model_validate(dict(target.options))))


def reach_words(target: Target, facts: PlatformFacts, people: PeopleSnapshot,
                draft: Draft | None = None, *, room: str | None = None) -> str:
    """Who could see a post sent to ``target``, as the owner would say it (``room``: the
    adapter's words for a room's members)."""
    reach, platform = target.reach, facts.display_name
    if reach is Reach.WORLD:
        return "anyone on the web"
    if reach is Reach.WORLD_UNLISTED:
        return "anyone with the link (it stays out of public timelines)"
    if reach is Reach.FOLLOWERS:
        return f"your {platform} followers — grows as people follow you"
    if reach is Reach.ROOM_MEMBERS:
        return room or (f"the members of the {platform} room when it is sent — later members "
                        "see it too if the room shares its history")
    list_name = target.list_name or "the list"
    if draft is not None:
        count = len(draft.recipients)
    else:
        kind = facts.identity
        count = sum(1 for p in people.members(list_name)
                    if kind is None or p.identity(kind) is not None)
    how = facts.reaches_people or f"on {platform}"
    if count == 0:
        return f"nobody yet: no one in {list_name} can be reached {how}"
    people_word = "person" if count == 1 else "people"
    return f"the {count} {people_word} in {list_name}, {how}"


def _warnings(hub: Hub, post: Post, policy: Policy, people: PeopleSnapshot, routing: Routing,
              now: datetime) -> tuple[str, ...]:
    """Where a tag or an @mention changes who gets the post."""
    out: list[str] = []
    outcome = {d.target.name: d for d in routing.decisions}
    reading = read_post(post)   # the tags and mentions the policy judged
    for key, first in reading.tags_by_key.items():
        cause = f"The tag #{first.name}" if first.field is Field.TAGS else f"The tag {first.where}"
        stripped = without(post, [t for t in reading.hashtags if t.key == key])
        out += _changes(cause, outcome, route(stripped, policy, people, now))
    written = list(dict.fromkeys(m.written for m in reading.mentions
                                 if m.written.startswith("@")))
    for mention in written:
        stripped = without(post, [m for m in reading.mentions if m.written == mention])
        out += _changes(f"Mentioning {mention}", outcome, route(stripped, policy, people, now))
    mentions = [m for m in written if m in post.text]
    if mentions:
        for d in routing.decisions:
            facts = facts_of(hub, d.target.platform)
            if d.outcome is Outcome.DENY or not facts.mentions_can_read:
                continue
            if d.target.reach in (Reach.FOLLOWERS, Reach.RECIPIENTS):
                out.append(f"{d.target.name}: on {facts.display_name}, accounts you mention "
                           f"({', '.join(mentions)}) can read this post even if they do not "
                           "follow you or are not on the list")
    return tuple(out)


def _changes(cause: str, actual: dict[str, Decision], counterfactual: Routing) -> list[str]:
    out = []
    for d in counterfactual.decisions:
        now_d = actual[d.target.name]
        if d.outcome is now_d.outcome:
            continue
        effect = {Outcome.DENY: "stops it going to", Outcome.HOLD: "holds for approval",
                  Outcome.ALLOW: "lets it go to"}[now_d.outcome]
        rules = ", ".join(r for r in now_d.rule_ids if not r.startswith("audience:"))
        out.append(f"{cause} {effect} {d.target.name} (it would otherwise be "
                   f"{_verb(d.outcome)}){f'; rule {rules}' if rules else ''}.")
    return out


def _verb(outcome: Outcome) -> str:
    return {Outcome.DENY: "stopped", Outcome.HOLD: "held", Outcome.ALLOW: "sent"}[outcome]
