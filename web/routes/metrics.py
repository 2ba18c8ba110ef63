"""``/metrics``: Prometheus text format — deliveries by state and platform, the due backlog,
attempts and retries by platform, publish latency, and (distributed mode) the arq queue depth
and live workers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from hub.dispatch.queue import ArqEnqueuer, live_workers, queue_depth
from hub.metrics import AttemptStats, LocalMetrics, RedisMetrics, Snapshot, outbox_counts, render
from web.deps import HubDep

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
            response_class=Response)
async def metrics(hub: HubDep, request: Request) -> Response:
    deliveries, due = await run_in_threadpool(outbox_counts, hub)
    enqueuer: ArqEnqueuer | None = getattr(request.app.state, "enqueuer", None)
    local: LocalMetrics | None = getattr(request.app.state, "metrics", None)
    attempts = await local.stats() if local is not None else AttemptStats()
    snapshot = Snapshot(deliveries, due, attempts)
    if enqueuer is not None:
        try:
            queued, ready = await queue_depth(enqueuer.redis)
            workers = len(await live_workers(enqueuer.redis))
            attempts = await RedisMetrics(enqueuer.redis).stats()
            snapshot = Snapshot(deliveries, due, attempts, queued, ready, workers, True)
        except (RedisError, OSError):
            snapshot = Snapshot(deliveries, due, attempts, redis_up=False)
    return Response(render(snapshot), media_type=CONTENT_TYPE_LATEST)
