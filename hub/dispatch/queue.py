"""The arq side of the outbox (distributed mode): enqueue ``deliver`` jobs with a job id
derived from the delivery (a second enqueue is a no-op), deferred to the delivery's due time,
and a sweeper that puts back whatever the database says is due but Redis does not hold.

The database stays the source of truth: Redis may be flushed or lost at any moment, and the next
sweep rebuilds the queue (scheduled posts included) from the outbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import (
    default_queue_name,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
)
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlmodel import col, select

from hub.domain.delivery import DeliveryStatus
from hub.runtime import EDIT_JOB, Hub, split_wake
from hub.store.db import Database
from hub.store.deliveries import claimable
from hub.store.tables import DeliveryRow

log = structlog.get_logger("hub.queue")

DELIVER = "deliver"
"""The arq function name of the delivery job (``hub.dispatch.jobs.deliver_job``)."""
EDIT = "edit"
"""The arq function name of the copy-edit job (``hub.dispatch.jobs.edit_job``)."""
HEARTBEAT_PREFIX = "hub:worker:"
SWEEP_LOCK = "hub:sweep-lock"
WAKE_CHANNEL = "hub:wake"
"""Published after each job put on the queue: idle workers look at once (hub.dispatch.waking)."""
HORIZON = 3600.0
"""Scheduled deliveries due within this many seconds are held in Redis as deferred jobs."""


def job_id(delivery_id: str) -> str:
    """One job id per delivery: enqueueing the same delivery twice is a no-op."""
    return f"deliver:{delivery_id}"


def redis_settings(url: str, *, patient: bool) -> RedisSettings:
    """arq's connection settings for ``url``. ``patient`` connections (workers) ride out a
    Redis restart of about half a minute by retrying each command; impatient ones (the web's
    enqueuer) give up at once, since the sweeper re-enqueues whatever they could not."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = 30 if patient else 1
    settings.conn_retry_delay = 1
    settings.retry_on_timeout = True
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
    settings.retry = RedisRetry(ExponentialBackoff(cap=1.0, base=0.05), 40 if patient else 1)
    return settings


async def connect(url: str, *, patient: bool) -> ArqRedis:
    """A pool for ``url``. Patient: wait for Redis (workers). Impatient: connect lazily, so the
    web app starts and accepts posts while Redis is down (the sweeper catches up later)."""
    if patient:
        return await create_pool(redis_settings(url, patient=True))
    pool = ArqRedis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                             retry=RedisRetry(ExponentialBackoff(cap=0.5, base=0.05), 1),
                             retry_on_error=[RedisConnectionError, RedisTimeoutError])
    return cast(ArqRedis, pool)


def _future(when: datetime | None, now: datetime) -> datetime | None:
    return when if when is not None and when > now + timedelta(milliseconds=50) else None


async def enqueue(redis: ArqRedis, delivery_id: str, *, due_at: datetime | None,
                  now: datetime) -> bool:
    """Enqueue the delivery's job (deferred until ``due_at`` if that is after ``now``) and
    wake the idle workers (``hub.dispatch.waking``). False if its job is already queued or
    running."""
    return await enqueue_all(redis, [(delivery_id, due_at)], now) == 1


_ENQUEUE_MANY = AsyncScript(
    None,  # type: ignore[arg-type]  # given bytes, the script needs no client to hash
    b"""
local n, added = 0, {}
for i = 1, #KEYS / 2 do
  local a = 4 * i - 1
  if redis.call('exists', KEYS[2 * i - 1], KEYS[2 * i]) == 0 then
    redis.call('psetex', KEYS[2 * i - 1], ARGV[a + 2], ARGV[a + 3])
    redis.call('zadd', ARGV[1], ARGV[a + 1], ARGV[a])
    n = n + 1
    added[i] = 1
  else
    added[i] = 0
  end
end
if n > 0 then redis.call('publish', ARGV[2], '1') end
return added
""")
"""``ArqRedis.enqueue_job`` for many jobs in one atomic round trip: each job is a no-op when
it or its result is held, else it is stored under its key and its id is put in the queue,
scored by its start; then one wake-up if any was new. ``enqueue_job`` is a WATCH, an EXISTS
and a MULTI/EXEC for each job: nine round trips for a post to three targets. KEYS: the job
key and result key of each job; ARGV: the queue, the wake channel, then id, score, expiry
(ms) and the serialised job of each."""


async def _enqueue_many(redis: ArqRedis, function: str,
                        jobs: Sequence[tuple[str, str, datetime | None]]) -> int:
    """Enqueue ``function(arg)`` for each (job id, arg, deferred until) exactly as
    ``redis.enqueue_job(function, arg, _job_id=…, _defer_until=…)`` would, and publish one
    wake-up if any job was new; how many were."""
    if not jobs:
        return 0
    enqueued_ms = timestamp_ms()
    keys: list[str] = []
    args: list[str | int | bytes] = [redis.default_queue_name, WAKE_CHANNEL]
    for jid, arg, defer in jobs:
        score = to_unix_ms(defer) if defer is not None else enqueued_ms
        keys += [job_key_prefix + jid, result_key_prefix + jid]
        args += [jid, score, score - enqueued_ms + redis.expires_extra_ms,
                 serialize_job(function, (arg,), {}, None, enqueued_ms,
                               serializer=redis.job_serializer)]
    added = await _ENQUEUE_MANY(keys=keys, args=args, client=redis)
    return sum(int(a) for a in added)


async def enqueue_all(redis: ArqRedis, due: Sequence[tuple[str, datetime | None]],
                      now: datetime) -> int:
    """Enqueue each (delivery id, due time) and wake the idle workers once, in one round
    trip; how many jobs were new."""
    return await _enqueue_many(redis, DELIVER, [(job_id(i), i, _future(due_at, now))
                                                for i, due_at in due])


async def enqueue_edits(redis: ArqRedis, edit_ids: Sequence[str]) -> int:
    """Enqueue the copy edits' jobs (one job id per edit: a second enqueue is a no-op; the
    database lease decides who runs it). Returns how many were new."""
    return await _enqueue_many(redis, EDIT, [(EDIT_JOB + i, i, None) for i in edit_ids])


def pending_due_times(db: Database, delivery_ids: Sequence[str]) -> list[tuple[str, datetime]]:
    """(id, due_at) of those deliveries that are still pending."""
    with db.read() as s:
        rows = s.exec(select(DeliveryRow.id, DeliveryRow.due_at)
                      .where(col(DeliveryRow.id).in_(list(delivery_ids)),
                             DeliveryRow.status == DeliveryStatus.PENDING)).all()
    return [(i, d) for i, d in rows]


def _due(db: Database, ids: Sequence[str], due_now: bool
         ) -> Sequence[tuple[str, datetime | None]]:
    """What to enqueue for a wake-up: as given if the caller just committed them as due now,
    else those still pending, with their due times (a read)."""
    return [(i, None) for i in ids] if due_now else pending_due_times(db, ids)


class BlockingEnqueuer:
    """The waker of short-lived processes (the CLI in distributed mode): connect, enqueue,
    close. If Redis does not answer, the sweeper enqueues the deliveries later."""

    def __init__(self, url: str, db: Database, now: Callable[[], datetime]) -> None:
        self._url = url
        self._db = db
        self._now = now

    def wake(self, delivery_ids: Sequence[str], *, due_now: bool = False) -> None:
        async def run() -> None:
            redis = await connect(self._url, patient=False)
            deliveries, edits = split_wake(delivery_ids)
            try:
                await enqueue_all(redis, _due(self._db, deliveries, due_now), self._now())
                await enqueue_edits(redis, edits)
            finally:
                await redis.aclose()

        try:
            asyncio.run(run())
        except (RedisError, OSError) as exc:
            log.warning("queue.enqueue_failed", deliveries=len(delivery_ids),
                        error=type(exc).__name__, note="the sweeper enqueues them later")


@dataclass(frozen=True)
class Sweepable:
    """A delivery the queue should hold: pending (due now or within the horizon), or in flight
    under a lease that ran out (its worker died)."""

    id: str
    due_at: datetime
    status: DeliveryStatus


def sweepable(hub: Hub, *, horizon: float = HORIZON, limit: int = 1000) -> list[Sweepable]:
    """What the queue should hold: the embedded sweeper's predicate, looking ``horizon``
    seconds ahead so scheduled deliveries wait in Redis as deferred jobs."""
    now = hub.now()
    with hub.db.read() as s:
        rows = s.exec(
            select(DeliveryRow.id, DeliveryRow.due_at, DeliveryRow.status)
            .where(claimable(now, within=timedelta(seconds=horizon)))
            .order_by(col(DeliveryRow.due_at)).limit(limit)).all()
    return [Sweepable(i, d, DeliveryStatus(st)) for i, d, st in rows]


_HELD = AsyncScript(
    None,  # type: ignore[arg-type]  # given bytes, the script needs no client to hash
    b"""
local held = {}
for i = 1, #KEYS do held[i] = redis.call('exists', KEYS[i]) end
return held
""")
"""Which of KEYS exist, 1 or 0 each, in one command: a sweep asks for two keys per
sweepable delivery, and a pipeline of single EXISTS costs the client more than the answer
(a backlog of 400 was a fifth of a worker's CPU with the sweep every 0.5 s)."""


@dataclass(frozen=True)
class SweepReport:
    enqueued: int = 0
    unstuck: int = 0
    seen: int = 0


async def sweep(hub: Hub, redis: ArqRedis, *, horizon: float = HORIZON) -> SweepReport:
    """Enqueue every sweepable delivery that Redis does not hold, and free jobs whose worker
    died while holding them.

    A job stays in arq's queue, marked in progress, until its worker finishes it; a worker
    killed mid-job leaves that mark for ``job_timeout + 10`` seconds. When the database says
    the delivery's lease ran out, nobody works on it any more (a live worker's job is
    cancelled at ``job_timeout``, before its lease ends), so the mark is stale and is removed:
    any worker takes the job now. Even in a race this is safe: publishing needs the database
    claim, which one worker wins. (A job that died between being taken and being claimed
    waits for arq's own expiry of the mark.)"""
    now = hub.now()
    rows = await asyncio.to_thread(sweepable, hub, horizon=horizon)
    if not rows:
        return SweepReport()
    keys = [f"{prefix}{job_id(row.id)}" for row in rows
            for prefix in (job_key_prefix, in_progress_key_prefix)]
    flags = await _HELD(keys=keys, client=redis)
    missing: list[tuple[str, datetime | None]] = []
    unstuck = 0
    for n, row in enumerate(rows):
        held, running = flags[2 * n], flags[2 * n + 1]
        if not held:
            missing.append((row.id, now if row.status is DeliveryStatus.IN_FLIGHT
                            else row.due_at))
        elif running and row.status is DeliveryStatus.IN_FLIGHT:
            unstuck += await _unstick(redis, row.id)
    enqueued = await enqueue_all(redis, missing, now)
    return SweepReport(enqueued=enqueued, unstuck=unstuck, seen=len(rows))


async def _unstick(redis: ArqRedis, delivery_id: str) -> bool:
    jid = job_id(delivery_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(in_progress_key_prefix + jid)
        pipe.zadd(default_queue_name, {jid: _now_ms()}, nx=True)
        removed, _ = await pipe.execute()
    if removed:
        log.info("queue.unstuck", delivery_id=delivery_id)
    return bool(removed)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def take_sweep_turn(redis: ArqRedis, worker: str, seconds: float) -> bool:
    """One sweeper per period across all workers (the others skip their turn)."""
    return bool(await redis.set(SWEEP_LOCK, worker, nx=True, px=max(int(seconds * 1000), 100)))


async def beat(redis: ArqRedis, worker: str, seconds: float, info: dict[str, object]) -> None:
    """Say this worker is alive for the next ``seconds``."""
    await redis.set(HEARTBEAT_PREFIX + worker, json.dumps(info), px=int(seconds * 1000))


async def live_workers(redis: ArqRedis) -> list[dict[str, object]]:
    """Workers whose heartbeat has not expired."""
    keys = [k async for k in redis.scan_iter(match=HEARTBEAT_PREFIX + "*", count=200)]
    if not keys:
        return []
    values = await redis.mget(keys)
    return [json.loads(v) for v in values if v]


async def queue_depth(redis: ArqRedis) -> tuple[int, int]:
    """(all jobs in the queue, jobs that may run now)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(default_queue_name)
        pipe.zcount(default_queue_name, "-inf", _now_ms())
        total, ready = await pipe.execute()
    return int(total), int(ready)


def heartbeat_here(url: str) -> bool:
    """True if a worker on this host has a current heartbeat (container health checks)."""

    async def run() -> bool:
        redis = await connect(url, patient=False)
        try:
            pattern = f"{HEARTBEAT_PREFIX}{socket.gethostname()[:24]}-*"
            return any([k async for k in redis.scan_iter(match=pattern, count=200)])
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (RedisError, OSError):
        return False


def worker_name() -> str:
    """Unique per process and readable: ``<host>-<pid>`` (the pid tells operators what died)."""
    return f"{socket.gethostname()[:24]}-{os.getpid()}"


class ArqEnqueuer:
    """The hub's waker in distributed mode (the web process): after a commit, enqueue the
    deliveries' jobs.

    ``wake`` is called by services from any thread; the enqueue runs on the event loop that
    owns the Redis pool (opened by ``start``; until then wake-ups are left to the sweeper). A
    failed enqueue (Redis down) is logged and left to the sweeper."""

    def __init__(self, url: str, db: Database, now: Callable[[], datetime]) -> None:
        self._url = url
        self._db = db
        self._now = now
        self._redis: ArqRedis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the Redis pool on the running loop (lazily connected: Redis may be down)."""
        self._redis = await connect(self._url, patient=False)
        self._loop = asyncio.get_running_loop()

    @property
    def redis(self) -> ArqRedis:
        if self._redis is None:
            raise RuntimeError("the enqueuer has not been started")
        return self._redis

    def wake(self, delivery_ids: Sequence[str], *, due_now: bool = False) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._spawn, list(delivery_ids), due_now)

    def _spawn(self, ids: list[str], due_now: bool) -> None:
        task = asyncio.create_task(self._enqueue(ids, due_now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _enqueue(self, ids: list[str], due_now: bool) -> None:
        try:
            ids, edits = split_wake(ids)
            due = [(i, None) for i in ids] if due_now else \
                await asyncio.to_thread(_due, self._db, ids, False)
            await enqueue_all(self.redis, due, self._now())
            await enqueue_edits(self.redis, edits)
        except Exception as exc:  # noqa: BLE001 - a background task: log; the sweeper catches up
            log.warning("queue.enqueue_failed", deliveries=len(ids), error=type(exc).__name__,
                        note="the sweeper enqueues them once Redis answers")

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait for the enqueues already asked for (tests, shutdown)."""
        await asyncio.sleep(0)          # let wake-ups scheduled from other threads start
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def health(self) -> dict[str, object]:
        """Redis reachability and the workers whose heartbeat is current."""
        try:
            await self.redis.ping()
            workers = await live_workers(self.redis)
        except (RedisError, OSError) as exc:
            return {"redis": f"error: {type(exc).__name__}", "workers": 0}
        return {"redis": "ok", "workers": len(workers),
                "worker_names": sorted(str(w.get("name")) for w in workers)}

    async def close(self) -> None:
        await self.flush()
        self._loop = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
