"""``/healthz``: is the database reachable, which policy is in force, are workers running
(in distributed mode: does Redis answer, and how many workers' heartbeats are current)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from web.deps import HubDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health: database, policy digest, Redis, workers")
async def healthz(hub: HubDep, request: Request) -> JSONResponse:
    def check_db() -> str:
        try:
            with hub.db.transaction() as s:
                s.exec(text("SELECT 1"))  # type: ignore[call-overload]
            return "ok"
        except Exception as exc:  # report, never crash the health check
            return f"error: {type(exc).__name__}"

    database = await run_in_threadpool(check_db)
    workers = request.app.state.workers
    body: dict[str, Any] = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "policy_digest": hub.policies.current.digest,
        "mode": "distributed" if hub.settings.distributed else "embedded",
        "workers": workers.count if workers else 0,
    }
    enqueuer = getattr(request.app.state, "enqueuer", None)
    if enqueuer is not None:
        # Without Redis or workers the hub still accepts posts into the outbox: "degraded",
        # yet 200, so that a load balancer keeps sending them; only the database is vital.
        body.update(await enqueuer.health())
        if body["redis"] != "ok" or not body["workers"]:
            body["status"] = "degraded"
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
