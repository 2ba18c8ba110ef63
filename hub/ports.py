"""The one small interface between the hub and each network (``adapters/`` implement it).

A platform contributes two things:

* a :class:`TargetSpec` — the options a policy file may set on its targets (validated strictly
  by the policy loader) and the reach those options really give. Pure; no credentials.
* a :class:`Publisher` — built by ``hub.bootstrap`` for one connected account with its client and
  decrypted credentials. ``prepare`` is pure (render, count, refuse); ``publish`` talks to the
  network and must be safe to call again with the same ``key`` (jobs run at least once).

Adapters raise only :mod:`hub.errors` (``ContentRejected`` from ``prepare``;
``TransientDeliveryError`` / ``PermanentDeliveryError`` / ``CredentialsRejected`` from ``publish``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel

from hub.domain.model import IdentityKind, PeopleSnapshot, Post, Reach, Target

JSON: TypeAlias = str | int | float | bool | None | list["JSON"] | dict[str, "JSON"]


@dataclass(frozen=True)
class Recipient:
    """One person a restricted target sends to, by the identity used on that platform."""

    person_id: str
    name: str
    address: str          # email address, @user@instance, DID, or the person id for feeds
    via_list: str | None = None


@dataclass(frozen=True)
class Draft:
    """A post rendered for one target, ready to publish. JSON-serialisable ``payload``."""

    platform: str
    account: str
    target: str
    parts: tuple[str, ...]                      # text as sent (several = thread / split)
    recipients: tuple[Recipient, ...] = ()
    payload: Mapping[str, JSON] = field(default_factory=dict)
    counter: str = ""                           # e.g. "212/300 graphemes", for previews
    notes: tuple[str, ...] = ()                 # warnings for the owner (e.g. people skipped)


@dataclass(frozen=True)
class Receipt:
    """What the network says it stored.

    ``details["audience"]``, when present, refines the audit's who-could-see beyond the
    draft's recipients: ``{"kind": "followers", "lower_bound": true, "locked": false,
    "identities": ["@ana@example.social", ...]}`` (followers snapshot), or the mentions the
    platform actually resolved for a direct post."""

    remote_id: str
    url: str | None = None
    details: Mapping[str, JSON] = field(default_factory=dict)


class Steps(Protocol):
    """Durable checkpoints for one delivery, committed as soon as recorded.

    Adapters use them to resume multi-step publishes (thread parts, one email per recipient)
    without repeating what already reached the network.
    """

    async def get(self, name: str) -> str | None: ...

    async def record(self, name: str, value: str) -> None: ...


class EditWay(StrEnum):
    """How a network takes the edit of a copy it already has (a target spec declares it)."""

    NATIVE = "native"        # ``Editor.edit`` changes the copy in place; its id stays
    REPLACE = "replace"      # no edit: delete the copy, publish the new version with a new key
    IN_PLACE = "in-place"    # the hub serves the copy itself (feeds): it shows the new version
    CORRECT = "correct"      # cannot be changed; a correction goes out (``Corrector``)
    NONE = "none"            # cannot be changed, and nothing is sent (the copy stays as it was)
@dataclass(frozen=True)
class PlatformFacts:
    """What the hub tells the owner about a network, declared by its adapter, so the core
    names no platform (previews, deletion reports, the audit pages). How an edit reaches a
    copy is the spec's ``edit_way``."""

    display_name: str                       # "Mastodon", "email", "private feed"
    reaches_people: str = ""                # how a restricted target reaches each person
    identity: IdentityKind | None = None    # the identity a recipient needs (None: any member)
    recall: str = ""                        # why deleting cannot take a copy back ("": it can)
    mentions_can_read: bool = False         # people mentioned can read a restricted post

    @property
    def can_recall(self) -> bool:
        return not self.recall


class TargetSpec(Protocol):
    """What a policy file may say about targets on one platform, what reach that gives, and
    what the owner should be told about the network (``facts``)."""

    platform: ClassVar[str]
    options: ClassVar[type[BaseModel]]      # extra="forbid"; the loader validates with it
    needs_connection: ClassVar[bool]        # False for platforms the hub itself serves (feeds)
    facts: ClassVar[PlatformFacts]

    @classmethod
    def reach(cls, options: BaseModel) -> Reach: ...

    @classmethod
    def edit_way(cls, options: BaseModel) -> EditWay:
        """How an edit of a published post reaches a copy on a target with these options."""
        ...


class Publisher(Protocol):
    """Publishes to one connected account."""

    platform: ClassVar[str]

    def prepare(self, post: Post, target: Target, people: PeopleSnapshot) -> Draft:
        """Render ``post`` for ``target``; raise ``ContentRejected`` if it cannot be carried.

        Restricted targets pick their recipients here from ``target.list_name`` and the
        identity kind the platform uses; members without one go in ``Draft.notes`` (never
        dropped silently)."""
        ...

    async def publish(self, draft: Draft, *, key: str, steps: Steps) -> Receipt:
        """Put ``draft`` on the network exactly once per ``key``, resuming from ``steps``."""
        ...

    async def delete(self, receipt: Receipt, *, steps: Steps) -> None:
        """Remove what ``publish`` created; safe to repeat."""
        ...

    async def aclose(self) -> None:
        """Close the clients this publisher opened; the composition root calls it once, at
        shutdown or when the account is reconnected."""
        ...


@runtime_checkable
class Editor(Protocol):
    """A publisher whose network edits a copy in place (``EditWay.NATIVE``)."""

    async def edit(self, receipt: Receipt, draft: Draft, *, steps: Steps) -> Receipt:
        """Make the copy of ``receipt`` show ``draft``; safe to repeat (checkpoints in
        ``steps``). ``PermanentDeliveryError`` when the network cannot take this change."""
        ...


@dataclass(frozen=True)
class Size:
    """How long one text counts on a network, as the network itself counts it."""

    used: int
    limit: int
    unit: str          # "graphemes", "characters"
    fits: bool

    @property
    def words(self) -> str:
        return f"{self.used}/{self.limit} {self.unit}"


@runtime_checkable
class Measurer(Protocol):
    """A publisher that can count one text as its network does: the compose form's per-part
    counters (a thread's parts are counted one by one, each as one post)."""

    def measure(self, text: str, *, content_warning: str = "", first: bool = True) -> Size:
        """``text`` as one post; ``first``: the post that carries the content warning."""
        ...


@runtime_checkable
class Corrector(Protocol):
    """A publisher that cannot change what it sent but can send a correction
    (``EditWay.CORRECT``): the correction is then published with its own key."""

    def correction(self, draft: Draft, *, original: Receipt) -> Draft:
        """The correction message for the new version ``draft`` of what ``original`` sent."""
        ...


class CredentialStore(Protocol):
    """Lets an adapter persist refreshed credentials (encrypted by the hub)."""

    async def save(self, account: str, secret: str) -> None: ...


@runtime_checkable
class SharedCredentials(CredentialStore, Protocol):
    """A ``CredentialStore`` shared by several worker processes (``hub.store.credentials``):
    an adapter whose session must be refreshed by one process at a time uses it."""

    async def load(self, account: str) -> str | None:
        """The latest saved secret of ``account``."""
        ...

    def refresh_lock(self, account: str) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time while it refreshes ``account``'s session."""
        ...


@dataclass(frozen=True)
class Connection:
    """A connected account as bootstrap hands it to an adapter's factory."""

    account: str                            # "<platform>:<name>"
    settings: Mapping[str, JSON]            # non-secret: instance URL, SMTP host, handle...
    secret: str | None = field(default=None, repr=False)   # decrypted; never logged


class RemoteFiles(Protocol):
    """Fetching a file at a URL a client sent (Micropub's ``photo``), safely: public
    addresses only, pinned, redirects checked, a byte cap (``adapters.bluesky.linkcard``)."""

    async def fetch(self, url: str, *, limit: int, kind: str) -> bytes:
        """The body, if its content type starts with ``kind``; ``InvalidInput`` with the
        reason otherwise (a private address, a redirect to one, too large, not found...)."""
        ...


MediaLoader: TypeAlias = Callable[[str], bytes]
"""sha256 -> the media file's bytes (the hub's content-addressed media store)."""


class PublisherFactory(Protocol):
    """``adapters.<platform>.build(connection, credentials, media_loader=...)`` -> Publisher."""

    def __call__(self, connection: Connection, credentials: CredentialStore, *,
                 media_loader: MediaLoader | None = None) -> Publisher: ...



class Connector(Protocol):
    """``adapters.<platform>.connect(settings, secret)``: check credentials with the network once
    (``hub accounts add``) and return the settings and secret to store (e.g. a session string,
    instance limits). Raises ``CredentialsRejected`` or ``InvalidInput`` with a readable reason."""

    async def __call__(self, settings: Mapping[str, JSON], secret: str
                       ) -> tuple[dict[str, JSON], str]: ...


# -- contacts: who follows a connected account and whom it follows ------------------------------

class ContactDirection(StrEnum):
    """Which side of a follow the owner's account is on."""

    FOLLOWERS = "followers"      # they follow me
    FOLLOWING = "following"      # I follow them


@dataclass(frozen=True)
class Contact:
    """One account seen on a network, by the identity the address book would store."""

    kind: IdentityKind
    address: str                 # @user@instance, or the DID on Bluesky
    remote_id: str               # the network's stable id (Mastodon account id, DID)
    display_name: str = ""
    handle: str = ""             # Bluesky handle, when known
    links: tuple[str, ...] = ()  # what the profile links to (Mastodon profile fields)
    verified: tuple[str, ...] = ()   # the links the network verified (rel=me)


@dataclass(frozen=True)
class ContactPage:
    """One page of a direction's list; ``cursor`` resumes after it (None: it was the last)."""

    contacts: tuple[Contact, ...]
    cursor: str | None


class ContactReader(Protocol):
    """Reads a connected account's followers / follows a page at a time (``hub contacts sync``).

    ``page`` must be safe to call again with the same cursor (a resumed sync repeats the page
    it was reading). Raises ``TransientDeliveryError`` (with ``retry_after`` when rate-limited)
    or ``PermanentDeliveryError`` / ``CredentialsRejected``."""

    platform: ClassVar[str]

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage: ...

    async def aclose(self) -> None: ...


class ContactReaderFactory(Protocol):
    """``adapters.<platform>.contacts.build(connection, credentials)`` -> ContactReader."""

    def __call__(self, connection: Connection, credentials: CredentialStore) -> ContactReader: ...
