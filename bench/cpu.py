"""CPU per unit of work, in one process, for profiling the hot paths (not a suite measure: the
figures are absolute, so compare them only with a run of the other code on the same machine,
interleaved, as ``--before`` advises).

    .venv/bin/python -m bench.cpu                      # POST on PostgreSQL and SQLite, delivery
    .venv/bin/python -m bench.cpu --only post-pg --spy /tmp/post.txt   # and a py-spy profile

- ``post-pg`` / ``post-sqlite``: ``POST /api/posts`` (3 feed targets) through the ASGI app of
  ``web.app.create_app`` with its lifespan (the runtime of its mode: the arq enqueuer on a
  private redis-server, or embedded workers, and the audit sequencer), 4 requests at a time,
  no HTTP server: the process's CPU time per post (``time.process_time``, every thread).
- ``delivery``: ``hub.dispatch.jobs.run_delivery`` for posts already written (PostgreSQL, 4 feed
  targets each, 10 at a time as an arq worker's ``max_jobs``): CPU per delivery, claim to
  outcome, without arq's own work.

``--spy FILE`` records the measured part with py-spy (``pip install py-spy`` into the venv;
``--gil``: only the thread holding the GIL, i.e. Python CPU) as raw collapsed stacks and prints
the share of the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _spy(out: str | None) -> Callable[[], None]:
    """Start py-spy on this process; the returned function stops it."""
    if not out:
        return lambda: None
    proc = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                             str(os.getpid()), "-r", "500", "-f", "raw", "-o", out, "--gil",
                             "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1.0)

    def stop() -> None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        _top(out)

    return stop


def _top(path: str, n: int = 25) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for name in {f.split(" (")[0] for f in stack.split(";")}:
            inclusive[name] += int(count)
    print(f"  py-spy: {total} samples; inclusive share of the top functions:")
    for name, count in inclusive.most_common(n):
        print(f"  {100 * count / total:5.1f}%  {name}")


async def _asgi_post(app: Any, token: str, n: int) -> None:
    body = json.dumps({"text": f"bench post {n}", "audiences": ["bench"]}).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/api/posts",
             "raw_path": b"/api/posts", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {token}".encode()),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80), "state": {}}
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [202]:
        raise RuntimeError(f"POST /api/posts answered {status}")


def posts(mode: str, count: int, spy: str | None) -> float:
    from bench._procs import hub_dir, pg_schema
    from bench.m_submit import POLICY, _readers

    with ExitStack() as stack:
        extra: dict[str, str] = {}
        if mode == "pg":
            from hub.dispatch.topology import RedisServer

            url = stack.enter_context(pg_schema())
            hd = stack.enter_context(hub_dir(POLICY, database_url=url))
            redis = RedisServer(log=hd.tmp / "redis.log").start()
            stack.callback(redis.stop)
            extra["HUB_REDIS_URL"] = redis.url
        else:
            hd = stack.enter_context(hub_dir(POLICY))
        _readers(hd)
        saved = dict(os.environ)
        os.environ.update({**hd.env, **extra})    # Settings() reads the environment
        try:
            return asyncio.run(_run_posts(hd.token, count, spy))
        finally:
            os.environ.clear()
            os.environ.update(saved)


async def _run_posts(token: str, count: int, spy: str | None) -> float:
    from hub.config import Settings
    from web.app import create_app

    app = create_app(Settings())
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    life = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"},
                                    "state": {}}, inbox.get, outbox.put))
    if (await outbox.get())["type"] != "lifespan.startup.complete":
        raise RuntimeError("the app did not start")
    for i in range(50):                         # warm: imports, caches, connections
        await _asgi_post(app, token, i)
    at_once = 4

    async def client(k: int) -> None:
        for i in range(count // at_once):
            await _asgi_post(app, token, 1000 + k * count + i)

    stop = _spy(spy)
    started = time.process_time()
    await asyncio.gather(*(client(k) for k in range(at_once)))
    cpu = time.process_time() - started
    stop()
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await life
    return 1000 * cpu / (count // at_once * at_once)


def deliveries(count: int, spy: str | None) -> float:
    from bench.bench_workers import Bench
    from hub.dispatch.jobs import run_delivery
    from hub.metrics import LocalMetrics
    from hub.services.posts import Author, PostInput, submit_post

    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        bench = Bench(Path(tmp))
        hub = bench.hub
        metrics = LocalMetrics()
        try:
            def written(n: int) -> list[str]:
                return [d.id for i in range(-(-n // 4)) for d in submit_post(
                    hub, PostInput(f"p {i}", ["readers"]), Author()).deliveries]

            async def run(ids: list[str]) -> None:
                slots = asyncio.Semaphore(10)

                async def one(k: int, delivery_id: str) -> None:
                    async with slots:
                        attempt = await run_delivery(hub, delivery_id, worker=f"w-{k}",
                                                     metrics=metrics)
                        if attempt.status != "published":
                            raise RuntimeError(f"{delivery_id}: {attempt}")

                await asyncio.gather(*(one(k, i) for k, i in enumerate(ids)))

            asyncio.run(run(written(40)))
            ids = written(count)
            stop = _spy(spy)
            started = time.process_time()
            asyncio.run(run(ids))
            cpu = time.process_time() - started
            stop()
            return 1000 * cpu / len(ids)
        finally:
            bench.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="post-pg,post-sqlite,delivery")
    parser.add_argument("--posts", type=int, default=800)
    parser.add_argument("--deliveries", type=int, default=600)
    parser.add_argument("--spy", help="py-spy raw output file (one measure only)")
    args = parser.parse_args(argv)
    from hub.logging import configure_logging

    configure_logging("warning")
    for name in args.only.split(","):
        if name.startswith("post-"):
            ms = posts(name.removeprefix("post-"), args.posts, args.spy)
            print(f"{name}: {ms:.2f} ms CPU per POST /api/posts (in-process ASGI)", flush=True)
        elif name == "delivery":
            ms = deliveries(args.deliveries, args.spy)
            print(f"delivery: {ms:.2f} ms CPU per delivery (PostgreSQL, feed)", flush=True)
        else:
            parser.error(f"unknown measure {name!r}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
