"""Embedded-mode throughput: posts accepted per second through POST /api/posts (3 targets
each) and the time from accept to all deliveries done, against `hub serve` in a subprocess.

Figures are reported as ratios to a baseline measured in the same run (GET /healthz, which
touches the database once), because this machine is shared and noisy.

    .venv/bin/python bench/bench_embedded.py [--posts 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
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


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _timed(client: httpx.AsyncClient, n: int, concurrency: int, make) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            r = await make(client, i)
            r.raise_for_status()

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return n / (time.perf_counter() - start)


async def main(posts: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, policies = Path(tmp) / "var", Path(tmp) / "policies"
        policies.mkdir()
        (policies / "hub.yaml").write_text(POLICY)
        port = _port()
        env = {**os.environ, "HUB_DATA_DIR": str(data), "HUB_POLICY_DIR": str(policies),
               "HUB_PORT": str(port), "HUB_LOG_LEVEL": "warning", "HUB_SWEEP_SECONDS": "1"}
        hub = [sys.executable, "-m", "hub.entrypoints.cli"]
        out = subprocess.run([*hub, "init"], env=env, cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        token = next(w for w in out.split() if w.startswith("hub_"))
        for name in ("a", "b", "c"):
            subprocess.run([*hub, "people", "add", f"reader-{name}", "--list", name], env=env,
                           cwd=ROOT, check=True, capture_output=True)
        server = subprocess.Popen([*hub, "serve"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                for _ in range(200):
                    try:
                        await client.get("/healthz")
                        break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                baseline = await _timed(client, posts, concurrency,
                                        lambda c, i: c.get("/healthz"))
                accepted = await _timed(client, posts, concurrency, lambda c, i: c.post(
                    "/api/posts", json={"text": f"bench {i}", "audiences": ["bench"]},
                    headers=auth))
                latencies = []
                for i in range(20):
                    t0 = time.perf_counter()
                    r = await client.post("/api/posts", json={"text": f"latency {i}",
                                                              "audiences": ["bench"]},
                                          headers=auth)
                    post_id = r.json()["id"]
                    while True:
                        view = (await client.get(f"/api/posts/{post_id}", headers=auth)).json()
                        if all(d["status"] == "published" for d in view["deliveries"]):
                            break
                        await asyncio.sleep(0.005)
                    latencies.append(time.perf_counter() - t0)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(20)
    print(f"baseline GET /healthz: {baseline:8.1f} req/s")
    print(f"POST /api/posts (3 targets): {accepted:8.1f} posts/s "
          f"= {accepted / baseline:.2f} x baseline")
    med = statistics.median(latencies)
    print(f"accept -> 3 deliveries published: median {med * 1000:.0f} ms, "
          f"p90 {sorted(latencies)[int(len(latencies) * 0.9) - 1] * 1000:.0f} ms "
          f"= {med * baseline:.1f} x one baseline request")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.concurrency))
