"""The background jobs table: one row per long piece of work (an import, an export, a
verification, a contact sync) with where it stands, so pages, the API and the CLI can show
progress and a restarted hub can tell which jobs it was running when it died."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from hub.store.tables import UTCDateTime


class JobRow(SQLModel, table=True):
    """``state`` is queued → running → done | failed | interrupted. ``done``/``total`` count
    the job's own units (rows, events); ``total`` is None until the job knows it. ``runner``
    names the process running it (``pid@host/token``) and ``heartbeat`` when it last wrote
    progress, so a job whose process is gone can be marked interrupted."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_state", "state"), Index("ix_job_created", "created"))
    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=32)
    state: str = Field(default="queued", max_length=16)
    done: int = 0
    total: int | None = None
    message: str = Field(default="", max_length=500)
    error: str | None = Field(default=None, sa_type=Text)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actor: str = Field(default="owner", max_length=120)
    runner: str | None = Field(default=None, max_length=120)
    rerun_of: str | None = Field(default=None, max_length=32)
    created: datetime = Field(sa_type=UTCDateTime)
    started: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat: datetime | None = Field(default=None, sa_type=UTCDateTime)
