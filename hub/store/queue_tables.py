"""Tables of the queue: drafts saved before they are sent, and the owner's own notices (what
waits for approval), shown in the owner-only feed when no email account is connected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from hub.store.tables import UTCDateTime


class SavedDraftRow(SQLModel, table=True):
    """A post not sent yet, exactly as typed: never routed, never delivered. Sending it makes
    a post (checked by the policy in force then) and removes the draft."""

    __tablename__ = "saved_draft"
    id: str = Field(primary_key=True, max_length=32)
    text: str = Field(sa_type=Text)
    audiences: list[str] = Field(sa_column=Column(JSON, nullable=False))
    tags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    content_warning: str = Field(default="", max_length=500)
    language: str = Field(default="", max_length=16)
    schedule_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    time_zone: str = Field(default="", max_length=64)   # the zone it was typed in
    media: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    # {"thread": [parts], "variants": {key: [parts]}} as for a post; None for one text
    variants: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    author: str = Field(max_length=120, index=True)
    # the token that saved it (None: the owner): drafts follow the token, not its name
    token_id: str | None = Field(default=None, max_length=16)
    created: datetime = Field(sa_type=UTCDateTime)
    updated: datetime = Field(sa_type=UTCDateTime, index=True)


class OwnerNoticeRow(SQLModel, table=True):
    """Something for the owner's attention (a post waiting for approval). ``channel`` says how
    it reached the owner: ``email`` (sent to the owner's own address) or ``feed`` (the owner-only
    feed). The post's text is only ever shown to the owner."""

    __tablename__ = "owner_notice"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    post_id: str | None = Field(default=None, max_length=32, index=True)
    title: str = Field(max_length=300)
    channel: str = Field(max_length=16)
    detail: str = Field(default="", sa_type=Text)
    created: datetime = Field(sa_type=UTCDateTime, index=True)
