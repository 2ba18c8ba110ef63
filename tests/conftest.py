"""Shared fixtures: a clean environment, a policy directory, and a Hub factory over SQLite or
PostgreSQL with fake publishers injected through the ports (never patches of our own code)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis  # (imported early: see below)
import psycopg
import pytest

from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.bootstrap import Mode, Runtime, bootstrap
from hub.config import Settings
from hub.runtime import Hub
from hub.store.db import make_engine
from hub.store.migrate import upgrade

# hypothesis is imported above, at collection: if its pytest plugin imports it first at the end
# of a run, CPython 3.11.7's AST validator can fail ("AST constructor recursion depth
# mismatch") while pytest rewrites its modules.
# In CI (CI=true) property tests explore the same examples on every run, so a red run can be
# reproduced and a green one is not luck; on a developer's machine they keep exploring.
hypothesis.settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                                     print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HUB_* setting from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("HUB_"):
            monkeypatch.delenv(key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TEST_POLICY = """\
version: 1
accounts: [email:personal, feed:site, bluesky:me, mastodon:main]
targets:
  friends-mail: {account: email:personal, list: friends}
  friends-feed: {account: feed:site, list: friends}
  clients-mail: {account: email:personal, list: clients, mode: bcc}
  bsky: {account: bluesky:me}
  masto-public: {account: mastodon:main, visibility: public}
  masto-followers: {account: mastodon:main, visibility: private}
audiences:
  public: {reach: world, targets: [bsky, masto-public]}
  professional: {reach: followers, targets: [masto-followers]}
  friends: {reach: recipients, targets: [friends-mail, friends-feed]}
  clients: {reach: recipients, targets: [clients-mail]}
  careless: {reach: recipients, targets: [friends-feed, bsky]}
rules:
  - id: private-stays-home
    deny: {tags: [private], reach: [world, world-unlisted, followers]}
  - id: review-work
    hold: {tags: [work], audiences: [public]}
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "hub.yaml").write_text(TEST_POLICY)
    return d


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {"bluesky:me": FakePublisher("bluesky:me", limit=300),
            "mastodon:main": FakePublisher("mastodon:main", limit=500)}


def _pg_schema_url(schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


def _pg_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_URL.replace("postgresql://", "postgresql://", 1),
                               autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} ({exc}). Start it with: "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test gets a fresh database: a SQLite file, or its own PostgreSQL schema.

    Request it *before* ``make_hub`` in a test's arguments, so the schema outlives the
    audit-chain check that ``make_hub`` runs at teardown."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(schema)
    finally:
        with _pg_admin() as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


class Clock:
    """A settable clock: services take ``now`` from the hub, so tests move time explicitly.

    ``Clock(live=True)`` follows the real time, shifted by whatever ``advance`` added."""

    def __init__(self, *, live: bool = False) -> None:
        self._fixed: datetime | None = None if live else datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        self._offset = timedelta()

    @property
    def value(self) -> datetime:
        return (self._fixed or datetime.now(UTC)) + self._offset

    @value.setter
    def value(self, when: datetime) -> None:
        self._fixed, self._offset = when, timedelta()

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)


def wait_until(condition: Callable[[], object], *, timeout: float = 15.0,
               what: str = "the condition") -> None:
    """Poll ``condition`` until it is true (an observable fact, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def async_wait_until(condition: Callable[[], object], *, timeout: float = 15.0,
                           what: str = "the condition") -> None:
    """``wait_until`` for async tests: the event loop keeps running while it polls."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


RuntimeFactory = Callable[..., Runtime]
HubFactory = Callable[..., Hub]


@pytest.fixture
def make_runtime(tmp_path: Path, policy_dir: Path, fakes: dict[str, FakePublisher]
                 ) -> Iterator[RuntimeFactory]:
    """Build an initialised runtime for a mode (default: one that wakes nobody), with the fake
    publishers; the audit chain is verified when the test ends. ``real_clock`` gives a live
    ``Clock`` (``hub.now.advance`` still moves it)."""
    built: list[Runtime] = []

    def factory(url: str | None = None, *, clock: Clock | None = None,
                real_clock: bool = False, mode: Mode = Mode.WORKER,
                remote: object = None, **overrides: object) -> Runtime:
        data = tmp_path / "var"
        data.mkdir(exist_ok=True)
        settings = Settings(data_dir=data, database_url=url or "", policy_dir=policy_dir,
                            secret_key="test-secret-key-not-for-production",
                            **overrides)  # type: ignore[arg-type]
        engine = make_engine(settings.sqlalchemy_url)
        upgrade(engine)
        engine.dispose()
        now = clock or Clock(live=real_clock)
        runtime = bootstrap(settings, mode, publishers=fakes, now=now,
                            remote=remote)  # type: ignore[arg-type]
        built.append(runtime)
        return runtime

    yield factory
    for runtime in built:
        hub = runtime.hub
        sequence_pending(hub.db, wait=True)   # what the test left queued is checked too
        with hub.db.read() as s:
            result = hub.audit.verify(s)
        runtime.dispose()
        assert result.ok, f"audit chain broken after the test: {result.problem}"


@pytest.fixture
def make_hub(make_runtime: RuntimeFactory) -> HubFactory:
    """Build an initialised hub (``make_runtime(...).hub``)."""

    def factory(url: str | None = None, **options: object) -> Hub:
        return make_runtime(url, **options).hub

    return factory


@pytest.fixture
def copy_policies(tmp_path: Path) -> Path:
    """The shipped example policy, copied so a test may edit it."""
    target = tmp_path / "shipped-policies"
    shutil.copytree(ROOT / "policies", target)
    return target


# Modules too slow for the inner loop (hundreds of generated requests or policies); they run in
# the whole suite.
_SLOW_MODULES = frozenset({"test_schemathesis.py", "test_policy_fuzz.py",
                           "test_property_no_denied_delivery.py"})

# Fixtures that start or reach a server: a test using one is never "fast".
_SERVER_FIXTURES = frozenset({
    "pds", "connect_account", "chat", "connect_chat", "double", "double_url", "mock", "mock_url",
    "synapse", "connect_matrix", "browser", "site", "page", "phone", "redis", "redis_server",
    "smtp", "smtp_server", "served", "live_server", "mp",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs no server as ``fast``: ``pytest -m fast`` is the quick inner loop.

    ``fast`` is every test in ``tests/unit`` and the SQLite half of the service tests (those that
    build a hub with ``make_hub``/``make_runtime`` on a SQLite file, with fake publishers, and use
    no server fixture). The PostgreSQL half carries ``postgres``; tests marked ``integration``
    (they start servers themselves) are never fast."""
    unit_dir = ROOT / "tests" / "unit"
    never = (ROOT / "tests" / "faults", ROOT / "tests" / "e2e")
    fast = pytest.mark.fast
    for item in items:
        path = Path(str(item.path))
        if unit_dir in path.parents:
            item.add_marker(fast)
            continue
        if (any(d in path.parents for d in never) or path.name in _SLOW_MODULES
                or item.get_closest_marker("slow")):
            continue
        names = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("postgres"):
            continue
        if names & _SERVER_FIXTURES or not names & {"make_hub", "make_runtime"}:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database_url") == "postgresql":
            continue
        item.add_marker(fast)
