"""The policy in force, as the database knows it: one row with the digest of the policy the
hub loaded last (``hub.services.policy.record_policy`` writes it on every load). Workers read
it before each publish (``hub.services.delivery``) and load the files again when theirs differs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Field, Session, SQLModel, col

from hub.store.tables import UTCDateTime

_ROW = 1


class PolicyStateRow(SQLModel, table=True):
    __tablename__ = "policy_state"
    id: int = Field(default=_ROW, primary_key=True)
    digest: str = Field(max_length=64)
    actor: str = Field(max_length=120)
    loaded: datetime = Field(sa_type=UTCDateTime)


def recorded_digest(s: Session) -> str | None:
    """The digest of the policy loaded last, or None before the first load (a Core read on
    the session's connection: each delivery's claim reads it)."""
    return s.connection().execute(_DIGEST).scalar()


_DIGEST = select(col(PolicyStateRow.digest)).where(col(PolicyStateRow.id) == _ROW)


def record_digest(s: Session, digest: str, *, actor: str, now: datetime) -> None:
    """Say that the policy with ``digest`` is the one in force from now on."""
    row = s.get(PolicyStateRow, _ROW)
    if row is None:
        s.add(PolicyStateRow(id=_ROW, digest=digest, actor=actor, loaded=now))
        return
    row.digest, row.actor, row.loaded = digest, actor, now
    s.add(row)
