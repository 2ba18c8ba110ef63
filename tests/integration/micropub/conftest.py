"""A hub served over real HTTP (uvicorn on 127.0.0.1) for the Micropub tests, with tokens of
several shapes: a phone-like token limited to one audience, a wide one, and a read-only one."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image

from hub.bootstrap import Mode
from hub.runtime import Hub
from hub.services.people import NewPerson, add_person
from hub.services.tokens import create_token
from tests.integration.test_http import LiveServer
from web.app import create_app


@dataclass
class Micropub:
    hub: Hub
    url: str
    friends: str        # post, audiences [friends]: the default audience is friends
    wide: str           # post + read, audiences [friends, public, professional]
    reader: str         # read only

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def mp(make_runtime, sqlite_url) -> Iterator[Micropub]:
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    _, friends = create_token(hub, "ia-writer", ["post"], ["friends"])
    _, wide = create_token(hub, "quill", ["post", "read"], ["friends", "public", "professional"])
    _, reader = create_token(hub, "reader", ["read"])
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield Micropub(hub, server.url, friends, wide, reader)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (3, 2), "blue").save(buf, "PNG")
    return buf.getvalue()
