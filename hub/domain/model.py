"""Frozen value types shared by the policy engine, services and adapters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import NewType

PostId = NewType("PostId", str)
DeliveryId = NewType("DeliveryId", str)
PersonId = NewType("PersonId", str)


class Reach(StrEnum):
    """Who a network actually lets see a post, narrowest first (see ``rank``)."""

    RECIPIENTS = "recipients"          # exactly the listed people
    ROOM_MEMBERS = "room-members"      # members of a room; grows only if it shares history
    FOLLOWERS = "followers"            # followers; grows unless the account is locked
    WORLD_UNLISTED = "world-unlisted"  # anyone with the link, not in public timelines
    WORLD = "world"                    # anyone on the web

    @property
    def rank(self) -> int:
        return _REACH_ORDER.index(self)

    def wider_than(self, other: Reach) -> bool:
        return self.rank > other.rank

    @property
    def plain(self) -> str:
        """Human words for compose previews and audit pages."""
        return _REACH_WORDS[self]


_REACH_ORDER = [Reach.RECIPIENTS, Reach.ROOM_MEMBERS, Reach.FOLLOWERS, Reach.WORLD_UNLISTED,
                Reach.WORLD]
_REACH_WORDS = {
    Reach.RECIPIENTS: "exactly the listed people",
    Reach.ROOM_MEMBERS: "the room's members when it is sent (later ones too if the room shares "
                        "its history)",
    Reach.FOLLOWERS: "your followers (grows as people follow you)",
    Reach.WORLD_UNLISTED: "anyone with the link (not in public timelines)",
    Reach.WORLD: "anyone on the web",
}


class IdentityKind(StrEnum):
    EMAIL = "email"
    MASTODON = "mastodon"   # @user@instance
    BLUESKY = "bluesky"     # handle (ana.bsky.social) or did:plc:...
    MATRIX = "matrix"       # @user:server


@dataclass(frozen=True)
class Identity:
    kind: IdentityKind
    value: str


@dataclass(frozen=True)
class Person:
    id: PersonId
    name: str
    identities: tuple[Identity, ...] = ()

    def identity(self, kind: IdentityKind) -> Identity | None:
        return next((i for i in self.identities if i.kind == kind), None)


@dataclass(frozen=True)
class Relationship:
    """How a person relates to one of the owner's accounts, as contact sync last saw it."""

    account: str                        # "mastodon:main"
    follows_me: bool = False
    i_follow: bool = False
    follows_me_since: datetime | None = None
    i_follow_since: datetime | None = None


@dataclass(frozen=True)
class PeopleSnapshot:
    """People and lists as they are at one moment; what the engine and recipients see.

    ``relationships`` are the facts rule lists are evaluated over (``hub.policy.lists``);
    once they are, ``lists`` holds the rule lists' members too, ``rule_lists`` names them
    and ``rule_lists_of`` is the digest of the policy that defined them."""

    people: Mapping[PersonId, Person] = field(default_factory=dict)
    lists: Mapping[str, frozenset[PersonId]] = field(default_factory=dict)
    relationships: Mapping[PersonId, tuple[Relationship, ...]] = field(default_factory=dict)
    rule_lists: frozenset[str] = frozenset()
    rule_lists_of: str = ""

    def members(self, list_name: str) -> tuple[Person, ...]:
        known = self._members.get(list_name)
        if known is None:
            ids = self.lists.get(list_name, frozenset())
            known = self._members[list_name] = tuple(sorted(
                (self.people[i] for i in ids if i in self.people),
                key=lambda p: (p.name.casefold(), p.id)))
        return known

    @cached_property
    def _members(self) -> dict[str, tuple[Person, ...]]:
        # A snapshot is shared by every post until the address book changes: sort once.
        return {}

    @cached_property
    def person_by_identity(self) -> Mapping[str, PersonId]:
        """Each identity's value, case-folded, to the person it belongs to (built once)."""
        return {i.value.casefold(): p.id for p in self.people.values() for i in p.identities}

    @cached_property
    def by_identity(self) -> Mapping[str, frozenset[PersonId]]:
        """Identity keys (``hub.domain.reading.identity_keys``) to the people who have them:
        built once per snapshot, where the policy looks a post's mentions up."""
        from hub.domain.reading import identity_keys  # reading builds on this module

        index: dict[str, set[PersonId]] = {}
        for person in self.people.values():
            for identity in person.identities:
                for key in identity_keys(identity):
                    index.setdefault(key, set()).add(person.id)
        return {key: frozenset(ids) for key, ids in index.items()}


@dataclass(frozen=True)
class Media:
    """An attached file, stored by content hash; ``alt`` is its description."""

    sha256: str
    mime_type: str
    alt: str = ""
    size: int = 0


@dataclass(frozen=True)
class Post:
    """What the owner wrote, once, before any network shaped it."""

    id: PostId
    text: str
    audiences: tuple[str, ...]
    created: datetime
    tags: tuple[str, ...] = ()
    content_warning: str | None = None
    language: str | None = None
    schedule_at: datetime | None = None
    media: tuple[Media, ...] = ()
    author: str = "owner"   # "owner" or "token:<name>"
    thread: tuple[str, ...] = ()
    """The text written as a thread: its parts in order (``text`` is them joined by
    :data:`THREAD_JOIN`). Networks with reply chains post one part per post; the others get
    ``text``. Empty: the text is one piece (a network may still split it if its target allows)."""
    variants: tuple[Variant, ...] = ()
    """Texts written for some targets or networks instead of ``text`` (see :class:`Variant`)."""

    def variant_for(self, target: Target) -> Variant | None:
        """The variant ``target`` receives: its own (by target name), else its network's."""
        by_key = {v.key: v for v in self.variants}
        return by_key.get(target.name) or by_key.get(target.platform)

    def as_sent_to(self, target: Target) -> Post:
        """The post exactly as ``target`` receives it: its variant's text (or thread) in place
        of the text, and no other variant. The policy judges this, and the adapter renders this,
        so what was judged for a target is what that target gets."""
        if not self.variants:
            return self
        variant = self.variant_for(target)
        if variant is None:
            return replace(self, variants=())
        thread = variant.parts if len(variant.parts) > 1 else ()
        return replace(self, text=variant.text, thread=thread, variants=())

    @property
    def parts(self) -> tuple[str, ...]:
        """The text as the networks with threads receive it: the thread, or the one text."""
        return self.thread or (self.text,)


THREAD_JOIN = "\n\n"
"""Between the parts of a thread wherever they travel as one text (email, feeds, webhooks)."""


def join_thread(parts: tuple[str, ...] | list[str]) -> str:
    return THREAD_JOIN.join(parts)


@dataclass(frozen=True)
class Variant:
    """A text the owner wrote for some targets in place of the post's own (a shorter one for
    Bluesky, a longer one for Mastodon), or a thread for them.

    ``key`` is a target name (``bluesky-main``) or a platform (``bluesky``); a target's own
    variant wins over its platform's. ``parts`` holds one text, or the parts of a thread.
    """

    key: str
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return join_thread(self.parts)


@dataclass(frozen=True)
class Target:
    """One concrete way to reach people on one account, as a policy file defines it.

    ``options`` are the platform's own knobs (``visibility``, ``list``, ``mode``, ``split``...),
    already validated by the loader; ``reach`` is what the platform enforces for them.
    """

    name: str
    account: str            # "<platform>:<name>", e.g. "mastodon:work"
    reach: Reach
    options: Mapping[str, str | int | bool | list[str] | None] = field(default_factory=dict)

    @property
    def platform(self) -> str:
        return self.account.split(":", 1)[0]

    @property
    def list_name(self) -> str | None:
        value = self.options.get("list")
        return value if isinstance(value, str) else None


class Outcome(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    HOLD = "hold"


@dataclass(frozen=True)
class Decision:
    """The engine's verdict for one (post, target), with the rules that made it and why."""

    target: Target
    outcome: Outcome
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    audiences: tuple[str, ...] = ()   # the requested audiences that contain this target


@dataclass(frozen=True)
class Routing:
    """Every target the engine considered for a post, and the policy digest in force."""

    decisions: tuple[Decision, ...]
    policy_digest: str

    def allowed(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.outcome is not Outcome.DENY)
