"""``hub worker``: an arq worker over the same job code as embedded mode.

On startup it asks ``hub.bootstrap`` for the worker runtime (as the web app asks for its own);
while it runs, a
background loop beats a heartbeat into Redis, sweeps the outbox into the queue (one worker per
period takes the turn) and follows policy reloads recorded by the web process. Start as many
workers as you like: the database lease decides who publishes each delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from arq import func
from arq.worker import Worker
from redis.exceptions import RedisError

from hub.audit.sequencer import Sequencer
from hub.bootstrap import Mode, bootstrap
from hub.config import Settings
from hub.dispatch import queue
from hub.dispatch.jobs import deliver_job, edit_job
from hub.dispatch.waking import WakingWorker
from hub.errors import PolicyFileInvalid
from hub.logging import configure_logging
from hub.metrics import RedisMetrics
from hub.runtime import Hub
from hub.services.edit_copies import due_edits
from hub.services.policy import reload_policy
from hub.store.policy_state import recorded_digest

log = structlog.get_logger("hub.worker")

MAX_TRIES = 10_000
"""arq's own retry cap, set out of the way: the database counts attempts (``max_attempts``)."""


def job_timeout(settings: Settings) -> float:
    """A job is cancelled before its lease can expire, so no two workers ever publish the same
    delivery at once (the lease is what lets another worker take over)."""
    return max(1.0, settings.lease_seconds * 0.75)


def worker_settings(settings: Settings, *, concurrency: int = 10, burst: bool = False,
                    poll_delay: float = 1.0) -> dict[str, Any]:
    """arq ``Worker`` keyword arguments (arq's WorkerSettings, built from our Settings)."""
    return {
        "functions": [func(deliver_job, name=queue.DELIVER, keep_result=0, max_tries=MAX_TRIES),
                      func(edit_job, name=queue.EDIT, keep_result=0, max_tries=MAX_TRIES)],
        "redis_settings": queue.redis_settings(settings.redis_url, patient=True),
        "on_startup": _startup,
        "on_shutdown": _shutdown,
        "ctx": {"settings": settings, "worker_name": queue.worker_name(),
                "concurrency": concurrency},
        "max_jobs": concurrency,
        "job_timeout": job_timeout(settings),
        "keep_result": 0,          # results would block re-enqueueing the same job id
        "max_tries": MAX_TRIES,
        "poll_delay": poll_delay,
        "burst": burst,
        "health_check_interval": 60,
        # on SIGTERM/SIGINT stop taking jobs and let running ones finish (compose waits 30 s)
        "job_completion_wait": int(min(job_timeout(settings), 20)),
    }


async def _startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    # Jobs block threads (SMTP sessions, the database), and an adapter's thread may wait on a
    # Steps call that needs a thread of its own: size the pool so that can never starve.
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2 * ctx["concurrency"] + 4,
                                                 thread_name_prefix="hub-job"))
    if "hub" not in ctx:      # tests hand in a hub built with fakes through the ports
        # a bad policy stops the worker here, with file:line
        pool = max(settings.db_pool_size, ctx["concurrency"] + 4)   # a connection per job
        runtime = await asyncio.to_thread(
            bootstrap, settings.model_copy(update={"db_pool_size": pool}), Mode.WORKER)
        ctx["runtime"] = runtime
        ctx["hub"] = runtime.hub
    hub: Hub = ctx["hub"]
    ctx["metrics"] = RedisMetrics(ctx["redis"])
    ctx["started"] = datetime.now(UTC).isoformat()
    ctx["followed"] = None
    ctx["loop_task"] = asyncio.create_task(_background(ctx))
    ctx["sequencer"] = Sequencer(hub.db, delay=hub.settings.audit_sequence_seconds)
    await ctx["sequencer"].start()   # every worker runs one; one batch runs at a time
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, _reload_recorded, hub)
    log.info("worker.started", worker=ctx["worker_name"], policy=hub.policies.current.digest[:12])


async def _shutdown(ctx: dict[str, Any]) -> None:
    task: asyncio.Task[None] | None = ctx.get("loop_task")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    sequencer: Sequencer | None = ctx.get("sequencer")
    if sequencer is not None:
        await sequencer.stop()
    with contextlib.suppress(Exception):
        await ctx["redis"].delete(queue.HEARTBEAT_PREFIX + ctx["worker_name"])
    runtime = ctx.get("runtime")
    if runtime is not None:
        with contextlib.suppress(Exception):
            await runtime.stop()       # whoever built the clients closes them
        runtime.dispose()
    log.info("worker.stopped", worker=ctx["worker_name"])


def _interval(settings: Settings) -> float:
    return max(0.2, min(settings.sweep_seconds, 5.0))


async def _background(ctx: dict[str, Any]) -> None:
    """Heartbeat, sweep and policy-follow, every ``sweep_seconds`` (at most 5 s) until shutdown.
    A failing step is logged and tried again next period (Redis or the database may be down)."""
    hub: Hub = ctx["hub"]
    name: str = ctx["worker_name"]
    period = _interval(hub.settings)
    while True:
        try:
            await queue.beat(ctx["redis"], name, period * 3, {
                "name": name, "pid": os.getpid(), "started": ctx["started"]})
            if await queue.take_sweep_turn(ctx["redis"], name, period * 0.9):
                report = await queue.sweep(hub, ctx["redis"])
                await queue.enqueue_edits(ctx["redis"],
                                          await asyncio.to_thread(due_edits, hub))
                if report.enqueued or report.unstuck:
                    log.info("sweeper.enqueued", enqueued=report.enqueued,
                             unstuck=report.unstuck)
            await asyncio.to_thread(_follow_policy, hub, ctx)
        except Exception as exc:  # noqa: BLE001 - keep the loop; report what failed
            log.warning("worker.background_failed", error=type(exc).__name__, detail=str(exc))
        await asyncio.sleep(period)


def _follow_policy(hub: Hub, ctx: dict[str, Any]) -> None:
    """Load the policy again when the web process recorded a newer one (``hub policy reload``):
    the recheck before publishing then uses the policy in force, in every worker."""
    with hub.db.read() as s:
        latest = recorded_digest(s)
    if latest is None or latest == hub.policies.current.digest:
        return
    attempt = (latest, _files_signature(hub.settings.policy_dir))
    if attempt == ctx["followed"]:
        return      # tried with these very files already; try again when they change
    ctx["followed"] = attempt
    _reload(hub, "recorded policy " + latest[:12])


def _files_signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    found = []
    for path in sorted(directory.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".toml") and path.is_file():
            stat = path.stat()
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def _reload_recorded(hub: Hub) -> None:
    """SIGHUP: load the files and record the load, so every other process follows."""
    try:
        policy, changed = reload_policy(hub, actor=f"worker {os.getpid()} SIGHUP")
        log.info("policy.reloaded", digest=policy.digest[:12], changed=changed, why="SIGHUP")
    except PolicyFileInvalid as exc:
        log.error("policy.rejected", file=exc.file, line=exc.line, reason=exc.reason)


def _reload(hub: Hub, why: str) -> None:
    try:
        policy, changed = hub.policies.reload()
        log.info("policy.reloaded", digest=policy.digest[:12], changed=changed, why=why)
    except PolicyFileInvalid as exc:
        log.error("policy.rejected", file=exc.file, line=exc.line, reason=exc.reason)


def create_worker(settings: Settings, *, hub: Hub | None = None, handle_signals: bool = True,
                  **options: Any) -> Worker:
    """An arq Worker for ``settings`` (options: concurrency, burst, poll_delay). ``hub``: use
    this hub instead of building one (tests inject fakes through it)."""
    kwargs = worker_settings(settings, **options)
    if hub is not None:
        kwargs["ctx"]["hub"] = hub
    return WakingWorker(**kwargs, handle_signals=handle_signals)


def run_worker(settings: Settings, **options: Any) -> int:
    """Run until SIGINT/SIGTERM (or, with ``burst``, until the queue is empty); exit status."""
    configure_logging(settings.log_level)
    worker = create_worker(settings, **options)
    try:
        worker.run()
    except (RedisError, OSError) as exc:
        log.error("worker.redis_lost", error=type(exc).__name__, detail=str(exc),
                  note="Redis did not come back in time; restart the worker (compose does)")
        return 1
    return 0
