"""Prometheus metrics. Whoever runs the job code records each delivery attempt (outcome and
duration) — in process, or in Redis so that every arq worker counts; the outbox gauges
(deliveries by state and platform, due now) and the queue depth are read when scraped."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import select

from hub.domain.delivery import AttemptOutcome, DeliveryStatus
from hub.runtime import Hub
from hub.store.tables import DeliveryRow

BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, math.inf)
"""Upper bounds (seconds) of the publish-latency histogram."""
TIMED = frozenset({AttemptOutcome.PUBLISHED, AttemptOutcome.RETRY, AttemptOutcome.FAILED})
"""Outcomes of attempts that talked to the platform: only these feed the latency histogram."""
_ATTEMPTS_KEY = "hub:metrics:attempts"
_LATENCY_KEY = "hub:metrics:latency"


def _bucket(seconds: float) -> int:
    return next(i for i, bound in enumerate(BUCKETS) if seconds <= bound)


@dataclass
class AttemptStats:
    """Counts of attempts by (platform, outcome) and the latency histogram per platform."""

    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    buckets: dict[str, list[int]] = field(default_factory=dict)     # not cumulative
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, platform: str, outcome: str, seconds: float) -> None:
        key = (platform, outcome)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if outcome in TIMED:
            counts = self.buckets.setdefault(platform, [0] * len(BUCKETS))
            counts[_bucket(seconds)] += 1
            self.seconds[platform] = self.seconds.get(platform, 0.0) + seconds


class AttemptRecorder(Protocol):
    """Where the job wrapper reports each attempt. Never raises: metrics must not fail a job."""

    async def record(self, platform: str, outcome: str, seconds: float) -> None: ...

    async def stats(self) -> AttemptStats: ...


class LocalMetrics:
    """Attempts counted in this process (embedded mode, tests)."""

    def __init__(self) -> None:
        self._stats = AttemptStats()

    async def record(self, platform: str, outcome: str, seconds: float) -> None:
        self._stats.add(platform, outcome, seconds)

    async def stats(self) -> AttemptStats:
        return self._stats


class RedisMetrics:
    """Attempts counted in two Redis hashes shared by every worker; the web process reads them.

    A Redis loss resets the counters, which Prometheus treats as an ordinary counter reset."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def record(self, platform: str, outcome: str, seconds: float) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(_ATTEMPTS_KEY, f"{platform}|{outcome}", 1)
                if outcome in TIMED:
                    pipe.hincrby(_LATENCY_KEY, f"{platform}|b{_bucket(seconds)}", 1)
                    pipe.hincrbyfloat(_LATENCY_KEY, f"{platform}|sum", seconds)
                await pipe.execute()
        except Exception:  # noqa: BLE001 - a lost sample is better than a failed delivery
            return

    async def stats(self) -> AttemptStats:
        attempts = await cast(Awaitable[dict[bytes, bytes]], self._redis.hgetall(_ATTEMPTS_KEY))
        latency = await cast(Awaitable[dict[bytes, bytes]], self._redis.hgetall(_LATENCY_KEY))
        out = AttemptStats()
        for raw, value in attempts.items():
            platform, _, outcome = _text(raw).partition("|")
            out.attempts[(platform, outcome)] = int(value)
        for raw, value in latency.items():
            platform, _, part = _text(raw).partition("|")
            if part == "sum":
                out.seconds[platform] = float(value)
            elif part.startswith("b") and part[1:].isdigit() and int(part[1:]) < len(BUCKETS):
                counts = out.buckets.setdefault(platform, [0] * len(BUCKETS))
                counts[int(part[1:])] = int(value)
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape reports. ``None`` means "not known in this mode / unreachable"."""

    deliveries: Mapping[tuple[str, str], int]     # (state, platform) -> count
    due: int
    attempts: AttemptStats
    queued: int | None = None
    ready: int | None = None
    workers: int | None = None
    redis_up: bool | None = None


def outbox_counts(hub: Hub) -> tuple[dict[tuple[str, str], int], int]:
    """Deliveries by (state, platform), and how many are pending and due now."""
    now = hub.now()
    with hub.db.read() as s:
        rows = s.exec(select(DeliveryRow.status, DeliveryRow.platform, func.count())
                      .group_by(DeliveryRow.status, DeliveryRow.platform)).all()
        due = s.exec(select(func.count()).select_from(DeliveryRow)
                     .where(DeliveryRow.status == DeliveryStatus.PENDING,
                            DeliveryRow.due_at <= now)).one()
    return {(status, platform): int(n) for status, platform, n in rows}, int(due)


class _Collector:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        states = GaugeMetricFamily("hub_deliveries", "Deliveries in the outbox by state and "
                                   "platform", labels=["state", "platform"])
        for (state, platform), n in sorted(snap.deliveries.items()):
            states.add_metric([state, platform], n)
        yield states
        yield GaugeMetricFamily("hub_outbox_due", "Deliveries pending and due now (the "
                                "database's view of the backlog)", value=snap.due)
        attempts = CounterMetricFamily("hub_delivery_attempts", "Delivery attempts by platform "
                                       "and outcome", labels=["platform", "outcome"])
        retries = CounterMetricFamily("hub_delivery_retries", "Attempts that ended in a retry "
                                      "(transient platform error, rate limit, timeout)",
                                      labels=["platform"])
        for (platform, outcome), n in sorted(snap.attempts.attempts.items()):
            attempts.add_metric([platform, outcome], n)
            if outcome == AttemptOutcome.RETRY:
                retries.add_metric([platform], n)
        yield attempts
        yield retries
        latency = HistogramMetricFamily("hub_publish_seconds", "Duration of attempts that "
                                        "reached the platform", labels=["platform"])
        for platform, counts in sorted(snap.attempts.buckets.items()):
            cumulative, running = [], 0
            for bound, n in zip(BUCKETS, counts, strict=True):
                running += n
                cumulative.append(("+Inf" if math.isinf(bound) else repr(bound), running))
            latency.add_metric([platform], cumulative, snap.attempts.seconds.get(platform, 0.0))
        yield latency
        if snap.queued is not None:
            yield GaugeMetricFamily("hub_queue_jobs", "Jobs in the arq queue (including "
                                    "deferred ones)", value=snap.queued)
        if snap.ready is not None:
            yield GaugeMetricFamily("hub_queue_ready", "Jobs in the arq queue that may run now",
                                    value=snap.ready)
        if snap.workers is not None:
            yield GaugeMetricFamily("hub_workers", "Workers whose heartbeat is current",
                                    value=snap.workers)
        if snap.redis_up is not None:
            yield GaugeMetricFamily("hub_redis_up", "1 if Redis answered this scrape",
                                    value=int(snap.redis_up))


def render(snapshot: Snapshot) -> bytes:
    """The Prometheus text exposition of ``snapshot`` (a fresh registry: no global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snapshot))
    return generate_latest(registry)
