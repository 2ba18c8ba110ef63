"""Fixtures shared by the integration tests that talk to a live hub over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from hub.bootstrap import Mode
from hub.dispatch import queue
from hub.dispatch.topology import RedisServer
from hub.services.people import NewPerson, add_person
from hub.services.tokens import create_token
from tests.integration.test_http import LiveServer
from web.app import create_app


@pytest.fixture
def api(make_runtime, sqlite_url) -> Iterator[tuple[object, LiveServer, dict[str, str]]]:
    """An embedded hub served on a free port (SQLite, in-process workers) with Ana in friends
    and Cy in clients, and three tokens: ``owner`` (every scope, any audience), ``poster``
    (post only) and ``friends`` (every scope, limited to the friends audience)."""
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    add_person(hub, NewPerson("Cy", [("email", "cy@clients.example")], ["clients"]))
    tokens = {
        "owner": create_token(hub, "all", ["post", "read", "audit", "approve"])[1],
        "poster": create_token(hub, "poster", ["post"])[1],
        "friends": create_token(hub, "friends", ["post", "read", "audit", "approve"],
                                ["friends"])[1],
    }
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield hub, server, tokens


def bearer(server: LiveServer, token: str) -> httpx.Client:
    """A client of ``server`` that sends ``token``."""
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server for the module (tests that flush or stop Redis use it, never
    the machine's 127.0.0.1:6379)."""
    try:
        server = RedisServer(log=tmp_path_factory.mktemp("redis") / "redis.log").start()
    except RuntimeError as exc:
        pytest.fail(f"{exc}. Install Redis with: apt-get install -y redis-server")
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Any]:
    """An arq pool on the module's private Redis, emptied first."""
    pool = await queue.connect(redis_server.url, patient=False)
    await pool.flushall()
    yield pool
    await pool.aclose()
