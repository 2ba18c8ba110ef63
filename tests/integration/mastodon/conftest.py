"""Servers for the Mastodon adapter's integration tests, and in-memory fakes of the hub's ports.

* ``double`` — the project's Mastodon-compatible server (``python -m tests.mastodon_double``),
  one process per session, reset per test; every request/response it saw must satisfy the
  published API contract, checked at teardown.
* ``mock`` — the PyPI package ``mastodon-mock`` (written by others), a second opinion for the
  operations it supports. It runs from its own virtualenv under the user's cache directory
  (``$HUB_TEST_CACHE`` or ``~/.cache/crosspost-hub``), created on first use with pip.
* ``backend`` — parametrized over both, for tests that both can serve.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.mastodon import SCOPES, build, connect
from adapters.mastodon.publish import MastodonPublisher
from adapters.mastodon.spec import MastodonOptions, MastodonSpec
from hub.domain.model import (
    Identity,
    IdentityKind,
    Media,
    PeopleSnapshot,
    Person,
    PersonId,
    Post,
    PostId,
    Target,
)
from hub.ports import Connection
from tests.fakes import MemoryCredentials, MemorySteps

ROOT = Path(__file__).resolve().parents[3]
MOCK_PIN = "mastodon-mock==0.6.1"
# Read at import: the suite's autouse ``clean_environ`` removes HUB_* variables before tests.
CACHE = Path(os.environ.get("HUB_TEST_CACHE", Path.home() / ".cache" / "crosspost-hub"))
MOCK_PYTHON = os.environ.get("HUB_MASTODON_MOCK_PYTHON")


# -- fakes of the hub's ports: tests/fakes.py; the media store ----------------------------

class MediaStore:
    """``media_loader``: bytes by sha256."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def add(self, data: bytes) -> str:
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    def __call__(self, sha256: str) -> bytes:
        return self.blobs[sha256]


# -- servers -------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(command: list[str], health: str, *, cwd: Path, name: str, how: str,
           timeout: float = 30.0, env: dict[str, str] | None = None) -> Any:
    log = CACHE / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode} before answering; "
                                f"log: {log}\n{log.read_text()[-3000:]}\nStart it by hand: {how}")
                try:
                    if httpx.get(health, timeout=1.0).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{name} did not answer {health} within {timeout}s; log: {log}\n"
                                f"Start it by hand: {how}")
                time.sleep(0.1)
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def double_url() -> Any:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with _serve([sys.executable, "-m", "tests.mastodon_double", "--port", str(port)],
                f"{base}/_double/health", cwd=ROOT, name="mastodon-double",
                how=f"cd {ROOT} && {sys.executable} -m tests.mastodon_double --port {port}"):
        yield base


def _mock_python() -> Path:
    """The interpreter of a virtualenv holding ``MOCK_PIN`` (created once, then reused)."""
    if MOCK_PYTHON:
        return Path(MOCK_PYTHON)
    home = CACHE / MOCK_PIN.replace("==", "-")
    python = home / "bin" / "python"
    if not (home / ".installed").exists():
        venv.create(home, with_pip=True, clear=True)
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", MOCK_PIN],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"could not install {MOCK_PIN} into {home}:\n{result.stderr[-3000:]}\n"
                        f"Install it by hand: python3 -m venv {home} && "
                        f"{python} -m pip install {MOCK_PIN}")
        (home / ".installed").write_text(MOCK_PIN)
    return python


@pytest.fixture(scope="session")
def mock_url() -> Any:
    python = _mock_python()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(python), "-m", "mastodon_mock.cli", "serve", "--in-memory", "--host",
               "127.0.0.1", "--port", str(port), "--domain", "mock.test",
               "--log-level", "warning"]
    # It keeps uploads in a mkdtemp() directory: give it its own TMPDIR and remove that after.
    with tempfile.TemporaryDirectory(prefix="mastodon-mock-") as tmp, \
            _serve(command, f"{base}/api/v2/instance", cwd=Path(tmp), name="mastodon-mock",
                   how=" ".join(command), env={"TMPDIR": tmp}):
        yield base


# -- backends ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Acct:
    id: str
    acct: str          # user@domain
    token: str | None

    @property
    def address(self) -> str:
        return "@" + self.acct


class DoubleBackend:
    """Drives the double's control plane (``/_double/...``)."""

    name = "double"

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=10)

    def reset(self, **config: Any) -> None:
        self.http.post("/_double/reset", json={"config": config}).raise_for_status()

    def configure(self, **config: Any) -> None:
        self.http.post("/_double/config", json=config).raise_for_status()

    def account(self, username: str, domain: str | None = None, *, locked: bool = False,
                known: bool = True, scopes: tuple[str, ...] | None = None) -> Acct:
        data = self.http.post("/_double/accounts", json={
            "username": username, "domain": domain, "locked": locked, "known": known,
            "scopes": list(scopes) if scopes is not None else None}).json()
        return Acct(data["id"], data["acct"], data["token"])

    def local(self, username: str, **kw: Any) -> Acct:
        return self.account(username, **kw)

    def follow(self, follower: Acct, followee: Acct) -> None:
        self.http.post("/_double/follows", json={"follower": follower.id,
                                                 "followee": followee.id}).raise_for_status()

    def fault(self, kind: str, *, method: str = "*", path: str = "*", count: int = 1,
              **kw: Any) -> None:
        self.http.post("/_double/faults", json={"kind": kind, "method": method, "path": path,
                                                "count": count, **kw}).raise_for_status()

    def statuses(self, **_: Any) -> list[dict[str, Any]]:
        return list(self.http.get("/_double/statuses").json())

    def live(self, **kw: Any) -> list[dict[str, Any]]:
        return [s for s in self.statuses(**kw) if not s["deleted"]]

    def requests(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_double/requests").json())

    def violations(self) -> list[str]:
        return list(self.http.delete("/_double/violations").json())


class MockBackend:
    """Drives mastodon-mock through its ``/api/v1/_mock`` helpers and the real API."""

    name = "mastodon-mock"
    domain = "mock.test"

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=10)
        self.owner_token: str | None = None

    def reset(self) -> None:
        self.http.post("/api/v1/_mock/reset").raise_for_status()

    def local(self, username: str, **_: Any) -> Acct:
        data = self.http.post("/api/v1/_mock/dev_user", json={"username": username}).json()
        return Acct(str(data["id"]), f"{username}@{self.domain}", data["access_token"])

    def follow(self, follower: Acct, followee: Acct) -> None:
        self.http.post(f"/api/v1/accounts/{followee.id}/follow",
                       headers={"Authorization": f"Bearer {follower.token}"}).raise_for_status()

    def fault(self, kind: str, *, method: str = "*", path: str = "*", count: int = 1,
              **kw: Any) -> None:
        effect: dict[str, Any]
        if kind == "error":
            effect = {"type": "status", "status": kw.get("status", 500)}
        elif kind == "ratelimit":
            reset = time.time() + kw.get("reset_in", 2.0)
            effect = {"type": "ratelimit", "headers": {"X-RateLimit-Reset": str(int(reset + 1))}}
        else:   # delay: mastodon-mock sleeps before handling ("latency")
            effect = {"type": "latency", "delay_ms": int(kw["seconds"] * 1000)}
        match: dict[str, Any] = {"path": path}
        if method != "*":
            match["methods"] = [method]
        self.http.post("/api/v1/_mock/faults", json={"match": match, "effect": effect,
                                                     "count": count}).raise_for_status()

    def statuses(self, *, owner: Acct) -> list[dict[str, Any]]:
        rows = self.http.get(f"/api/v1/accounts/{owner.id}/statuses", params={"limit": 40},
                             headers={"Authorization": f"Bearer {owner.token}"}).json()
        return [{"id": s["id"], "text": s.get("text") or s["content"],
                 "visibility": s["visibility"], "spoiler_text": s["spoiler_text"],
                 "mentions": [m["acct"] if "@" in m["acct"] else f"{m['acct']}@{self.domain}"
                              for m in s["mentions"]], "deleted": False,
                 "in_reply_to_id": s.get("in_reply_to_id")} for s in rows]

    def live(self, **kw: Any) -> list[dict[str, Any]]:
        return self.statuses(**kw)

    def violations(self) -> list[str]:
        return []


@pytest.fixture
def double(double_url: str) -> Any:
    backend = DoubleBackend(double_url)
    backend.reset()
    yield backend
    found = backend.violations()
    backend.http.close()
    assert not found, ("the double saw requests or responses outside the Mastodon API "
                       "contract:\n  " + "\n  ".join(found))


@pytest.fixture
def mock(mock_url: str) -> Any:
    backend = MockBackend(mock_url)
    backend.reset()
    yield backend
    with contextlib.suppress(httpx.HTTPError):
        backend.http.delete("/api/v1/_mock/faults")
    backend.http.close()


@pytest.fixture(params=["double", "mastodon-mock"])
def backend(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("double" if request.param == "double" else "mock")


@pytest.fixture
def media_store() -> MediaStore:
    return MediaStore()


@pytest.fixture
def publisher(media_store: MediaStore) -> Any:
    """``await publisher(backend, owner, **settings)``: connect the owner's account like
    ``hub accounts add`` does, then build its publisher."""
    built: list[MastodonPublisher] = []

    async def make(backend: Any, owner: Acct, **knobs: Any) -> MastodonPublisher:
        assert owner.token
        settings, secret = await connect(
            {"instance": backend.base, "request_timeout": 3.0, "media_poll_interval": 0.05,
             **knobs}, owner.token)
        pub = build(Connection("mastodon:work", settings, secret), MemoryCredentials(),
                    media_loader=media_store)
        built.append(pub)
        return pub

    yield make
    for pub in built:
        pub.close()


@pytest.fixture
def hub_scopes() -> tuple[str, ...]:
    return SCOPES


class Compose:
    """Values for the tests: posts, targets, people, a fresh Steps store, an account."""

    steps = MemorySteps
    acct = Acct

    def __init__(self) -> None:
        self._n = 0

    def post(self, text: str, *, cw: str | None = None, language: str | None = "en",
             media: tuple[Media, ...] = ()) -> Post:
        self._n += 1
        return Post(id=PostId(f"post-{self._n}"), text=text, audiences=("test",),
                    created=datetime.now(UTC), content_warning=cw, language=language,
                    media=media)

    @staticmethod
    def target(visibility: str, *, list_name: str | None = None, split: bool = False,
               sensitive: bool = False, quotes: str | None = None) -> Target:
        options: dict[str, str | bool] = {"visibility": visibility, "split": split,
                                          "sensitive": sensitive}
        if list_name:
            options["list"] = list_name
        if quotes:
            options["quotes"] = quotes
        return Target(name=f"mastodon-{visibility}", account="mastodon:work",
                      reach=MastodonSpec.reach(MastodonOptions.model_validate(options)),
                      options=options)

    @staticmethod
    def people(members: list[tuple[str, str | None]], list_name: str = "friends"
               ) -> PeopleSnapshot:
        """``members``: (name, Mastodon address or None)."""
        people = {}
        for i, (name, address) in enumerate(members):
            identities = (Identity(IdentityKind.MASTODON, address),) if address else ()
            people[PersonId(f"person-{i}")] = Person(PersonId(f"person-{i}"), name, identities)
        return PeopleSnapshot(people=people, lists={list_name: frozenset(people)})


@pytest.fixture
def compose() -> Compose:
    return Compose()
