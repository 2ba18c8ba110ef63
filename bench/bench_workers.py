"""Distributed-mode throughput and recovery, each figure beside a baseline from the same run.

    .venv/bin/python bench/bench_workers.py [--deliveries 300] [--workers 1,2,4] [--kills 3]

1. Deliveries per second with 1, 2 and 4 ``hub worker`` processes (PostgreSQL, a private
   redis-server, the feed adapter so that the figure is the hub's own cost: claim, policy
   re-check, who-could-see snapshot, hash-chained audit append), and the same number of plain
   arq workers running a no-op job on the same Redis. Both start from deferred jobs that fall
   due at one instant and stop when the last one is done; the figure is the ratio hub / arq.
2. Recovery after ``kill -9``: a worker is killed while it holds deliveries (the SMTP server
   is slow, so they are in flight); the time until another worker has finished all of them,
   beside the lease it had to wait for.

Needs PostgreSQL (``HUB_TEST_POSTGRES``, default postgresql://postgres@127.0.0.1:5432/test) and
``redis-server``; everything runs on 127.0.0.1 and is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.bootstrap import build_hub  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.dispatch.topology import LocalTopology, RedisServer  # noqa: E402
from hub.services.people import NewPerson, add_person  # noqa: E402
from hub.services.posts import FINAL, Author, PostInput, submit_post  # noqa: E402
from hub.store.db import make_engine  # noqa: E402
from hub.store.migrate import upgrade  # noqa: E402
from hub.store.tables import DeliveryRow  # noqa: E402

PG = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
KEY = "bench-key-not-for-production"
POLICY = """\
version: 1
accounts: [feed:site, email:personal]
targets:
  readers-feed: {account: feed:site, list: readers}
  readers-feed-2: {account: feed:site, list: readers}
  readers-feed-3: {account: feed:site, list: readers}
  readers-feed-4: {account: feed:site, list: readers}
  friends-mail: {account: email:personal, list: friends, mode: bcc}
audiences:
  readers: {targets: [readers-feed, readers-feed-2, readers-feed-3, readers-feed-4]}
  friends: {targets: [friends-mail]}
rules: []
"""
CONCURRENCY = 10
POLL = 0.1
SWEEP = 0.5
PER_POST = 4
"""Deliveries per submitted post (the readers audience has four feed targets)."""


# -- the arq baseline: a no-op job, the same worker settings ------------------------------------

async def noop(ctx: dict[str, Any]) -> None:
    redis = ctx["redis"]
    if await redis.incr("bench:done") == int(await redis.get("bench:total") or 0):
        await redis.set("bench:end", repr(time.time()))   # the last one says when


async def _ready(ctx: dict[str, Any]) -> None:
    await ctx["redis"].incr("bench:ready")


def noop_worker(url: str) -> None:
    from arq.worker import Worker

    from hub.dispatch.queue import redis_settings

    Worker(functions=[noop], redis_settings=redis_settings(url, patient=True),
           max_jobs=CONCURRENCY, poll_delay=POLL, keep_result=0, on_startup=_ready).run()


class Overrun(RuntimeError):
    """Submitting took longer than planned: some work could have started before the clock."""


def _instant(per_item: float, items: int, slack: float) -> datetime:
    """When everything should fall due: after the measured submit time, with room to spare."""
    return datetime.now(UTC) + timedelta(seconds=1.5 * per_item * items + slack)


def _check_in_time(at: datetime, slack: float) -> None:
    late = (datetime.now(UTC) - (at - timedelta(seconds=slack))).total_seconds()
    if late > 0:
        raise Overrun(f"submitting ended {late:.2f} s too late")


class ArqBaseline:
    """Plain arq workers running ``noop`` over ``redis``; the enqueue rate is measured."""

    def __init__(self, redis: RedisServer, logs: Path) -> None:
        self.redis, self.logs = redis, logs
        self.per_enqueue = 0.004

    def rate(self, workers: int, jobs: int) -> float:
        for _ in range(3):
            try:
                return self._rate(workers, jobs)
            except Overrun as exc:
                print(f"arq baseline: {exc}; again with the measured enqueue rate",
                      file=sys.stderr)
        raise RuntimeError("the arq baseline overran three times")

    def _rate(self, workers: int, jobs: int) -> float:
        from hub.dispatch.queue import connect

        async def prepare() -> None:
            pool = await connect(self.redis.url, patient=True)
            await pool.flushall()
            await pool.set("bench:total", jobs)
            await pool.aclose()

        asyncio.run(prepare())
        procs = [subprocess.Popen([sys.executable, __file__, "noop-worker", self.redis.url],
                                  stdout=(self.logs / f"noop-{workers}-{n}.log").open("ab"),
                                  stderr=subprocess.STDOUT) for n in range(workers)]

        async def run() -> float:
            pool = await connect(self.redis.url, patient=True)
            try:
                deadline = time.monotonic() + 60
                while int(await pool.get("bench:ready") or 0) < workers:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the arq workers did not start within 60 s")
                    await asyncio.sleep(0.02)
                at = _instant(self.per_enqueue, jobs, 0.5)
                t0 = time.monotonic()
                for n in range(jobs):
                    await pool.enqueue_job("noop", _job_id=f"noop:{n}", _defer_until=at)
                self.per_enqueue = (time.monotonic() - t0) / jobs
                _check_in_time(at, 0.2)
                deadline = time.monotonic() + 120
                while (end := await pool.get("bench:end")) is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the arq workers did not finish within 120 s")
                    await asyncio.sleep(0.01)
                return jobs / (float(end) - at.timestamp())
            finally:
                await pool.aclose()

        try:
            return asyncio.run(run())
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(15)


def arq_rate(redis: RedisServer, workers: int, jobs: int, logs: Path) -> float:
    return ArqBaseline(redis, logs).rate(workers, jobs)


# -- the hub ------------------------------------------------------------------------------------

class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        self.url = f"{PG}?options=-csearch_path%3D{self.schema}"
        (tmp / "policies").mkdir()
        (tmp / "policies" / "hub.yaml").write_text(POLICY)
        (tmp / "var").mkdir()
        self.env = {"HUB_DATA_DIR": str(tmp / "var"), "HUB_POLICY_DIR": str(tmp / "policies"),
                    "HUB_DATABASE_URL": self.url, "HUB_SECRET_KEY": KEY,
                    "HUB_SWEEP_SECONDS": str(SWEEP), "HUB_LOG_LEVEL": "warning"}
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()
        self.hub = build_hub(Settings(data_dir=tmp / "var", policy_dir=tmp / "policies",
                                      database_url=self.url, secret_key=KEY))
        for i in range(3):
            add_person(self.hub, NewPerson(f"Reader {i}", [], ["readers"]))
            add_person(self.hub, NewPerson(f"Friend {i}",
                                           [("email", f"friend{i}@example.org")], ["friends"]))
        self.per_submit = self._calibrate()

    def _calibrate(self, n: int = 10) -> float:
        """Seconds per submitted post, from posts scheduled beyond the sweeper's horizon."""
        later = datetime.now(UTC) + timedelta(hours=3)
        t0 = time.monotonic()
        for i in range(n):
            submit_post(self.hub, PostInput(f"calibrate {i}", ["readers"], schedule_at=later),
                        Author())
        return (time.monotonic() - t0) / n

    def close(self) -> None:
        self.hub.db.dispose()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {self.schema} CASCADE")

    def _finished(self) -> tuple[int, datetime | None]:
        with self.hub.db.read() as s:
            count, last = s.exec(select(func.count(), func.max(DeliveryRow.finished))
                                 .where(col(DeliveryRow.status).in_(list(FINAL)))).one()
            return int(count), last

    def topology(self, workers: int) -> LocalTopology:
        return LocalTopology(self.env, workers=workers, concurrency=CONCURRENCY,
                             log_dir=self.tmp / f"logs-{workers}", cwd=ROOT)

    def start_workers(self, topology: LocalTopology) -> None:
        """The topology's ``hub worker`` processes only (this process submits), until each
        has a heartbeat in Redis."""
        from hub.dispatch.queue import connect, live_workers

        topology.workers = []
        for _ in range(topology.count):
            topology.start_worker()
        pids = {w.pid for w in topology.workers}

        async def wait() -> None:
            redis = await connect(topology.redis.url, patient=True)
            try:
                deadline = time.monotonic() + 120
                while {int(str(w["pid"])) for w in await live_workers(redis)} < pids:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"workers did not beat; logs in {topology.log_dir}")
                    await asyncio.sleep(0.05)
            finally:
                await redis.aclose()

        asyncio.run(wait())

    def hub_rate(self, topology: LocalTopology, deliveries: int) -> float:
        """Deliveries per second, workers already running: every delivery is scheduled for
        one instant (the sweeper holds them as deferred jobs); the clock runs from that
        instant to the last ``finished`` timestamp. The instant is chosen from the measured
        submit rate; a run whose submissions end too close to it is rejected and redone."""
        for _ in range(3):
            try:
                return self._hub_rate(deliveries)
            except Overrun as exc:
                print(f"hub: {exc}; again with the measured submit rate", file=sys.stderr)
        raise RuntimeError("the hub run overran three times")

    def _hub_rate(self, deliveries: int) -> float:
        before, _ = self._finished()
        slack = 2 * SWEEP + 0.5        # the sweeper must have put them all in Redis in time
        posts = -(-deliveries // PER_POST)
        deliveries = posts * PER_POST
        at = _instant(self.per_submit, posts, slack)
        t0 = time.monotonic()
        for n in range(posts):
            submit_post(self.hub, PostInput(f"bench {n}", ["readers"], schedule_at=at),
                        Author())
        self.per_submit = (time.monotonic() - t0) / posts
        overrun: Overrun | None = None
        try:
            _check_in_time(at, 2 * SWEEP)
        except Overrun as exc:
            overrun = exc
        deadline = time.monotonic() + 600
        while (done := self._finished())[0] - before < deliveries:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not finish within 10 minutes")
            time.sleep(0.05)
        if overrun is not None:
            raise overrun
        last = done[1]
        assert last is not None
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        return deliveries / (last - at).total_seconds()

    def recovery(self, kills: int, lease: int) -> list[float]:
        """Seconds from kill -9 of a worker holding deliveries to their being finished."""
        import adapters.email
        from hub.services.accounts import connect_account
        from tests.faults.smtp import FaultySmtpServer

        env = {**self.env, "HUB_LEASE_SECONDS": str(lease)}
        results = []
        with FaultySmtpServer() as smtp:
            asyncio.run(connect_account(self.hub, "email:personal",
                                        smtp.account_settings(timeout=lease * 0.6), "",
                                        adapters.email.connect))
            topology = LocalTopology(env, workers=2, concurrency=CONCURRENCY,
                                     log_dir=self.tmp / "logs-kill", cwd=ROOT)
            with topology:
                for _ in range(kills):
                    smtp.inbox.stall(1000, lease * 0.3)   # in flight long enough to be caught
                    ids = [d.id for _ in range(6) for d in submit_post(
                        self.hub, PostInput("kill", ["friends"]), Author()).deliveries]
                    victim, held = self._holder(topology, ids)
                    killed_at = datetime.now(UTC)
                    topology.kill_worker(victim)
                    smtp.inbox.clear()
                    finished = self._wait_finished(held)
                    results.append((finished - killed_at).total_seconds())
                    topology.workers.remove(victim)
                    topology.start_worker()
                    topology.wait_healthy(timeout=120)
        return results

    def _holder(self, topology: LocalTopology, ids: list[str]) -> tuple[Any, list[str]]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.hub.db.read() as s:
                rows = s.exec(select(DeliveryRow.id, DeliveryRow.lease_owner)
                              .where(col(DeliveryRow.id).in_(ids),
                                     DeliveryRow.status == "in_flight")).all()
            for worker in topology.live_workers():
                held = [i for i, owner in rows if owner and f"-{worker.pid}#" in owner]
                if held:
                    return worker, held
            time.sleep(0.02)
        raise RuntimeError("no worker took the deliveries")

    def _wait_finished(self, ids: list[str]) -> datetime:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with self.hub.db.read() as s:
                rows = s.exec(select(DeliveryRow.status, DeliveryRow.finished)
                              .where(col(DeliveryRow.id).in_(ids))).all()
            if all(status in FINAL for status, _ in rows):
                return max(f for _, f in rows if f is not None)
            time.sleep(0.02)
        raise RuntimeError("the killed worker's deliveries were not finished")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--lease", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    figures: dict[str, Any] = {"deliveries": args.deliveries, "concurrency": CONCURRENCY,
                               "poll_delay": POLL, "cpus": os.cpu_count(), "throughput": []}
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            for w in counts:
                topology = bench.topology(w)
                topology.redis.start()
                try:
                    base = ArqBaseline(topology.redis, Path(tmp)).rate(w, args.deliveries)
                    bench.start_workers(topology)
                    hub_rate = bench.hub_rate(topology, args.deliveries)
                finally:
                    topology.stop()
                row = {"workers": w, "hub_per_s": round(hub_rate, 1),
                       "arq_noop_per_s": round(base, 1), "ratio": round(hub_rate / base, 3)}
                figures["throughput"].append(row)
                print(json.dumps(row), flush=True)
            one = figures["throughput"][0]["hub_per_s"]
            for row in figures["throughput"]:
                row["scaling_vs_1"] = round(row["hub_per_s"] / one, 2)
            if args.kills:
                seconds = bench.recovery(args.kills, args.lease)
                figures["recovery"] = {
                    "lease_seconds": args.lease, "seconds": [round(x, 2) for x in seconds],
                    "median_seconds": round(statistics.median(seconds), 2),
                    "median_over_lease": round(statistics.median(seconds) / args.lease, 2)}
                print(json.dumps(figures["recovery"]), flush=True)
        finally:
            bench.close()
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "noop-worker":
        with contextlib.suppress(KeyboardInterrupt):
            noop_worker(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
