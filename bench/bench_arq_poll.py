"""arq's poll delay: how long a job that is due now waits before a worker starts it, and what
an idle worker costs in CPU for it, for several poll delays (a private redis-server, a bare arq
worker with a no-op job, the hub's ``max_jobs``).

    .venv/bin/python bench/bench_arq_poll.py [--delays 0.005,0.01,0.02,0.05,0.1] [--jobs 40]

The latency is from ``enqueue_job`` returning to the job's first line (both clocks are
``time.time`` on this machine), one job at a time at random moments; the idle cost is the
worker's CPU seconds per wall second while no job is queued. Delay 0 is the hub's own
``hub.dispatch.waking.WakingWorker``: woken by a publish after each enqueue (the sent time is
taken after the publish, as the hub's enqueuer returns after it), longest sleep 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.dispatch.queue import WAKE_CHANNEL  # noqa: E402
from hub.dispatch.topology import RedisServer  # noqa: E402

MAX_JOBS = 10


async def started(ctx: dict[str, Any], n: int) -> None:
    await ctx["redis"].set(f"poll:started:{n}", repr(time.time()))


async def _ready(ctx: dict[str, Any]) -> None:
    await ctx["redis"].set("poll:ready", 1)


def worker(url: str, delay: float) -> None:
    """``delay`` 0: the hub's waking worker (longest sleep 1 s), woken by a publish."""
    from arq.worker import Worker

    from hub.dispatch.queue import redis_settings
    from hub.dispatch.waking import WakingWorker

    kind = WakingWorker if delay == 0 else Worker
    kind(functions=[started], redis_settings=redis_settings(url, patient=True),
         max_jobs=MAX_JOBS, poll_delay=delay or 1.0, keep_result=0, on_startup=_ready).run()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(redis: RedisServer, delay: float, jobs: int, idle: float) -> dict[str, float]:
    from hub.dispatch.queue import connect

    proc = subprocess.Popen([sys.executable, __file__, "worker", redis.url, str(delay)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def run() -> dict[str, float]:
        pool = await connect(redis.url, patient=True)
        try:
            await pool.flushall()
            while not await pool.get("poll:ready"):
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)
            cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
            await asyncio.sleep(idle)
            idle_cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            waits = []
            for n in range(jobs):
                await asyncio.sleep(random.uniform(0.0, 2 * (delay or 0.05)) + 0.01)
                await pool.enqueue_job("started", n, _job_id=f"poll:{n}")
                if delay == 0:
                    await pool.publish(WAKE_CHANNEL, "1")
                sent = time.time()
                while (value := await pool.get(f"poll:started:{n}")) is None:
                    await asyncio.sleep(0.001)
                waits.append(float(value) - sent)
            return {"poll_delay_s": delay, "median_wait_ms": statistics.median(waits) * 1000,
                    "p90_wait_ms": sorted(waits)[int(0.9 * len(waits))] * 1000,
                    "idle_cpu_percent": idle_cpu * 100}
        finally:
            await pool.aclose()

    try:
        return asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delays", default="0,0.005,0.01,0.02,0.05,0.1",
                        help="poll delays; 0 is the hub's waking worker")
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU sampling")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    redis = RedisServer().start()
    try:
        for delay in (float(d) for d in args.delays.split(",")):
            row = measure(redis, delay, args.jobs, args.idle)
            print("  ".join(f"{k}={v:.3g}" for k, v in row.items()), flush=True)
    finally:
        redis.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        import contextlib

        with contextlib.suppress(KeyboardInterrupt):
            worker(sys.argv[2], float(sys.argv[3]))
        sys.exit(0)
    sys.exit(main())
