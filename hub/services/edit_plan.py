"""What an edit would do, before anything changes: the edited post routed again by the policy
in force on the same audiences, and for each copy what happens to it (edited, replaced,
retracted, held, left as it was). ``hub.services.edits`` applies a plan once it is confirmed.

With per-network text variants each copy is judged on, and gets, the text it would carry
(``Post.as_sent_to``, the reading ``route()`` uses); a copy whose own content is what it carries
already (a variant copy when only the main text changed) is left alone (``none``) unless the
policy in force now denies it there (then it is retracted, or cancelled if not sent yet).
A post written as a thread cannot be edited yet (409).

The answer is a preview: it writes nothing, and its ``digest`` is what the user confirms (a
plan that changed in between — a new rule, a copy that went out — is refused, not applied).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from hub.domain.model import Decision, Outcome, PeopleSnapshot, Post, Target, Variant
from hub.errors import Conflict, ContentRejected, Forbidden, HubError, InvalidInput, NotFound
from hub.policy.engine import DEFAULT_DENY, route
from hub.ports import EditWay
from hub.runtime import Hub
from hub.services.drafts import Author, PostInput, clean
from hub.services.edit_versions import carried_post, copy_target, sent_text, text_sha256
from hub.services.text_variants import check_variant_keys, clean_variants, refuse_thread_edit
from hub.store.edit_tables import CopyEditRow, PostVersionRow
from hub.store.repos import post_from_row
from hub.store.tables import DeliveryRow, PostRow

UNSENT = {"pending", "held"}
NEVER_ADDS = "an edit never adds audiences; a new audience is a new post"
"""Said of each target the policy would newly allow for the edited post."""
_WAY_ACTION = {EditWay.NATIVE: "edit", EditWay.REPLACE: "replace", EditWay.IN_PLACE: "in-place",
               EditWay.CORRECT: "correct", EditWay.NONE: "unchanged"}
_SAYS = {
    "edit": "edited in place (the copy keeps its id and link)",
    "replace": "deleted and published again (a new copy with a new link: this network has no "
               "edit)",
    "in-place": "the entry shows the new version (marked updated)",
    "correct": "cannot be changed: a correction message goes to the same recipients",
    "unchanged": "cannot be changed (sent email cannot be recalled); nothing is sent",
    "retract": "DELETED: the policy now denies the edited post here",
    "hold": "waits for approval with the edit; the current copy stays as it is until then",
    "update": "not sent yet: it will go out with the new version",
    "cancel": "not sent yet, and now denied: it will not go out",
    "wait": "not sent yet: it now needs approval",
    "none": "nothing to change",
}
_SAME = "its own text did not change (it carries {what}): nothing is sent"


@dataclass(frozen=True)
class EditInput:
    """The fields an edit changes; ``None`` keeps the current value. ``content_warning=""``
    removes it; ``alts`` maps an image's sha256 to its new alt text. ``audiences``, when given,
    must be the post's own: an edit never adds an audience (that is a new post)."""

    text: str | None = None
    content_warning: str | None = None
    language: str | None = None
    tags: Sequence[str] | None = None
    alts: Mapping[str, str] = field(default_factory=dict)
    audiences: Sequence[str] | None = None
    schedule_at: datetime | None = None
    variants: Mapping[str, str | None] | None = None
    """Per network (or target) text changes: a text adds or replaces that network's variant,
    ``None`` or ``""`` removes it (the network then gets the main text); networks not named
    keep theirs."""


@dataclass(frozen=True)
class CopyPlan:
    """What the edit does to one delivery's copy, and why."""

    delivery_id: str
    target: str
    platform: str
    status: str                 # the delivery's status now
    action: str                 # see ``_SAYS``
    says: str
    rule_ids: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()         # the adapter's notes on the new version (quote policy)
    text: str = ""                      # the text this copy would carry after the edit
    variant: str | None = None          # ... from this variant (None: the main text)
    same: bool = False                  # its own content is what it carries already

    @property
    def carries(self) -> str:
        """Which text the copy would carry, in words."""
        return f"the {self.variant} variant" if self.variant else "the main text"

    def as_json(self) -> dict[str, Any]:
        return {"delivery_id": self.delivery_id, "target": self.target,
                "platform": self.platform, "status": self.status, "action": self.action,
                "says": self.says, "rule_ids": list(self.rule_ids),
                "reasons": list(self.reasons), "notes": list(self.notes),
                "carries": {"variant": self.variant, "text": self.text,
                            "text_sha256": text_sha256(self.text)},
                "text_changed": not self.same}


@dataclass(frozen=True)
class EditPlan:
    """The preview of an edit: the new version, each copy's fate, and the digest to confirm."""

    post: Post                  # the edited post (the new version's content)
    version: int                # the version the edit creates
    old_text_sha256: str
    changed: tuple[str, ...]
    copies: tuple[CopyPlan, ...]
    decisions: tuple[Decision, ...]
    policy_digest: str
    people: PeopleSnapshot
    not_added: tuple[str, ...] = ()     # targets the policy would newly allow: never added

    @property
    def notes(self) -> tuple[str, ...]:
        """What the preview says beside the copies: targets newly allowed but not added, then
        each copy's adapter notes (a Mastodon quote policy the server overrides)."""
        said = tuple(f"{t}: the policy would allow the edited post here, but {NEVER_ADDS}"
                     for t in self.not_added)
        return said + tuple(f"{c.target}: {n}" for c in self.copies for n in c.notes)

    @property
    def digest(self) -> str:
        """Confirm with this: the same change, judged the same way, on the same copies."""
        data = {"post": self.post.id, "version": self.version, "text": self.post.text,
                "cw": self.post.content_warning, "lang": self.post.language,
                "tags": list(self.post.tags), "alts": [m.alt for m in self.post.media],
                "schedule": self.post.schedule_at.isoformat() if self.post.schedule_at else None,
                "variants": {v.key: list(v.parts) for v in self.post.variants},
                "copies": [(c.delivery_id, c.status, c.action, text_sha256(c.text))
                           for c in self.copies],
                "policy": self.policy_digest}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:24]

    @property
    def retracted(self) -> tuple[CopyPlan, ...]:
        return tuple(c for c in self.copies if c.action == "retract")

    def as_json(self) -> dict[str, Any]:
        return {"post_id": self.post.id, "version": self.version, "changed": list(self.changed),
                "confirm": self.digest, "policy_digest": self.policy_digest,
                "retracts": [c.target for c in self.retracted],
                "not_added": list(self.not_added), "notes": list(self.notes),
                "copies": [c.as_json() for c in self.copies]}


def check_author(post: PostRow, author: Author) -> None:
    """A token with an audience allow-list may change only posts wholly inside it."""
    if author.audiences is None:
        return
    outside = [a for a in post.audiences if a not in author.audiences]
    if outside:
        raise Forbidden(f"this token may act on posts to {', '.join(sorted(author.audiences))} "
                        f"only; post {post.id} also goes to {', '.join(outside)}")


def load_post(s: Session, post_id: str) -> PostRow:
    row = s.get(PostRow, post_id)
    if row is None:
        raise NotFound(f"no post {post_id!r}")
    if row.deleted is not None:
        raise Conflict(f"post {post_id} was deleted; a deleted post cannot be edited")
    return row


def current_version(s: Session, post_id: str) -> int:
    versions = s.exec(select(PostVersionRow.version).where(PostVersionRow.post_id == post_id))
    return max(versions, default=1)


def plan_edit(hub: Hub, post_id: str, change: EditInput, author: Author) -> EditPlan:
    """Route the edited post again and say what would happen to every copy. Writes nothing."""
    now = hub.now()
    policy = hub.policies.current
    with hub.db.read() as s:
        row = load_post(s, post_id)
        check_author(row, author)
        old = post_from_row(row)
        refuse_thread_edit(old)
        deliveries = list(s.exec(select(DeliveryRow).where(DeliveryRow.post_id == post_id)
                                 .order_by(col(DeliveryRow.created), col(DeliveryRow.target))))
        # what each copy carries now (its version's text for its network): an edit that
        # leaves that as it is leaves the copy alone
        carried = {d.id: carried_post(s, row, d).as_sent_to(copy_target(d))
                   for d in deliveries}
        version = current_version(s, post_id) + 1
        people = policy.with_lists(hub.people.snapshot(s))
        busy = [d.target for d in deliveries if d.status == "in_flight"]
        busy += [e.target for e in s.exec(select(CopyEditRow).where(
            CopyEditRow.post_id == post_id, CopyEditRow.status == "in_flight"))]
    if busy:
        raise Conflict(f"a copy is being sent right now ({', '.join(busy)}); try again in a "
                       "moment")
    post, changed = _edited(old, change, now, sent=any(d.status not in UNSENT
                                                        for d in deliveries),
                            targets=list(policy.targets.values()))
    if not changed:
        raise InvalidInput("the edit changes nothing")
    routing = route(post, policy, people, now, recheck=True)
    by_target = {d.target.name: d for d in routing.decisions}
    copies = []
    for d in deliveries:
        decision = by_target.get(d.target)
        if decision is not None and decision.target.account != d.account:
            decision = None
        target: Target = decision.target if decision is not None else copy_target(d)
        # the one reading of what this copy gets: its variant, else the main text (route()
        # judged exactly this for it)
        sent = post.as_sent_to(target)
        text, variant = sent_text(post, target)
        # left alone only where the policy in force still lets it be: a copy it now denies
        # (the people or rules changed since, or its target is gone) is retracted or
        # cancelled even when its own text is the same
        denied = decision is None or decision.outcome is Outcome.DENY
        if d.status in UNSENT | {"published"} and sent == carried[d.id] and not denied:
            copies.append(CopyPlan(d.id, d.target, d.platform, d.status, "none",
                                   _SAME.format(what=f"the {variant} variant" if variant
                                                else "the main text"),
                                   text=text, variant=variant, same=True))
            continue
        rejection, notes = None, tuple[str, ...]()
        if decision is not None and decision.outcome is not Outcome.DENY and \
                d.status in UNSENT | {"published"}:
            rejection, notes = _prepared(hub, sent, decision, people)
        way = hub.policies.specs[d.platform].edit_way(
            hub.policies.specs[d.platform].options.model_validate(
                dict(decision.target.options))) if decision is not None else EditWay.NONE
        copy = replace(_classify(d, decision, way, rejection), text=text, variant=variant)
        if copy.action not in ("retract", "cancel", "none"):
            copy = replace(copy, notes=notes)
        copies.append(copy)
    had = {d.target for d in deliveries if d.status not in ("denied", "rejected")}
    not_added = tuple(x.target.name for x in routing.decisions
                      if x.outcome is not Outcome.DENY and DEFAULT_DENY not in x.rule_ids
                      and x.target.name not in had)
    return EditPlan(post, version, text_sha256(old.text), tuple(changed), tuple(copies),
                    routing.decisions, policy.digest, people, not_added)


def _prepared(hub: Hub, post: Post, decision: Decision, people: PeopleSnapshot
              ) -> tuple[str | None, tuple[str, ...]]:
    """(why the target cannot carry the new version, or None; the adapter's notes on it).
    ``post`` is the post as this target gets it (``Post.as_sent_to``)."""
    try:
        publisher = hub.publishers.get(decision.target.account)
    except HubError:
        return None, ()      # not connected: the copy edit fails later with that reason
    try:
        return None, publisher.prepare(post, decision.target, people).notes
    except ContentRejected as exc:
        return exc.message, ()


def _classify(d: DeliveryRow, decision: Decision | None, way: EditWay,
              rejection: str | None) -> CopyPlan:
    def plan(action: str, says: str | None = None) -> CopyPlan:
        rules = decision.rule_ids if decision is not None else ("target-removed",)
        reasons = decision.reasons if decision is not None else (
            f"target {d.target!r} is no longer in the policy",)
        return CopyPlan(d.id, d.target, d.platform, d.status, action, says or _SAYS[action],
                        rules, reasons)

    outcome = decision.outcome if decision is not None else Outcome.DENY
    if d.status == "published":
        if outcome is Outcome.DENY:
            return plan("retract")
        if rejection is not None:
            return plan("unchanged", f"cannot carry the new version ({rejection}); the copy "
                                     "stays as it was")
        if outcome is Outcome.HOLD:
            return plan("hold")
        return plan(_WAY_ACTION[way])
    if d.status in UNSENT:
        if outcome is Outcome.DENY:
            return plan("cancel")
        if rejection is not None:
            return plan("cancel", f"not sent yet, and cannot carry the new version "
                                  f"({rejection}): it will not go out")
        if outcome is Outcome.HOLD and d.approved is None:
            return plan("wait") if d.status == "pending" else plan("update")
        return plan("update")
    return plan("none", f"{d.status}: nothing to change")


def _edited(old: Post, change: EditInput, now: datetime, *, sent: bool,
            targets: Sequence[Target]) -> tuple[Post, list[str]]:
    if change.audiences is not None:
        asked = list(dict.fromkeys(a.strip() for a in change.audiences if a.strip()))
        added = [a for a in asked if a not in old.audiences]
        if added:
            raise InvalidInput(f"an edit never adds audiences ({', '.join(added)}): make a new "
                               "post for them", field="audiences")
        if set(asked) != set(old.audiences):
            raise InvalidInput("an edit keeps the post's audiences; to stop a copy, cancel or "
                               "delete it", field="audiences")
    if change.schedule_at is not None and sent:
        raise Conflict("the post has already gone out somewhere; its time can no longer move")
    cw = old.content_warning if change.content_warning is None else change.content_warning
    cleaned = clean(PostInput(
        text=old.text if change.text is None else change.text, audiences=old.audiences,
        tags=old.tags if change.tags is None else change.tags, content_warning=cw,
        language=old.language if change.language is None else change.language,
        schedule_at=change.schedule_at or old.schedule_at), now)
    unknown = set(change.alts) - {m.sha256 for m in old.media}
    if unknown:
        raise InvalidInput(f"the post has no image {sorted(unknown)[0][:12]}…: an edit changes "
                           "the alt text of its own images only", field="media")
    media = tuple(replace(m, alt=change.alts[m.sha256].strip()) if m.sha256 in change.alts
                  else m for m in old.media)
    if any(len(m.alt) > 1500 for m in media):
        raise InvalidInput("alt text is longer than 1500 characters", field="media")
    variants = _edited_variants(old.variants, change.variants, targets)
    post = replace(old, text=cleaned.text, tags=tuple(cleaned.tags),
                   content_warning=cleaned.content_warning, language=cleaned.language,
                   schedule_at=cleaned.schedule_at, media=media, variants=variants)
    before = {v.key: v.parts for v in old.variants}
    after = {v.key: v.parts for v in variants}
    changed = [name for name, a, b in (
        ("text", old.text, post.text), ("tags", old.tags, post.tags),
        ("content_warning", old.content_warning, post.content_warning),
        ("language", old.language, post.language),
        ("media_alt", [m.alt for m in old.media], [m.alt for m in post.media]),
        ("schedule_at", old.schedule_at, post.schedule_at)) if a != b]
    changed += [f"variants.{key}" for key in sorted(set(before) | set(after))
                if before.get(key) != after.get(key)]
    return post, changed


def _edited_variants(old: Sequence[Variant], change: Mapping[str, str | None] | None,
                     targets: Sequence[Target]) -> tuple[Variant, ...]:
    """The post's variants after the change: named ones added, replaced or (``None``/blank)
    removed, the others kept in their order. A new or changed variant must name a target or a
    network of the policy in force; removing one the policy no longer knows is allowed."""
    if not change:
        return tuple(old)
    out = {v.key: v for v in old}
    written: dict[str, str] = {}
    for raw_key, value in change.items():
        key = str(raw_key).strip()
        if value is None or not value.strip():
            if key not in out:
                raise InvalidInput(f"the post has no variant for {key!r} to remove "
                                   f"(it has: {', '.join(out) or 'none'})", field="variants")
            del out[key]
        else:
            written[raw_key] = value
    added = clean_variants(written)        # keys trimmed, text checked as on compose
    check_variant_keys(added, targets)
    for variant in added:
        out[variant.key] = variant
    return tuple(out.values())
