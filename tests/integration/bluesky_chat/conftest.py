"""The lexicon-validated Bluesky chat double served over real HTTP on 127.0.0.1, its accounts,
and a hub with a ``bluesky-chat`` account connected to it. Every test ends by asserting that
the double saw no lexicon violation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import adapters.bluesky_chat
from hub.services.accounts import connect_account
from tests.bluesky_chat_double.app import Account, World, create_app
from tests.integration.test_http import LiveServer


@pytest.fixture
def chat() -> Iterator[tuple[World, str]]:
    world = World()
    with LiveServer(create_app(world)) as server:
        yield world, server.url
    assert world.violations == [], "the hub broke a chat.bsky lexicon:\n" + "\n".join(
        world.violations)


@pytest.fixture
def owner(chat) -> Account:
    return chat[0].account("me.test")


@pytest.fixture
def connect_chat(chat, owner):
    def connect(hub, account: str = "bluesky-chat:me") -> None:
        asyncio.run(connect_account(hub, account, {"handle": owner.handle, "service": chat[1]},
                                    owner.password, adapters.bluesky_chat.connect))
    return connect


class MemorySteps:
    """``hub.ports.Steps`` in memory, for tests that drive the publisher directly."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def record(self, name: str, value: str) -> None:
        self.values[name] = value
