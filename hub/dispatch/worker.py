"""In-process workers for embedded mode: a queue of delivery ids fed by wake-ups after commit
and by a sweeper that finds anything due and not in flight (restart-safe: the database is the
source of truth, the queue only wakes workers). Every due delivery starts at once, up to
``HUB_MAX_IN_FLIGHT``; ``hub.dispatch.limits`` keeps each account to its own limit. The
deliveries woken together (a post's, by the commit that wrote them) are claimed and re-checked
in one transaction (``claim_many``), then published side by side. Copy edits come through the
same queue as ``EDIT_JOB + id`` (``hub.services.edits``) and run as their own tasks."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from hub.dispatch.jobs import run_delivery
from hub.domain.delivery import AttemptOutcome
from hub.metrics import LocalMetrics
from hub.runtime import EDIT_JOB, Hub
from hub.services.delivery import Claimed, claim_many, due_ids
from hub.services.edit_copies import due_edits, run_copy_edit

log = structlog.get_logger("hub.worker")


class LocalQueue:
    """Embedded mode's waker (``hub.runtime.Waker``): delivery ids for the in-process workers.

    Services call ``wake`` after commit, from any thread; until the workers start on an event
    loop, wake-ups are dropped (the sweeper finds those deliveries when they do)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Deliver wake-ups to ``loop`` (the workers' loop), or drop them (None)."""
        self._loop = loop

    def wake(self, delivery_ids: Sequence[str], *, due_now: bool = False) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self.put, list(delivery_ids))

    def put(self, ids: Sequence[str]) -> None:
        """On the workers' loop: queue each id that is not queued already."""
        for delivery_id in ids:
            if delivery_id not in self._queued:
                self._queued.add(delivery_id)
                self._queue.put_nowait(delivery_id)

    async def get(self) -> str:
        delivery_id = await self._queue.get()
        self._queued.discard(delivery_id)
        return delivery_id

    def get_nowait(self) -> str:
        delivery_id = self._queue.get_nowait()
        self._queued.discard(delivery_id)
        return delivery_id

    def empty(self) -> bool:
        return self._queue.empty()


class EmbeddedWorkers:
    """A dispatcher that starts each woken delivery as its own task (at most
    ``max_in_flight`` at once; ``HUB_WORKERS`` only raises that bound) and a sweeper, fed by
    ``queue`` (the hub's waker in embedded mode)."""

    def __init__(self, hub: Hub, queue: LocalQueue, *, workers: int | None = None) -> None:
        self.hub = hub
        self.count = workers or max(hub.settings.workers, hub.settings.max_in_flight)
        self.name = f"embedded-{os.getpid()}"
        self._queue = queue
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._kick = asyncio.Event()
        self._started = 0
        self.metrics = LocalMetrics()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # A blocking adapter (SMTP) holds one thread while its Steps calls need another:
        # size the pool so every delivery in flight can have both, beside the web's threads.
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=max(32, 2 * self.count + 8),
                               thread_name_prefix="hub"))
        self._queue.bind(loop)
        self._slots = asyncio.Semaphore(self.count)
        self._tasks = [asyncio.create_task(self._dispatch()), asyncio.create_task(self._sweep())]
        log.info("workers.started", max_in_flight=self.count)

    async def stop(self) -> None:
        self._queue.bind(None)
        for task in [*self._tasks, *self._running]:
            task.cancel()
        for task in [*self._tasks, *self._running]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _dispatch(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await self._slots.acquire()
            # whatever else is queued (a post's other deliveries, woken by the same commit)
            # starts with it, as far as slots allow: one claim transaction for all of them
            while not self._queue.empty() and not self._slots.locked():
                await self._slots.acquire()
                batch.append(self._queue.get_nowait())
            pairs = []
            for delivery_id in batch:
                self._started += 1
                pairs.append((delivery_id, f"{self.name}-{self._started}"))
            deliveries = [(i, w) for i, w in pairs if not i.startswith(EDIT_JOB)]
            claims = asyncio.ensure_future(asyncio.to_thread(
                claim_many, self.hub, deliveries)) if len(deliveries) > 1 else None
            for delivery_id, worker in pairs:
                task = asyncio.create_task(self._work(delivery_id, worker, claims))
                self._running.add(task)
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _work(self, delivery_id: str, worker: str,
                    claims: asyncio.Future[dict[str, Claimed] | None] | None = None) -> None:
        try:
            if delivery_id.startswith(EDIT_JOB):       # a copy edit (hub.services.edits)
                await run_copy_edit(self.hub, delivery_id[len(EDIT_JOB):])
                return
            claimed = None
            if claims is not None:      # shielded: one task's cancellation is not the others'
                claimed = (await asyncio.shield(claims) or {}).get(delivery_id)
            attempt = await run_delivery(self.hub, delivery_id, worker=worker,
                                         metrics=self.metrics, claimed=claimed)
            if attempt.status is AttemptOutcome.RETRY:
                self._kick.set()
        except Exception:  # never let one delivery stop the others
            log.exception("worker.crashed", delivery_id=delivery_id)

    async def _sweep(self) -> None:
        while True:
            try:
                self._queue.put(await asyncio.to_thread(due_ids, self.hub))
                self._queue.put([EDIT_JOB + i for i in
                                 await asyncio.to_thread(due_edits, self.hub)])
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
                ids += [EDIT_JOB + i for i in await asyncio.to_thread(due_edits, self.hub)]
                if not ids and self._queue.empty() and not self._running:
                    return
                self._queue.put(ids)
                await asyncio.sleep(0.05)
