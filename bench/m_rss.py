"""Embedded idle memory: the resident set of ``hub serve`` (SQLite, in-process workers) after
it has accepted and published one post and then sat idle for a second, beside a bare uvicorn
serving a FastAPI hello world after one request. Each round starts both afresh."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench._http import call, request_bytes
from bench._procs import HubDir, bare, hub_dir, rss_mb
from bench._suite import Figures, Measure, Ratio
from bench.m_submit import POLICY

IDLE = 1.0


class RssPair:
    def __init__(self, hd: HubDir) -> None:
        self.hd = hd

    def baseline(self) -> Figures:
        with bare("hello") as (port, pid):
            status, _ = asyncio.run(call(port, request_bytes("GET", "/", b"", {})))
            assert status == 200
            time.sleep(IDLE)
            return {"rss_mb": rss_mb(pid)}

    def subject(self) -> Figures:
        with self.hd.serve() as (port, pid):
            body = json.dumps({"text": "one post", "audiences": ["bench"]}).encode()
            status, answer = asyncio.run(call(port, request_bytes("POST", "/api/posts", body, {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.hd.token}"})))
            assert status == 202, answer
            post_id = json.loads(answer)["id"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status, view = asyncio.run(call(port, request_bytes(
                    "GET", f"/api/posts/{post_id}", b"",
                    {"Authorization": f"Bearer {self.hd.token}"})))
                if json.loads(view)["status"] == "done":
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the post was not published within 30 s")
            time.sleep(IDLE)
            return {"rss_mb": rss_mb(pid)}


@contextmanager
def _open() -> Iterator[RssPair]:
    from hub.services.people import NewPerson, add_person

    with hub_dir(POLICY) as hd:
        hub = hd.build()
        for name in ("a", "b", "c"):
            add_person(hub, NewPerson(f"reader-{name}", [], [name]))
        hub.db.dispose()
        yield RssPair(hd)


MEASURES = [Measure("embedded idle RSS vs bare uvicorn hello world", _open, (
    Ratio("resident set after one post, idle", lambda b, s: s["rss_mb"] / b["rss_mb"],
          "≤ 150 MB absolute", lambda r, s: s["rss_mb"] <= 150, "rss_mb"),))]
