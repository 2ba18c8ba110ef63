"""arq's worker, woken instead of polling: the enqueuer publishes on ``WAKE_CHANNEL`` after each
job it puts on the queue (after the commit), and a worker with nothing to do sleeps until that
message or until the earliest deferred job falls due, whichever comes first. A delivery starts
within milliseconds of being due, and an idle worker costs next to nothing (arq's own loop polls
Redis every ``poll_delay``: 5 % of a core at 10 ms on the benchmark machine).

``poll_delay`` stays as the longest sleep, in case a wake-up is lost (Redis restarted between
publish and subscribe): then a job waits at most that long, as with plain arq."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from arq.worker import Worker
from redis.exceptions import RedisError

from hub.dispatch.queue import WAKE_CHANNEL

log = structlog.get_logger("hub.worker")

BUSY_POLL = 0.05
"""While a due job is left on the queue (running on another worker, or beyond what one poll
reads), look again this often rather than sleep the whole ``poll_delay``."""


class WakingWorker(Worker):
    def __init__(self, *args: Any, poll_delay: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, poll_delay=0, **kwargs)   # the sleeping is done here
        self.longest_sleep = poll_delay
        self._wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def _poll_iteration(self) -> None:
        if self._listener is None and not self.burst:
            self._listener = asyncio.create_task(self._listen())
        self._wake.clear()       # before looking: a wake-up from now on is not lost
        await super()._poll_iteration()
        if not self.burst:       # burst mode ends when the queue is empty: arq's own loop
            await self._sleep()

    async def _sleep(self) -> None:
        timeout = self.longest_sleep
        earliest = await self.pool.zrange(self.queue_name, 0, 0, withscores=True)
        if earliest:
            until_due = float(earliest[0][1]) / 1000 - time.time()
            timeout = min(timeout, until_due if until_due > 0 else BUSY_POLL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(timeout, 0.0))

    async def _listen(self) -> None:
        while True:
            pubsub = self.pool.pubsub()
            try:
                await pubsub.subscribe(WAKE_CHANNEL)
                self._wake.set()     # anything published before we listened: look now
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake.set()
            except (RedisError, OSError) as exc:   # Redis away: the longest sleep still holds
                log.warning("worker.wake_listener_lost", error=type(exc).__name__)
                await asyncio.sleep(self.longest_sleep)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await super().close()
