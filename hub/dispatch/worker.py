"""In-process workers for embedded mode: a queue of delivery ids fed by wake-ups after commit
and by a sweeper that finds anything due and not in flight (restart-safe: the database is the
source of truth, the queue only wakes workers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from hub.dispatch.jobs import run_delivery
from hub.metrics import LocalMetrics
from hub.runtime import Hub
from hub.services.delivery import due_ids

log = structlog.get_logger("hub.worker")


class EmbeddedWorkers:
    def __init__(self, hub: Hub, *, workers: int | None = None) -> None:
        self.hub = hub
        self.count = workers or hub.settings.workers
        self.name = f"embedded-{os.getpid()}"
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kick = asyncio.Event()
        self.metrics = LocalMetrics()

    def wake(self, delivery_ids: Sequence[str]) -> None:
        """Thread-safe: services call this after commit, from any thread."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._enqueue, list(delivery_ids))

    def _enqueue(self, ids: list[str]) -> None:
        for delivery_id in ids:
            if delivery_id not in self._queued:
                self._queued.add(delivery_id)
                self._queue.put_nowait(delivery_id)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # A blocking adapter (SMTP) holds one thread while its Steps calls need another:
        # size the pool so every worker can have both, beside the web's own threads.
        self._loop.set_default_executor(
            ThreadPoolExecutor(max_workers=max(32, 4 * self.count), thread_name_prefix="hub"))
        self.hub.wakers.append(self.wake)
        self._tasks = [asyncio.create_task(self._work(i)) for i in range(self.count)]
        self._tasks.append(asyncio.create_task(self._sweep()))
        log.info("workers.started", workers=self.count)

    async def stop(self) -> None:
        if self.wake in self.hub.wakers:
            self.hub.wakers.remove(self.wake)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _work(self, n: int) -> None:
        worker = f"{self.name}-{n}"
        while True:
            delivery_id = await self._queue.get()
            self._queued.discard(delivery_id)
            try:
                attempt = await run_delivery(self.hub, delivery_id, worker=worker,
                                             metrics=self.metrics)
                if attempt.status == "retry":
                    self._kick.set()
            except Exception:  # never let one delivery stop the worker
                log.exception("worker.crashed", delivery_id=delivery_id)

    async def _sweep(self) -> None:
        while True:
            try:
                self._enqueue(await asyncio.to_thread(due_ids, self.hub))
            except Exception:
                log.exception("sweeper.failed")
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.hub.settings.sweep_seconds)

    async def drain(self, timeout: float = 30.0) -> None:
        """Test/CLI helper: run until nothing is due (or ``timeout``)."""
        async with asyncio.timeout(timeout):
            while True:
                ids = await asyncio.to_thread(due_ids, self.hub)
                if not ids and self._queue.empty():
                    return
                self._enqueue(ids)
                await asyncio.sleep(0.05)
