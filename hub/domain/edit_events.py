"""Audit events of edits: the post's new version, then what happened to each copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hub.domain.events import Event


@dataclass(frozen=True, kw_only=True)
class PostEdited(Event):
    """The owner (or a token) changed a post: digests of the old and new text, never bodies."""

    name: ClassVar[str] = "PostEdited"
    version: int
    old_text_sha256: str
    new_text_sha256: str
    changed: list[str]                       # fields that changed: text, tags, variants.<key>...
    schedule_at: str | None = None
    variant_sha256: dict[str, str] = field(default_factory=dict)   # the new version's variants


@dataclass(frozen=True, kw_only=True)
class CopyEdited(Event):
    """A copy now shows the new version, in place (Mastodon's edit, a feed entry)."""

    name: ClassVar[str] = "CopyEdited"
    target: str
    version: int
    remote_id: str | None
    way: str                                 # native | in-place
    text_sha256: str = ""        # the text this copy now carries: its variant's, else the post's
    variant: str | None = None   # the variant's key, when it carries one


@dataclass(frozen=True, kw_only=True)
class CopyReplaced(Event):
    """A network without edits: the old copy was deleted and the new version published under a
    new key (Bluesky post, threadgate and postgate)."""

    name: ClassVar[str] = "CopyReplaced"
    target: str
    version: int
    old_remote_id: str | None
    new_remote_id: str
    url: str | None
    key: str
    text_sha256: str = ""        # the text this copy now carries: its variant's, else the post's
    variant: str | None = None   # the variant's key, when it carries one


@dataclass(frozen=True, kw_only=True)
class CopyCorrected(Event):
    """The copy cannot be changed (sent email); a correction went to the same recipients."""

    name: ClassVar[str] = "CopyCorrected"
    target: str
    version: int
    remote_id: str
    recipients: int
    key: str
    text_sha256: str = ""        # the text this copy now carries: its variant's, else the post's
    variant: str | None = None   # the variant's key, when it carries one


@dataclass(frozen=True, kw_only=True)
class CopyRetracted(Event):
    """The policy denies the edited post on this target: its copy was deleted (``removed``),
    or could not be and is still live (``reason``)."""

    name: ClassVar[str] = "CopyRetracted"
    target: str
    version: int
    removed: bool
    remote_id: str | None
    rule_ids: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CopyEditHeld(Event):
    """The edited post needs approval on this target: the old copy stays as it was meanwhile."""

    name: ClassVar[str] = "CopyEditHeld"
    target: str
    version: int
    rule_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class CopyNotChanged(Event):
    """The copy keeps its old version: the network cannot change it, or the change failed
    for good (``reason``)."""

    name: ClassVar[str] = "CopyNotChanged"
    target: str
    version: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class DeliveryCancelled(Event):
    """The owner cancelled one target of a post before it went out."""

    name: ClassVar[str] = "DeliveryCancelled"
    target: str


@dataclass(frozen=True, kw_only=True)
class PostUndeleted(Event):
    """A deleted post is published again (Micropub ``action=undelete``): routed again by the
    policy in force on its own audiences; ``resent`` are the targets that get a new copy,
    ``still_live`` those whose copy was never removed (nothing is sent there again)."""

    name: ClassVar[str] = "PostUndeleted"
    resent: list[str]
    still_live: list[str]
