"""Tables of the owner's connections on the networks: one row per (account, identity) with
both directions of the follow, and one sync cursor per (account, direction); and
:func:`held_by`, the one test of whether an address-book identity is a relationship's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ColumnElement, Index, and_, or_
from sqlalchemy.orm import Mapped
from sqlmodel import Field, SQLModel

from hub.store.tables import UTCDateTime


class RelationshipRow(SQLModel, table=True):
    """How one remote identity relates to one of the owner's accounts.

    ``*_since`` is when the hub first saw that side of the follow (the networks do not say
    when a follow began); ``follower_lost`` when it last saw a follower gone. ``*_run`` is the
    sync run that last saw the row, so a finished run can tell who is no longer there."""

    __tablename__ = "contact_relationship"
    __table_args__ = (Index("ix_contact_relationship_identity", "kind", "address"),
                      Index("ix_contact_relationship_handle", "kind", "handle"))
    account: str = Field(primary_key=True, max_length=100)
    kind: str = Field(primary_key=True, max_length=16)
    address: str = Field(primary_key=True, max_length=300)
    remote_id: str = Field(max_length=200)
    display_name: str = Field(default="", max_length=200)
    # Bluesky: the handle the DID had at the last sync that saw it, lower-cased, and only if
    # it resolved back to that DID (NULL otherwise, and for other networks). The DID stays the
    # key; the handle lets a person filed by handle (``bluesky:ana.example``) match.
    handle: str | None = Field(default=None, max_length=253)
    follows_me: bool = False
    i_follow: bool = False
    follows_me_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    i_follow_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    follower_lost: datetime | None = Field(default=None, sa_type=UTCDateTime)
    following_lost: datetime | None = Field(default=None, sa_type=UTCDateTime)
    followers_run: str | None = Field(default=None, max_length=32)
    following_run: str | None = Field(default=None, max_length=32)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    # What the identity's profile links to (Mastodon profile fields: URLs and handles), for
    # the inbox's suggestions; ``links_verified`` the subset the instance verified (rel=me).
    links: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    links_verified: list[str] = Field(default_factory=list,
                                      sa_column=Column(JSON, nullable=False))


Text = Mapped[str] | ColumnElement[str] | str   # a column of an identity table, or a value


def held_by(kind: Text, value: Text) -> ColumnElement[bool]:
    """SQL: the identity (``kind``, ``value``) — columns of an identity table, or literals —
    is the one relationship rows were recorded for: the same address (the DID on Bluesky,
    ``@user@host`` on Mastodon), or on Bluesky the verified handle the DID had at its last
    sync. Every join of relationships to people goes through this, so a person filed by DID
    and one filed by handle match the same follows, and a handle that moved to another DID
    stops matching the old one at the next sync (identity values are stored normalised:
    Bluesky handles lower-cased, as ``handle`` is)."""
    r = RelationshipRow
    by_handle = and_(r.kind == "bluesky", r.handle == value)  # type: ignore[arg-type]
    return and_(r.kind == kind, or_(r.address == value, by_handle))  # type: ignore[arg-type]


class ContactSyncRow(SQLModel, table=True):
    """Where a sync of one direction of one account stands: ``run`` and ``cursor`` while it
    is under way (a crash resumes there), the figures of the last finished run otherwise."""

    __tablename__ = "contact_sync"
    account: str = Field(primary_key=True, max_length=100)
    direction: str = Field(primary_key=True, max_length=16)
    run: str | None = Field(default=None, max_length=32)
    cursor: str | None = Field(default=None, max_length=500)
    status: str = Field(default="idle", max_length=16)  # running | waiting | paused | done
    pages: int = 0
    seen: int = 0
    started: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retry_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    new: int = 0                  # relationships begun in the current / last run
    lost: int = 0                 # relationships ended by the last finished run
    error: str = Field(default="", max_length=500)   # why the last run could not read
    updated: datetime | None = Field(default=None, sa_type=UTCDateTime)   # last progress


class IgnoredIdentityRow(SQLModel, table=True):
    """An identity the owner told the inbox to leave alone: later syncs still record its
    relationships, but it is not offered for sorting again (until un-ignored)."""

    __tablename__ = "contact_ignored"
    kind: str = Field(primary_key=True, max_length=16)
    address: str = Field(primary_key=True, max_length=300)
    ignored: datetime = Field(sa_type=UTCDateTime)


class MergedPersonRow(SQLModel, table=True):
    """Who a person merged away was (``hub.services.contacts_sort.merge``): what was recorded
    at send time still names their id, and the audit's answers say whom it meant and whom
    they are part of now. Written once, in the merge's transaction; never changed."""

    __tablename__ = "merged_person"
    id: str = Field(primary_key=True, max_length=32)       # the id merged away
    name: str = Field(max_length=200)                      # their name at the merge
    into_id: str = Field(max_length=32, index=True)        # the person kept
    into_name: str = Field(max_length=200)                 # the kept one's name then
    merged: datetime = Field(sa_type=UTCDateTime)
