"""Tables of edits: every version of a post's content, and what each edit did to each copy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.store.tables import UTCDateTime


class PostVersionRow(SQLModel, table=True):
    """One version of a post's content (1 = as submitted). ``post`` holds the newest."""

    __tablename__ = "post_version"
    post_id: str = Field(foreign_key="post.id", primary_key=True, max_length=32)
    version: int = Field(primary_key=True)
    text: str = Field(sa_type=Text)
    content_warning: str | None = Field(default=None, max_length=500)
    language: str | None = Field(default=None, max_length=16)
    tags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    media: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    text_sha256: str = Field(max_length=64)
    # as post.variants: {"thread": [parts], "variants": {key: [parts]}}; None for one text
    variants: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    actor: str = Field(max_length=120)
    created: datetime = Field(sa_type=UTCDateTime)


class CopyEditRow(SQLModel, table=True):
    """What one edit does to one delivery's copy. ``action``: edit | replace | in-place |
    correct | unchanged | retract | update | cancel | hold | none. ``status``: pending |
    in_flight | held | done | failed. ``key`` is the new copy's key (replace, correct), chosen
    once when the edit is confirmed, so a repeated run never publishes twice."""

    __tablename__ = "copy_edit"
    __table_args__ = (UniqueConstraint("delivery_id", "version", name="uq_copy_edit_version"),)
    id: str = Field(primary_key=True, max_length=32)
    post_id: str = Field(foreign_key="post.id", index=True, max_length=32)
    delivery_id: str = Field(foreign_key="delivery.id", index=True, max_length=32)
    version: int
    target: str = Field(max_length=100)
    action: str = Field(max_length=16)
    status: str = Field(max_length=16)
    key: str | None = Field(default=None, unique=True, max_length=13)
    reason: str = Field(default="", sa_type=Text)
    rule_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    attempts: int = 0
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    new_receipt: dict[str, Any] | None = Field(default=None,
                                               sa_column=Column(JSON, nullable=True))
    created: datetime = Field(sa_type=UTCDateTime)
    updated: datetime = Field(sa_type=UTCDateTime)
