"""A contact sync of 10,000 followers (and 2,000 follows) into embedded ``hub serve``'s SQLite
database, as ``hub contacts sync`` runs it beside the server, while ``/healthz`` (which takes
the write lock: it opens a write transaction) is asked every 10 ms; beside the same
``/healthz`` probe with nothing else running.

Figures: /healthz p99 and max during the sync against idle, and the sync's longest write
transaction (lock wait and hold, timed in the sync's process): the sync writes one page (80
rows) a transaction and marks who is gone 500 rows a transaction, so nothing waits long."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench._http import call, request_bytes
from bench._procs import ROOT, hub_dir
from bench._suite import Figures, Measure, Ratio
from bench.m_people import POLICY

FOLLOWERS = 10_000
HEALTHZ = request_bytes("GET", "/healthz", b"", {})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _probe(port: int, until: asyncio.Event | float) -> list[float]:
    """/healthz latencies (s), one request every 10 ms, until the event is set or the time
    (monotonic) has passed."""
    lat: list[float] = []
    while True:
        if isinstance(until, asyncio.Event) and until.is_set():
            return lat
        if isinstance(until, float) and time.monotonic() >= until:
            return lat
        t0 = time.monotonic()
        status, body = await call(port, HEALTHZ)
        lat.append(time.monotonic() - t0)
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}: {body[:200]!r}")
        await asyncio.sleep(0.01)


def _figures(lat: list[float]) -> Figures:
    return {"p50_ms": _percentile(lat, 0.5) * 1000, "p99_ms": _percentile(lat, 0.99) * 1000,
            "max_ms": max(lat) * 1000, "probes": float(len(lat))}


class ContactsPair:
    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port, self.env = port, env
        self.accounts = itertools.count(1)

    def baseline(self) -> Figures:
        return _figures(asyncio.run(_probe(self.port, time.monotonic() + 3.0)))

    def subject(self) -> Figures:
        account = f"mastodon:bench{next(self.accounts)}"   # every contact new each round

        async def run() -> tuple[list[float], dict[str, Any]]:
            done = asyncio.Event()
            probe = asyncio.create_task(_probe(self.port, done))
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench._contacts_sync", account, str(FOLLOWERS),
                env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await child.communicate()
            done.set()
            lat = await probe
            if child.returncode != 0:
                raise RuntimeError(f"the sync failed: {err.decode()[-2000:]}")
            return lat, json.loads(out.decode().strip().splitlines()[-1])

        lat, sync = asyncio.run(run())
        return {**_figures(lat), "longest_tx_ms": sync["longest_tx_ms"],
                "sync_s": sync["seconds"], "transactions": float(sync["transactions"])}


@contextmanager
def _open() -> Iterator[ContactsPair]:
    with hub_dir(POLICY) as hd, hd.serve() as (port, _pid):
        yield ContactsPair(port, {**hd.env, "PYTHONPATH": str(ROOT) + os.pathsep
                                  + hd.env.get("PYTHONPATH", "")})


MEASURES = [Measure(f"contact sync of {FOLLOWERS:,} followers + {FOLLOWERS // 5:,} follows "
                    "beside hub serve (SQLite) vs idle", _open, (
    Ratio("/healthz p99 during the sync", lambda b, s: s["p99_ms"] / b["p99_ms"], "≤ 3×",
          lambda r, s: r <= 3, "p99_ms"),
    Ratio("/healthz slowest during the sync", lambda b, s: s["max_ms"] / b["max_ms"],
          "(reported)", lambda r, s: True, "max_ms"),
    Ratio("the sync's longest write transaction", lambda b, s: s["longest_tx_ms"] / b["p50_ms"],
          "≤ 100 ms absolute", lambda r, s: s["longest_tx_ms"] <= 100, "longest_tx_ms",
          "p50_ms"),
    Ratio("sync time (s), 12,000 relationships", lambda b, s: s["sync_s"],
          "(reported)", lambda r, s: True, "sync_s", "p50_ms")))]
