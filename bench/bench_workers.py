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
  friends-mail: {account: email:personal, list: friends, mode: bcc}
audiences:
  readers: {targets: [readers-feed]}
  friends: {targets: [friends-mail]}
rules: []
"""
CONCURRENCY = 10
POLL = 0.1


# -- the arq baseline: a no-op job, the same worker settings ------------------------------------

async def noop(ctx: dict[str, Any]) -> None:
    await ctx["redis"].incr("bench:done")


def noop_worker(url: str) -> None:
    from arq.worker import Worker

    from hub.dispatch.queue import redis_settings

    Worker(functions=[noop], redis_settings=redis_settings(url, patient=True),
           max_jobs=CONCURRENCY, poll_delay=POLL, keep_result=0).run()


def arq_rate(redis: RedisServer, workers: int, jobs: int, logs: Path) -> float:
    procs = [subprocess.Popen([sys.executable, __file__, "noop-worker", redis.url],
                              stdout=(logs / f"noop-{workers}-{n}.log").open("wb"),
                              stderr=subprocess.STDOUT) for n in range(workers)]

    async def run() -> float:
        from hub.dispatch.queue import connect

        pool = await connect(redis.url, patient=True)
        await pool.flushall()
        at = datetime.now(UTC) + timedelta(seconds=3 + 0.004 * jobs)
        for n in range(jobs):
            await pool.enqueue_job("noop", _job_id=f"noop:{n}", _defer_until=at)
        await asyncio.sleep(max((at - datetime.now(UTC)).total_seconds(), 0))
        start = time.perf_counter()
        while int(await pool.get("bench:done") or 0) < jobs:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        await pool.aclose()
        return jobs / elapsed

    try:
        time.sleep(2.0)              # let the workers connect before the jobs fall due
        return asyncio.run(run())
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(15)


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
                    "HUB_SWEEP_SECONDS": "0.5", "HUB_LOG_LEVEL": "warning"}
        engine = make_engine(self.url)
        upgrade(engine)
        engine.dispose()
        self.hub = build_hub(Settings(data_dir=tmp / "var", policy_dir=tmp / "policies",
                                      database_url=self.url, secret_key=KEY))
        for i in range(3):
            add_person(self.hub, NewPerson(f"Reader {i}", [], ["readers"]))
            add_person(self.hub, NewPerson(f"Friend {i}",
                                           [("email", f"friend{i}@example.org")], ["friends"]))

    def close(self) -> None:
        self.hub.db.dispose()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {self.schema} CASCADE")

    def final(self) -> int:
        with self.hub.db.read() as s:
            return int(s.exec(select(func.count()).select_from(DeliveryRow)
                              .where(col(DeliveryRow.status).in_(list(FINAL)))).one())

    def hub_rate(self, workers: int, deliveries: int) -> tuple[float, LocalTopology]:
        topology = LocalTopology(self.env, workers=workers, concurrency=CONCURRENCY,
                                 log_dir=self.tmp / f"logs-{workers}", cwd=ROOT)
        topology.start(timeout=180)
        before = self.final()
        # every delivery falls due at one instant: the sweeper holds them as deferred jobs
        at = datetime.now(UTC) + timedelta(seconds=5 + 0.03 * deliveries)
        for n in range(deliveries):
            submit_post(self.hub, PostInput(f"bench {n}", ["readers"], schedule_at=at),
                        Author())
        time.sleep(max((at - datetime.now(UTC)).total_seconds(), 0))
        start = time.perf_counter()
        deadline = start + 600
        while self.final() - before < deliveries:
            if time.perf_counter() > deadline:
                raise RuntimeError("the workers did not finish within 10 minutes")
            time.sleep(0.02)
        return deliveries / (time.perf_counter() - start), topology

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
                hub_rate, topology = bench.hub_rate(w, args.deliveries)
                topology.stop_processes()     # the same Redis, now for arq alone
                try:
                    base = arq_rate(topology.redis, w, args.deliveries, Path(tmp))
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
