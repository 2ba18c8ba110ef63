"""Mastodon adapter cost: ``prepare`` (pure) per draft, and ``publish`` round trips against the
contract-checked double in a subprocess, as a ratio to one bare request to the same server
(the machine is shared and noisy, so absolute figures mean little).

    .venv/bin/python bench/bench_mastodon.py [--posts 200]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from adapters.mastodon import SCOPES, build, connect
from hub.domain.model import (
    Identity,
    IdentityKind,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Reach,
    Target,
)
from hub.domain.tid import make_tid
from hub.ports import Connection

ROOT = Path(__file__).resolve().parent.parent


class Steps:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def record(self, name: str, value: str) -> None:
        self.values[name] = value


class Credentials:
    async def save(self, account: str, secret: str) -> None:
        pass


async def main(posts: int) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "tests.mastodon_double", "--port",
                               str(port)], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(100):
                try:
                    await http.get("/_double/health")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            owner = (await http.post("/_double/accounts", json={
                "username": "hub", "scopes": list(SCOPES)})).json()
            started = time.perf_counter()
            for _ in range(posts):
                await http.get("/api/v1/accounts/verify_credentials",
                               headers={"Authorization": f"Bearer {owner['token']}"})
            baseline = (time.perf_counter() - started) / posts
        settings, secret = await connect({"instance": base}, owner["token"])
        pub = build(Connection("mastodon:bench", settings, secret), Credentials())
        people = PeopleSnapshot(
            {PersonId(f"p{i}"): Person(PersonId(f"p{i}"), f"P{i}", (Identity(
                IdentityKind.MASTODON, f"@member_{i:02d}@far.example"),)) for i in range(12)},
            {"friends": frozenset(PersonId(f"p{i}") for i in range(12))})
        direct = Target("dm", "mastodon:bench", Reach.RECIPIENTS,
                        {"visibility": "direct", "list": "friends"})
        public = Target("pub", "mastodon:bench", Reach.WORLD, {"visibility": "public"})
        text = "Moving house next month, https://example.org/details " * 6
        post = Post(PostId("p"), text, ("a",), datetime.now(UTC))
        timings = []
        for _ in range(posts):
            t0 = time.perf_counter()
            pub.prepare(post, direct, people)
            timings.append(time.perf_counter() - t0)
        print(f"prepare, direct to 12 (500 chars): median {statistics.median(timings)*1e6:.0f} µs")
        started = time.perf_counter()
        for i in range(posts):
            draft = pub.prepare(Post(PostId(f"p{i}"), f"Post {i}", ("a",), datetime.now(UTC)),
                                public, people)
            await pub.publish(draft, key=make_tid(1_700_000_000_000_000 + i, 7), steps=Steps())
        per_post = (time.perf_counter() - started) / posts
        print(f"publish, public: {per_post*1e3:.1f} ms per post = "
              f"{per_post / baseline:.1f} x one bare request ({baseline*1e3:.1f} ms)")
        pub.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=200)
    asyncio.run(main(parser.parse_args().posts))
