"""Distributed deliveries per second with 1 and 2 ``hub worker`` processes (PostgreSQL, a
private redis-server, private-feed targets: the hub's own cost per delivery) beside as many
plain arq workers running a no-op job on the same Redis with the same ``max_jobs`` and poll
delay. The mechanics (measured submit rate, rejected overruns, the clock from the instant
everything falls due to the last ``finished``) are in ``bench/bench_workers.py``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._suite import Figures, Measure, Ratio
from bench.bench_workers import ArqBaseline, Bench

DELIVERIES = 200


class WorkersPair:
    def __init__(self, bench: Bench, workers: int) -> None:
        self.bench = bench
        self.topology = bench.topology(workers)
        self.topology.redis.start()
        self.arq = ArqBaseline(self.topology.redis, bench.tmp)
        self.workers = workers

    def baseline(self) -> Figures:
        return {"per_s": self.arq.rate(self.workers, DELIVERIES)}

    def subject(self) -> Figures:
        self.bench.start_workers(self.topology)
        try:
            return {"per_s": self.bench.hub_rate(self.topology, DELIVERIES)}
        finally:
            self.topology.stop_processes()

    def close(self) -> None:
        self.topology.stop()


def _open(workers: int):  # type: ignore[no-untyped-def]
    @contextmanager
    def opened() -> Iterator[WorkersPair]:
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
            bench = Bench(Path(tmp))
            try:
                pair = WorkersPair(bench, workers)
                try:
                    yield pair
                finally:
                    pair.close()
            finally:
                bench.close()

    return opened


MEASURES = [
    Measure(f"distributed deliveries/s, {w} worker{'s' if w > 1 else ''} vs bare arq no-op "
            f"jobs (same Redis, max_jobs, poll delay)", _open(w),
            (Ratio("deliveries per second", lambda b, s: s["per_s"] / b["per_s"], "≥ 0.50×",
                   lambda r, s: r >= 0.5, "per_s"),))
    for w in (1, 2)]
