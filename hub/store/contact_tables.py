"""Tables of the owner's connections on the networks: one row per (account, identity) with
both directions of the follow, and one sync cursor per (account, direction); and
:func:`held`, the one way an address-book identity meets the relationships it holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Index,
    Select,
    Subquery,
    and_,
    select,
    union_all,
)
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


_REL = RelationshipRow.__table__  # type: ignore[attr-defined]
Text = Mapped[str] | ColumnElement[str] | str   # a column of an identity table, or a value


def held(name: str = "held") -> Subquery:
    """Which identity values hold which relationship rows: every ``contact_relationship``
    row (all its columns) under ``value`` = its address (the DID on Bluesky, ``@user@host``
    on Mastodon) and, on Bluesky, once more under the verified handle the DID had at its
    last sync. Every join of relationships to people goes through this one table expression,
    by equality on ``(kind, value)`` (:func:`holds`), so a person filed by DID and one filed
    by handle match the same follows, and a handle that moved to another DID stops matching
    the old one at the next sync (identity values are stored normalised: Bluesky handles
    lower-cased, as ``handle`` is). Two arms rather than ``address = v OR handle = v``: that
    OR defeats hash joins and, without statistics, both databases' index choice."""
    r = _REL.c
    return union_all(select(_REL, r.address.label("value")),
                     select(_REL, r.handle.label("value")).where(r.handle.is_not(None))
                     ).subquery(name)


def holds(h: Subquery, kind: Text, value: Text) -> ColumnElement[bool]:
    """SQL: row ``h`` of :func:`held` is held by identity (``kind``, ``value``) — columns of an
    identity table, or literals."""
    return and_(h.c.kind == kind, h.c.value == value)


def also_held_by(kind: str, value: str) -> Select[tuple[str, str]]:
    """SQL: every (kind, value) that holds a relationship row identity (``kind``, ``value``)
    holds — for a Bluesky DID also its handle, for a handle the DID — as a ``(kind, value)
    IN (...)`` subquery."""
    mine, theirs = held("mine"), held("theirs")
    same = and_(theirs.c.account == mine.c.account, theirs.c.kind == mine.c.kind,
                theirs.c.address == mine.c.address)
    return (select(theirs.c.kind, theirs.c.value).select_from(mine).join(theirs, same)
            .where(holds(mine, kind, value)))


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
