"""Audit events: frozen, past tense, ids and hashes only (never post bodies or secrets)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base: ``refs`` become indexed columns; every other field goes in the payload."""

    name: ClassVar[str] = "Event"
    actor: str
    policy_digest: str | None = None
    post_id: str | None = None
    delivery_id: str | None = None
    subject: str | None = None   # person id, list name, token id, or audience-snapshot hash

    def properties(self) -> dict[str, Any]:
        skip = {"actor", "policy_digest", "post_id", "delivery_id", "subject"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in skip}


@dataclass(frozen=True, kw_only=True)
class PostSubmitted(Event):
    name: ClassVar[str] = "PostSubmitted"
    text_sha256: str
    audiences: list[str]
    tags: list[str]
    schedule_at: str | None = None
    media: list[str] = field(default_factory=list)
    thread_parts: int = 0                                     # 0: one text, not a thread
    variants: dict[str, str] = field(default_factory=dict)   # variant key -> its text's sha256


@dataclass(frozen=True, kw_only=True)
class RouteDecided(Event):
    """Every target considered, with outcome and deciding rules (phase submit or publish)."""

    name: ClassVar[str] = "RouteDecided"
    phase: str
    decisions: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class DeliveryApproved(Event):
    name: ClassVar[str] = "DeliveryApproved"
    target: str


@dataclass(frozen=True, kw_only=True)
class DeliverySucceeded(Event):
    """Who could see it: ``reach`` and, in ``subject``, the content-addressed audience snapshot."""

    name: ClassVar[str] = "DeliverySucceeded"
    target: str
    account: str
    reach: str
    remote_id: str
    url: str | None
    lower_bound: bool
    recipients: int
    attempts: int
    controls: dict[str, Any] = field(default_factory=dict)
    text_sha256: str = ""        # the text this copy carried: its variant's, else the post's
    variant: str | None = None   # the variant's key, when it carried one


@dataclass(frozen=True, kw_only=True)
class AudienceGrew(Event):
    """People who newly could see published deliveries (they followed the account later), from
    this event's time on. ``subject`` is the snapshot of the new people; ``deliveries`` lists
    each delivery (delivery_id, post_id, target, reach, url) they can now see."""

    name: ClassVar[str] = "AudienceGrew"
    account: str
    added: int
    deliveries: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class DeliveryFailed(Event):
    name: ClassVar[str] = "DeliveryFailed"
    target: str
    account: str
    reason: str
    attempts: int


@dataclass(frozen=True, kw_only=True)
class DeliveryDenied(Event):
    """The policy stopped a delivery at publish time (a rule added since submission)."""

    name: ClassVar[str] = "DeliveryDenied"
    target: str
    rule_ids: list[str]
    reasons: list[str]


@dataclass(frozen=True, kw_only=True)
class DeliveryRejected(Event):
    """The target cannot carry the content (too long...): nothing was sent."""

    name: ClassVar[str] = "DeliveryRejected"
    target: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class DeliveryDeleted(Event):
    name: ClassVar[str] = "DeliveryDeleted"
    target: str
    remote_id: str | None


@dataclass(frozen=True, kw_only=True)
class PolicyLoaded(Event):
    name: ClassVar[str] = "PolicyLoaded"
    files: list[str]


@dataclass(frozen=True, kw_only=True)
class PolicyRejected(Event):
    name: ClassVar[str] = "PolicyRejected"
    file: str
    line: int | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class RuleListEdited(Event):
    """A rule list defined, changed or removed from the Lists page or ``hub lists define``
    (``subject``: the list; ``policy_digest``: the policy it loaded, whose own load is a
    ``PolicyLoaded``); ``file`` is the hub-managed policy file it wrote."""

    name: ClassVar[str] = "RuleListEdited"
    change: str              # defined | changed | removed
    file: str
    rule: str = ""
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class PersonChanged(Event):
    name: ClassVar[str] = "PersonChanged"
    change: str          # added | updated | removed | identity-added | identity-removed
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ListMembershipChanged(Event):
    name: ClassVar[str] = "ListMembershipChanged"
    list_name: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TokenCreated(Event):
    name: ClassVar[str] = "TokenCreated"
    token_name: str
    scopes: list[str]
    audiences: list[str] | None


@dataclass(frozen=True, kw_only=True)
class TokenRevoked(Event):
    name: ClassVar[str] = "TokenRevoked"
    token_name: str


@dataclass(frozen=True, kw_only=True)
class OwnerFeedLinkReplaced(Event):
    """The owner's notice feed got a new secret link; the old one answers 404 from now on."""

    name: ClassVar[str] = "OwnerFeedLinkReplaced"
    generation: int


@dataclass(frozen=True, kw_only=True)
class AccountConnected(Event):
    name: ClassVar[str] = "AccountConnected"
    platform: str


@dataclass(frozen=True, kw_only=True)
class AccountRemoved(Event):
    """The owner removed an account: its stored credentials are gone."""

    name: ClassVar[str] = "AccountRemoved"
    platform: str


@dataclass(frozen=True, kw_only=True)
class AccountCredentialsRejected(Event):
    name: ClassVar[str] = "AccountCredentialsRejected"
    reason: str


@dataclass(frozen=True, kw_only=True)
class FeedFetched(Event):
    """A member's reader fetched a private feed; ``post_ids`` is what it was shown."""

    name: ClassVar[str] = "FeedFetched"
    feed: str
    post_ids: list[str]


@dataclass(frozen=True, kw_only=True)
class FeedAccessRevoked(Event):
    name: ClassVar[str] = "FeedAccessRevoked"
    feed: str


@dataclass(frozen=True, kw_only=True)
class PostDeleted(Event):
    name: ClassVar[str] = "PostDeleted"


@dataclass(frozen=True, kw_only=True)
class OwnerLoggedIn(Event):
    name: ClassVar[str] = "OwnerLoggedIn"
    outcome: str   # success | failure


@dataclass(frozen=True, kw_only=True)
class OwnerPasswordChanged(Event):
    """The owner's web password was set or changed (every web session ended)."""

    name: ClassVar[str] = "OwnerPasswordChanged"


@dataclass(frozen=True, kw_only=True)
class SecretKeyInstalled(Event):
    """A secret key came into use (``subject``: its fingerprint, a MAC, not the key): how many
    stored credentials were re-encrypted under it, and, after a key change, which feed links
    stopped working and must be handed out again."""

    name: ClassVar[str] = "SecretKeyInstalled"
    rotated: bool
    reencrypted: int
    unreadable: list[str] = field(default_factory=list)
    links_reissued: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PeopleMerged(Event):
    """The owner merged person ``merged`` into ``subject`` (contact sorting): its identities,
    lists and note moved over and it was removed. Recorded who-could-see rows keep naming
    ``merged``: a merge never rewrites what was seen at send time."""

    name: ClassVar[str] = "PeopleMerged"
    merged: str
    identities: int
    lists: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PersonSplit(Event):
    """The owner moved some identities (their kinds listed) of ``subject`` to a new person
    ``new_person``, who joined none of ``subject``'s lists."""

    name: ClassVar[str] = "PersonSplit"
    new_person: str
    kinds: list[str]


@dataclass(frozen=True, kw_only=True)
class IdentityIgnored(Event):
    """The owner told the people-to-sort inbox to leave an identity alone (``ignored``) or
    to offer it again; ``subject`` is the SHA-256 of ``kind:address``, not the address."""

    name: ClassVar[str] = "IdentityIgnored"
    kind: str
    ignored: bool
