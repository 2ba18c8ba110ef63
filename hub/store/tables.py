"""SQLModel tables. Only ``hub.store`` touches these; the rest of the hub sees domain values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json(**kw: Any) -> Any:
    return Field(sa_column=Column(JSON, nullable=False), **kw)


class PersonRow(SQLModel, table=True):
    __tablename__ = "person"
    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(index=True, max_length=200)
    note: str = Field(default="", sa_type=Text)
    created: datetime = _ts()


class IdentityRow(SQLModel, table=True):
    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identity_kind_value"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="person.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    value: str = Field(max_length=320)


class ListRow(SQLModel, table=True):
    __tablename__ = "people_list"
    name: str = Field(primary_key=True, max_length=64)
    description: str = Field(default="", max_length=500)
    created: datetime = _ts()


class ListMemberRow(SQLModel, table=True):
    __tablename__ = "list_member"
    list_name: str = Field(foreign_key="people_list.name", primary_key=True, ondelete="CASCADE")
    person_id: str = Field(foreign_key="person.id", primary_key=True, ondelete="CASCADE")
    added: datetime = _ts()


class TokenRow(SQLModel, table=True):
    __tablename__ = "api_token"
    id: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, max_length=64)
    scopes: list[str] = _json()
    audiences: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created: datetime = _ts()
    last_used: datetime | None = _ts(default=None)
    revoked: datetime | None = _ts(default=None)


class AccountRow(SQLModel, table=True):
    __tablename__ = "account"
    name: str = Field(primary_key=True, max_length=100)   # "<platform>:<name>"
    platform: str = Field(max_length=32)
    settings: dict[str, Any] = _json(default_factory=dict)
    secret_enc: str | None = Field(default=None, sa_type=Text)   # Fernet token
    status: str = Field(default="ok", max_length=16)             # ok | rejected
    status_reason: str = Field(default="", max_length=1000)
    updated: datetime = _ts()


class PostRow(SQLModel, table=True):
    __tablename__ = "post"
    id: str = Field(primary_key=True, max_length=32)
    text: str = Field(sa_type=Text)
    audiences: list[str] = _json()
    tags: list[str] = _json()
    content_warning: str | None = Field(default=None, max_length=500)
    language: str | None = Field(default=None, max_length=16)
    schedule_at: datetime | None = _ts(default=None)
    media: list[dict[str, Any]] = _json(default_factory=list)
    author: str = Field(max_length=120)
    created: datetime = _ts(index=True)
    policy_digest: str = Field(max_length=64)
    deleted: datetime | None = _ts(default=None)
    # {"thread": [parts], "variants": {key: [parts]}}; None for a post of one text
    variants: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class DecisionRow(SQLModel, table=True):
    __tablename__ = "decision"
    id: int | None = Field(default=None, primary_key=True)
    post_id: str = Field(foreign_key="post.id", index=True)
    target: str = Field(max_length=100)
    account: str = Field(max_length=100)
    reach: str = Field(max_length=20)
    outcome: str = Field(max_length=8)
    rule_ids: list[str] = _json()
    reasons: list[str] = _json()
    audiences: list[str] = _json()
    policy_digest: str = Field(max_length=64)
    phase: str = Field(default="submit", max_length=16)   # submit | publish
    created: datetime = _ts()


class DeliveryRow(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (Index("ix_delivery_due", "status", "due_at"),)
    id: str = Field(primary_key=True, max_length=32)
    post_id: str = Field(foreign_key="post.id", index=True)
    target: str = Field(max_length=100)
    account: str = Field(max_length=100)
    platform: str = Field(max_length=32)
    reach: str = Field(max_length=20)
    key: str = Field(unique=True, max_length=13)          # TID: rkey / Idempotency-Key / Msg-ID
    status: str = Field(max_length=16)
    due_at: datetime = _ts()
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts(default=None)
    last_error: str = Field(default="", sa_type=Text)
    remote_id: str | None = Field(default=None, max_length=500)
    remote_url: str | None = Field(default=None, max_length=1000)
    receipt: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    approved: datetime | None = _ts(default=None)
    approved_by: str | None = Field(default=None, max_length=120)
    created: datetime = _ts()
    updated: datetime = _ts()
    finished: datetime | None = _ts(default=None)


class DeliveryStepRow(SQLModel, table=True):
    __tablename__ = "delivery_step"
    delivery_id: str = Field(foreign_key="delivery.id", primary_key=True)
    name: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_type=Text)
    created: datetime = _ts()


class AuditRow(SQLModel, table=True):
    """Append-only and hash-chained: ``hash = sha256(prev_hash || canonical(event))``.
    Database triggers refuse UPDATE and DELETE (see the first migration)."""

    __tablename__ = "audit_event"
    seq: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, index=True)
    created: datetime = _ts(index=True)
    actor: str = Field(max_length=120)
    post_id: str | None = Field(default=None, max_length=32, index=True)
    delivery_id: str | None = Field(default=None, max_length=32, index=True)
    subject: str | None = Field(default=None, max_length=200, index=True)  # person, list, token
    policy_digest: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = _json(default_factory=dict)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class AuditQueueRow(SQLModel, table=True):
    """An event committed with the change it records and not yet sequenced: the sequencer
    (``hub.audit.sequencer``) gives queued events their ``seq``, chain hash and Merkle leaf in
    one batch and deletes them from here in the same transaction. Oldest ``id`` first."""

    __tablename__ = "audit_queue"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40)
    created: datetime = _ts()
    actor: str = Field(max_length=120)
    post_id: str | None = Field(default=None, max_length=32, index=True)
    delivery_id: str | None = Field(default=None, max_length=32)
    subject: str | None = Field(default=None, max_length=200)
    policy_digest: str | None = Field(default=None, max_length=64)
    payload: dict[str, Any] = _json(default_factory=dict)


class SnapshotRow(SQLModel, table=True):
    """Who could see a delivery, content-addressed: identical audiences share one row."""

    __tablename__ = "audience_snapshot"
    hash: str = Field(primary_key=True, max_length=64)
    reach: str = Field(max_length=20)
    lower_bound: bool = False
    payload: dict[str, Any] = _json()
    created: datetime = _ts()


class SnapshotMemberRow(SQLModel, table=True):
    __tablename__ = "snapshot_member"
    snapshot_hash: str = Field(foreign_key="audience_snapshot.hash", primary_key=True)
    member: str = Field(primary_key=True, max_length=340)   # person id, or "identity:<value>"
    person_id: str | None = Field(default=None, max_length=32, index=True)
    identity: str = Field(default="", max_length=320, index=True)
    via_list: str | None = Field(default=None, max_length=64)


class FeedMemberRow(SQLModel, table=True):
    """A person's personal token generation for one feed; bump to revoke old URLs."""

    __tablename__ = "feed_member"
    feed: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(foreign_key="person.id", primary_key=True, ondelete="CASCADE")
    generation: int = 1
    revoked: datetime | None = _ts(default=None)
    scheme: int = 2   # 1: minted with the raw key before subkeys (hub.crypto); 2: subkey


class MediaRow(SQLModel, table=True):
    __tablename__ = "media"
    sha256: str = Field(primary_key=True, max_length=64)
    mime_type: str = Field(max_length=100)
    size: int
    created: datetime = _ts()


class OwnerRow(SQLModel, table=True):
    """The one owner's web login (password hashed with argon2id)."""

    __tablename__ = "owner"
    id: int = Field(default=1, primary_key=True)
    password_hash: str = Field(max_length=200)
    updated: datetime = _ts()
    feed_generation: int = 0   # the owner feed's link: a new one makes the old one dead


class OwnerSessionRow(SQLModel, table=True):
    """A browser logged in as the owner: its cookie holds a random token, this row only the
    token's SHA-256. Logging out or changing the password deletes rows."""

    __tablename__ = "owner_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    created: datetime = _ts()
    last_seen: datetime = _ts()
    expires: datetime = _ts(index=True)


class LoginThrottleRow(SQLModel, table=True):
    """Recent failed owner logins per client address ("*" counts every client)."""

    __tablename__ = "login_throttle"
    client: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    last_failure: datetime | None = _ts(default=None)
    locked_until: datetime | None = _ts(default=None)


class VisibilityRow(SQLModel, table=True):
    """Who could see one published delivery, frozen at send time: one row per person or bare
    identity (``member`` = person id or ``identity:<value>``), or one row ``member="*"`` for a
    world-readable delivery. Written with its DeliverySucceeded event; triggers refuse UPDATE and
    DELETE, so a later list change never rewrites what was recorded."""

    __tablename__ = "audit_visibility"
    __table_args__ = (Index("ix_audit_visibility_member", "member", "created", "id"),
                      Index("ix_audit_visibility_delivery", "delivery_id", "id"))
    id: int | None = Field(default=None, primary_key=True)
    event_seq: int = Field(index=True)
    post_id: str = Field(max_length=32, index=True)
    delivery_id: str = Field(max_length=32)
    created: datetime = _ts()
    account: str = Field(max_length=100)
    target: str = Field(max_length=100)
    reach: str = Field(max_length=20)
    lower_bound: bool = False
    url: str | None = Field(default=None, max_length=1000)
    member: str = Field(max_length=340)
    person_id: str | None = Field(default=None, max_length=32)
    identity: str = Field(default="", max_length=320)
    via_list: str | None = Field(default=None, max_length=64)
    public_rank: int | None = Field(default=None, index=True)
    """1, 2, 3... over world-readable rows: the newest rank is the count of public deliveries."""
    grew: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Written by an AudienceGrew event: this member could see the delivery only since
    ``created`` (they followed the account after it was sent)."""


class FetchRow(SQLModel, table=True):
    """One post shown to one member by one private-feed fetch (from its FeedFetched event)."""

    __tablename__ = "audit_fetch"
    __table_args__ = (Index("ix_audit_fetch_post", "post_id", "created", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    event_seq: int = Field(index=True)
    post_id: str = Field(max_length=32)
    person_id: str | None = Field(default=None, max_length=200)
    feed: str = Field(default="", max_length=64)
    created: datetime = _ts()


class TreeNodeRow(SQLModel, table=True):
    """One complete, aligned subtree of the audit Merkle tree (RFC 9162 hashing): ``level`` 0
    rows are the leaves, one per event (``seq``), in log order from ``idx`` 0."""

    __tablename__ = "audit_tree"
    level: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    hash: str = Field(max_length=64)
    seq: int | None = Field(default=None, unique=True)


class CheckpointRow(SQLModel, table=True):
    """A signed tree head: the C2SP tlog-checkpoint note for ``tree_size`` events."""

    __tablename__ = "audit_checkpoint"
    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(index=True)
    root: str = Field(max_length=64)
    created: datetime = _ts()
    note: str = Field(sa_type=Text)


class VerificationRow(SQLModel, table=True):
    """The outcome of one full ``verify`` run, so pages show it instead of re-verifying."""

    __tablename__ = "audit_verification"
    id: int | None = Field(default=None, primary_key=True)
    started: datetime = _ts()
    finished: datetime = _ts()
    ok: bool
    events: int
    tree_size: int
    root: str = Field(max_length=64)
    problem: str | None = Field(default=None, sa_type=Text)
    anchors: int = 0


class AnchorRow(SQLModel, table=True):
    """Where a checkpoint was published off the machine (a directory, an email, a post)."""

    __tablename__ = "audit_anchor"
    id: int | None = Field(default=None, primary_key=True)
    checkpoint_id: int
    tree_size: int
    sink: str = Field(max_length=100)
    location: str = Field(sa_type=Text)
    created: datetime = _ts()


class PeopleVersionRow(SQLModel, table=True):
    """One row whose ``n`` database triggers bump on every change to people, identities,
    lists and memberships (``hub.store.people``: readers know when their snapshot is stale)."""

    __tablename__ = "people_version"
    id: int = Field(primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)
    tx: int | None = Field(default=None, sa_type=BigInteger)   # PostgreSQL: last bumping tx
