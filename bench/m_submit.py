"""``POST /api/posts`` under 64 concurrent keep-alive clients: p99 latency and throughput of
the hub (3 private-feed targets, one reader each) beside a bare FastAPI app doing one INSERT.

Embedded: ``hub serve`` on SQLite, deliveries published in the same process while it accepts
(that is embedded mode); between rounds the benchmark waits until they are all done, so a
round never pays for the one before. PostgreSQL + Redis: ``hub serve`` with a private
redis-server; it enqueues each delivery and no worker runs (workers are measured apart)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from bench._http import load, request_bytes
from bench._procs import bare, hub_dir, pg_schema
from bench._suite import Figures, Measure, Ratio

CLIENTS = 64
SECONDS = 4.0
POLICY = """\
version: 1
accounts: [feed:site]
targets:
  a: {account: feed:site, list: a}
  b: {account: feed:site, list: b}
  c: {account: feed:site, list: c}
audiences:
  bench: {reach: recipients, targets: [a, b, c]}
"""


class SubmitPair:
    def __init__(self, hub_port: int, bare_port: int, token: str, backlog: object) -> None:
        self.hub_port, self.bare_port, self.token = hub_port, bare_port, token
        self.backlog = backlog

    def warm(self) -> None:
        """A second of each, unrecorded: first requests pay for imports and caches."""
        self._run(self.bare_port, auth=False, seconds=1.0)
        self._run(self.hub_port, auth=True, seconds=1.0)
        self.backlog()   # type: ignore[operator]

    def _run(self, port: int, auth: bool, seconds: float = SECONDS) -> Figures:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"

        def make(n: int) -> bytes:
            body = json.dumps({"text": f"bench post {n}", "audiences": ["bench"]}).encode()
            return request_bytes("POST", "/api/posts", body, headers)

        result = asyncio.run(load(port, make, clients=CLIENTS, seconds=seconds, expect=202))
        if result.errors:
            raise RuntimeError(f"unexpected answers: {result.errors}")
        return result.figures()

    def baseline(self) -> Figures:
        return self._run(self.bare_port, auth=False)

    def subject(self) -> Figures:
        figures = self._run(self.hub_port, auth=True)
        started = time.monotonic()
        self.backlog()   # type: ignore[operator]
        figures["drain_s"] = time.monotonic() - started
        return figures


def _sqlite_backlog(db: str) -> object:
    import sqlite3

    def wait() -> None:
        deadline = time.monotonic() + 120
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            while time.monotonic() < deadline:
                left = conn.execute("SELECT count(*) FROM delivery WHERE status IN "
                                    "('pending', 'in_flight')").fetchone()[0]
                if left == 0:
                    return
                time.sleep(0.1)
        raise RuntimeError("the embedded workers did not finish the backlog in 120 s")

    return wait


@contextmanager
def _embedded() -> Iterator[SubmitPair]:
    with hub_dir(POLICY) as hd, ExitStack() as stack:
        _readers(hd)
        db = str(hd.tmp / "var" / "hub.db")
        bare_port, _ = stack.enter_context(bare("sqlite", str(hd.tmp / "bare.db")))
        hub_port, _ = stack.enter_context(hd.serve())
        pair = SubmitPair(hub_port, bare_port, hd.token, _sqlite_backlog(db))
        pair.warm()
        yield pair


@contextmanager
def _postgres() -> Iterator[SubmitPair]:
    from hub.dispatch.topology import RedisServer

    with pg_schema() as url, hub_dir(POLICY, database_url=url) as hd, ExitStack() as stack:
        _readers(hd)
        redis = RedisServer(log=hd.tmp / "redis.log").start()
        stack.callback(redis.stop)
        bare_port, _ = stack.enter_context(bare("postgres", url))
        hub_port, _ = stack.enter_context(hd.serve({"HUB_REDIS_URL": redis.url}))
        pair = SubmitPair(hub_port, bare_port, hd.token, lambda: None)
        pair.warm()
        yield pair


def _readers(hd: object) -> None:
    from hub.services.people import NewPerson, add_person

    hub = hd.build()   # type: ignore[attr-defined]
    for name in ("a", "b", "c"):
        add_person(hub, NewPerson(f"reader-{name}", [], [name]))
    hub.db.dispose()


def _ratios(where: str) -> tuple[Ratio, ...]:
    return (
        Ratio(f"p99 latency, {CLIENTS} clients ({where})",
              lambda b, s: s["p99_ms"] / b["p99_ms"], "≤ 2×", lambda r, s: r <= 2.0, "p99_ms"),
        Ratio(f"throughput ({where})", lambda b, s: s["req_per_s"] / b["req_per_s"], "≥ 0.5×",
              lambda r, s: r >= 0.5, "req_per_s"),
    )


MEASURES = [
    Measure("POST /api/posts, embedded (SQLite) vs bare FastAPI + 1 SQLite INSERT", _embedded,
            _ratios("embedded")),
    Measure("POST /api/posts, PostgreSQL + Redis vs bare FastAPI + 1 PostgreSQL INSERT",
            _postgres, _ratios("PostgreSQL + Redis")),
]
