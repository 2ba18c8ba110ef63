"""The fault suite's cluster: real PostgreSQL (a schema per run), a private redis-server, the
web process and several ``hub worker`` processes (``hub.dispatch.topology``), and the platforms
of ``platforms.py`` — all on 127.0.0.1, all stopped by PID at the end."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from hub.bootstrap import build_hub
from hub.config import Settings
from hub.dispatch.topology import LocalTopology
from hub.runtime import Hub
from hub.services.people import add_person
from hub.services.tokens import create_token
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.tables import DeliveryRow
from tests.conftest import PG_URL, ROOT, _pg_admin, _pg_schema_url
from tests.faults.platforms import Feed, Platform, policy_yaml

# The Bluesky tests' PDS launcher (the ``pds`` session fixture), reused as it is: its conftest
# imports its helpers as the top-level module ``bluesky_pds``, so its folder goes on the path.
_BLUESKY = str(ROOT / "tests" / "integration" / "bluesky")
if _BLUESKY not in sys.path:
    sys.path.append(_BLUESKY)
from tests.integration.bluesky.conftest import pds  # noqa: E402, F401, I001
from tests.integration.matrix.conftest import synapse  # noqa: E402, F401, I001

pytestmark = pytest.mark.integration

LEASE_SECONDS = 8
SECRET_KEY = "fault-suite-key-not-for-production"
_OWNER = re.compile(r"-(\d+)#\d+$")


@dataclass
class Cluster:
    hub: Hub                       # this process's view of the same database (setup, reading)
    topology: LocalTopology
    token: str
    platforms: list[Platform]
    policy_file: Path
    kills: list[dict[str, object]] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.topology.base_url

    def holders(self, pid: int) -> list[str]:
        """Deliveries whose lease the worker with this pid holds."""
        with self.hub.db.read() as s:
            rows = s.exec(select(DeliveryRow.id, DeliveryRow.lease_owner)
                          .where(DeliveryRow.status == "in_flight",
                                 col(DeliveryRow.lease_owner).is_not(None))).all()
        return [i for i, owner in rows if owner and _pid(owner) == pid]

    def owner_pid(self, key: str) -> int | None:
        """The pid of the worker publishing the delivery with this key, if one holds it."""
        with self.hub.db.read() as s:
            owner = s.exec(select(DeliveryRow.lease_owner).where(DeliveryRow.key == key)).first()
        return _pid(owner) if owner else None

    def kill(self, proc: subprocess.Popen[bytes], why: str) -> None:
        held = self.holders(proc.pid)
        self.topology.kill_worker(proc)
        self.kills.append({"pid": proc.pid, "wall": datetime.now(UTC), "why": why,
                           "held": held})

    def kill_pid(self, pid: int, why: str) -> bool:
        proc = next((w for w in self.topology.workers if w.pid == pid), None)
        if proc is None or proc.poll() is not None:
            return False
        self.kill(proc, why)
        return True

    def beating(self) -> set[int]:
        """Pids of the workers whose heartbeat /healthz shows."""
        try:
            names = self.topology.health().get("worker_names") or []
        except (httpx.HTTPError, ValueError):
            return set()
        return {int(str(n).rsplit("-", 1)[1]) for n in names}   # type: ignore[union-attr]

    def replace_dead_workers(self) -> int:
        replaced = 0
        for n, proc in enumerate(self.topology.workers):
            if proc.poll() is not None:
                self.topology.workers[n] = self.topology._spawn(
                    f"worker-r{len(self.kills)}-{n}", "worker", "--concurrency",
                    str(self.topology.concurrency))
                replaced += 1
        return replaced

    def reload_policy(self, text: str) -> str:
        """Write the policy and reload it in the web process (SIGHUP, like `hub policy
        reload`); return the new digest once /healthz shows it."""
        from adapters import TARGET_SPECS
        from hub.policy.loader import load_policy

        self.policy_file.write_text(text)
        digest = load_policy(self.policy_file.parent, TARGET_SPECS).digest
        assert self.topology.web is not None
        self.topology.web.send_signal(signal.SIGHUP)
        for _ in range(100):
            if self.topology.health().get("policy_digest") == digest:
                return digest
            time.sleep(0.1)
        raise AssertionError("the web process did not load the new policy")


def _pid(owner: str) -> int | None:
    found = _OWNER.search(owner)
    return int(found.group(1)) if found else None


@contextlib.contextmanager
def cluster(tmp: Path, platforms: list[Platform], rules: str, *, workers: int,
            concurrency: int = 8) -> Iterator[Cluster]:
    schema = f"f_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    data, policies = tmp / "var", tmp / "policies"
    data.mkdir()
    policies.mkdir()
    policy_file = policies / "hub.yaml"
    policy_file.write_text(policy_yaml(platforms, rules))
    env = {"HUB_DATA_DIR": str(data), "HUB_POLICY_DIR": str(policies),
           "HUB_DATABASE_URL": _pg_schema_url(schema), "HUB_SECRET_KEY": SECRET_KEY,
           "HUB_LEASE_SECONDS": str(LEASE_SECONDS), "HUB_SWEEP_SECONDS": "0.5",
           "HUB_MAX_ATTEMPTS": "25", "HUB_LOG_LEVEL": "info"}
    hub = None
    try:
        with contextlib.ExitStack() as stack:
            for p in platforms:
                p.start(stack, tmp)
            topology = LocalTopology(env, workers=workers, concurrency=concurrency,
                                     log_dir=tmp / "logs", cwd=ROOT)
            settings = Settings(data_dir=data, policy_dir=policies,
                                database_url=_pg_schema_url(schema), secret_key=SECRET_KEY,
                                public_url=topology.base_url, redis_url=topology.redis.url)
            engine = make_engine(settings.sqlalchemy_url)
            upgrade(engine)
            engine.dispose()
            hub = build_hub(settings)
            for p in platforms:
                for person in p.people:
                    add_person(hub, person)
                asyncio.run(p.connect(hub))
                if isinstance(p, Feed):
                    p.prepare_links(hub)
            _, token = create_token(hub, "faults", ["post", "read", "audit"])
            try:
                topology.start(timeout=120)
            except RuntimeError as exc:
                topology.stop()
                pytest.fail(f"the local topology did not start: {exc}")
            stack.callback(topology.stop)
            yield Cluster(hub, topology, token, platforms, policy_file)
    finally:
        if hub is not None:
            hub.db.dispose()
        with _pg_admin() as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def require_services() -> None:
    """Fail (never skip) with how to start what is missing."""
    import shutil

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: apt-get install -y redis-server "
                    "(the fault suite starts its own on a free port)")
    _pg_admin().close()


def post(client: httpx.Client, token: str, body: dict[str, object]) -> dict[str, object]:
    """Submit through the API (never retried: a lost answer must not become a second post)."""
    r = client.post("/api/posts", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202, r.text
    return dict(r.json())


__all__ = ["PG_URL", "Cluster", "cluster", "pds", "post", "require_services"]
