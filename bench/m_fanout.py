"""Fan-out: from sending ``POST /api/posts`` to the last of its 8 deliveries answered by a
platform that takes 100 ms per request, embedded mode (``hub serve`` with its default
``HUB_WORKERS``), beside ``asyncio.gather`` of the same 8 requests from one process (httpx
clients kept open, as the hub's adapters keep theirs). The platform is 8 signed-webhook
accounts pointing at one local receiver (``bench._http.SlowPlatform``)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench._http import SlowPlatform, call, request_bytes
from bench._procs import hub_dir
from bench._suite import Figures, Measure, Ratio

TARGETS = 8
DELAY = 0.1
POSTS = 5
POLICY = "version: 1\naccounts: [{}]\ntargets:\n{}\naudiences:\n  fan: {{reach: world, " \
         "targets: [{}]}}\n".format(
             ", ".join(f"webhook:w{n}" for n in range(TARGETS)),
             "\n".join(f"  t{n}: {{account: webhook:w{n}, reach: world}}" for n in range(TARGETS)),
             ", ".join(f"t{n}" for n in range(TARGETS)))


class FanoutPair:
    def __init__(self, platform: SlowPlatform, port: int, token: str, db: str) -> None:
        self.platform, self.port, self.token, self.db = platform, port, token, db
        self.sent = 0

    def _post(self, n: int) -> float:
        body = json.dumps({"text": f"fan-out {n}", "audiences": ["fan"]}).encode()
        raw = request_bytes("POST", "/api/posts", body, {
            "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        t0 = time.monotonic()
        status, answer = asyncio.run(call(self.port, raw))
        if status != 202:
            raise RuntimeError(f"POST /api/posts answered {status}: {answer[:200]!r}")
        self.sent += TARGETS
        end = self.platform.wait_for(self.sent)
        self._recorded(json.loads(answer)["id"])
        return end - t0

    def _recorded(self, post_id: str) -> None:
        """Wait until the hub has recorded all of them, so the next post starts clean."""
        deadline = time.monotonic() + 30
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            while time.monotonic() < deadline:
                done = conn.execute("SELECT count(*) FROM delivery WHERE post_id = ? AND "
                                    "status = 'published'", (post_id,)).fetchone()[0]
                if done == TARGETS:
                    return
                time.sleep(0.01)
        raise RuntimeError(f"post {post_id}: not all {TARGETS} deliveries were recorded")

    def subject(self) -> Figures:
        times = [self._post(n) for n in range(POSTS)]
        return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}

    def baseline(self) -> Figures:
        import httpx

        async def gathers() -> list[float]:
            clients = [httpx.AsyncClient(timeout=10) for _ in range(TARGETS)]
            body = json.dumps({"type": "post.published", "data": {"text": "x" * 40}})
            out = []
            try:
                for _ in range(POSTS + 1):
                    t0 = time.monotonic()
                    await asyncio.gather(*(c.post(self.platform.url, content=body)
                                           for c in clients))
                    out.append(time.monotonic() - t0)
            finally:
                for c in clients:
                    await c.aclose()
            return out[1:]    # the first opens the connections, as the hub's first post did

        before = len(self.platform.answered)
        times = asyncio.run(gathers())
        self.sent += len(self.platform.answered) - before
        return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}


@contextmanager
def _open() -> Iterator[FanoutPair]:
    import adapters.webhook
    from adapters.webhook.signing import new_secret
    from hub.services.accounts import connect_account

    with SlowPlatform(DELAY) as platform, hub_dir(POLICY) as hd:
        hub = hd.build()
        for n in range(TARGETS):
            asyncio.run(connect_account(hub, f"webhook:w{n}",
                                        {"url": platform.url, "timeout": 10}, new_secret(),
                                        adapters.webhook.connect))
        hub.db.dispose()
        with hd.serve() as (port, _pid):
            pair = FanoutPair(platform, port, hd.token, str(hd.tmp / "var" / "hub.db"))
            pair._post(-1)     # warm: adapters load and open their clients on first use
            yield pair


MEASURES = [Measure(
    f"fan-out: POST → last of {TARGETS} deliveries ({DELAY * 1000:.0f} ms platform), embedded "
    f"vs asyncio.gather of the {TARGETS} calls", _open,
    (Ratio("median time to the last delivery", lambda b, s: s["median_ms"] / b["median_ms"],
           "≤ 1.10×", lambda r, s: r <= 1.10, "median_ms"),))]
