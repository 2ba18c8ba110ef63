"""The outbox in the database: which deliveries a worker may take (one predicate for the
embedded and the Redis sweeper alike), rows as ``Delivery`` values, and ``hub.ports.Steps``
over the ``delivery_step`` table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col

from hub.domain.delivery import Delivery, DeliveryStatus
from hub.domain.model import DeliveryId, PostId, Reach
from hub.store.db import Database
from hub.store.tables import DeliveryRow, DeliveryStepRow


def claimable(now: datetime | ColumnElement[datetime], *, within: timedelta = timedelta()
              ) -> ColumnElement[bool]:
    """Pending and due (by ``now + within``: a queue may hold scheduled jobs ahead of time),
    or in flight with a lease that ran out (its worker died). ``now`` may be a bound
    parameter (a statement built once)."""
    return or_(and_(col(DeliveryRow.status) == DeliveryStatus.PENDING,
                    col(DeliveryRow.due_at) <= (now + within if within else now)),
               and_(col(DeliveryRow.status) == DeliveryStatus.IN_FLIGHT,
                    col(DeliveryRow.lease_until) < now))


def delivery_from_row(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=DeliveryId(row.id), post_id=PostId(row.post_id), target=row.target,
        account=row.account, platform=row.platform, reach=Reach(row.reach), key=row.key,
        status=DeliveryStatus(row.status), due_at=row.due_at, attempts=row.attempts,
        last_error=row.last_error, remote_id=row.remote_id, remote_url=row.remote_url,
        approved=row.approved, approved_by=row.approved_by, lease_owner=row.lease_owner,
        lease_until=row.lease_until)


class DbSteps:
    """``hub.ports.Steps`` for one delivery; each record commits at once."""

    def __init__(self, db: Database, delivery_id: str, now: Callable[[], datetime]) -> None:
        self._db = db
        self._id = delivery_id
        self._now = now

    async def get(self, name: str) -> str | None:
        return await asyncio.to_thread(self._get, name)

    async def record(self, name: str, value: str) -> None:
        await asyncio.to_thread(self._record, name, value)

    def _get(self, name: str) -> str | None:
        with self._db.read() as s:
            row = s.get(DeliveryStepRow, (self._id, name))
            return row.value if row else None

    def _record(self, name: str, value: str) -> None:
        with self._db.transaction() as s:
            row = s.get(DeliveryStepRow, (self._id, name))
            if row is None:
                s.add(DeliveryStepRow(delivery_id=self._id, name=name, value=value,
                                      created=self._now()))
            else:
                row.value = value
                s.add(row)
