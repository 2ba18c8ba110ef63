"""Fakes of the hub's ports, in one place (adapters and services are tested through them).

``FakePublisher`` (``adapters/fake.py``) is the fake ``Publisher``; here are ``Steps`` and the
credential stores. Assert on their state (``steps.values``, ``credentials.saved``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class MemorySteps:
    """``hub.ports.Steps`` in memory: what a delivery has already done."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})

    async def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def record(self, name: str, value: str) -> None:
        self.values[name] = value


class PlainCredentials:
    """``hub.ports.CredentialStore`` and nothing more: every saved secret, in order."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    async def save(self, account: str, secret: str) -> None:
        self.saved.append(secret)


class MemoryCredentials:
    """``hub.ports.SharedCredentials`` in memory: saved secrets per account, the latest one
    readable, and a refresh lock (one asyncio lock per account)."""

    def __init__(self) -> None:
        self.saved: dict[str, list[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def save(self, account: str, secret: str) -> None:
        self.saved.setdefault(account, []).append(secret)

    async def load(self, account: str) -> str | None:
        return (self.saved.get(account) or [None])[-1]

    @contextlib.asynccontextmanager
    async def refresh_lock(self, account: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(account, asyncio.Lock()):
            yield


class NeverSavedCredentials:
    """A ``CredentialStore`` for adapters whose secret never changes: saving fails the test."""

    async def save(self, account: str, secret: str) -> None:
        raise AssertionError(f"{account}: this adapter's secret is never refreshed")
