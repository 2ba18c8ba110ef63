"""Processes the measures start (``hub serve``, the bare baselines) and how they are read:
a hub set up in a temporary directory, servers waited for until they answer, RSS from /proc.
Every process is a child of the benchmark, bound to 127.0.0.1 and stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
KEY = "bench-key-not-for-production"
HUB = str(Path(sys.executable).parent / "hub")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@contextmanager
def bare(kind: str, where: str = "") -> Iterator[tuple[int, int]]:
    """A baseline server from ``bench._bare``; yields (port, pid) once it answers."""
    from bench._bare import prepare

    prepare(kind, where)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench._bare", kind, str(port), where],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        yield port, proc.pid
    finally:
        stop(proc)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A PostgreSQL schema of our own, dropped afterwards; yields a URL that uses it."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@dataclass
class HubDir:
    """A hub set up in a temporary directory: policy, database, a token with every scope."""

    tmp: Path
    env: dict[str, str]
    token: str

    def settings(self) -> Any:
        from hub.config import Settings

        return Settings(data_dir=Path(self.env["HUB_DATA_DIR"]),
                        policy_dir=Path(self.env["HUB_POLICY_DIR"]),
                        database_url=self.env.get("HUB_DATABASE_URL", ""), secret_key=KEY)

    def build(self) -> Any:
        """The hub in this process (to add people or connect accounts before serving)."""
        from hub.bootstrap import build_hub

        return build_hub(self.settings())

    @contextmanager
    def serve(self, extra: Mapping[str, str] | None = None) -> Iterator[tuple[int, int]]:
        """``hub serve`` in a child process; yields (port, pid) once it answers."""
        port = free_port()
        env = {**self.env, **(extra or {}), "HUB_PORT": str(port)}
        log = (self.tmp / f"serve-{port}.log").open("wb")
        proc = subprocess.Popen([HUB, "serve"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            wait_port(port, proc)
            yield port, proc.pid
        finally:
            stop(proc)
            log.close()


@contextmanager
def hub_dir(policy: str, *, database_url: str = "", extra: Mapping[str, str] | None = None
            ) -> Iterator[HubDir]:
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as name:
        tmp = Path(name)
        (tmp / "policies").mkdir()
        (tmp / "policies" / "hub.yaml").write_text(policy)
        env = {**os.environ, "HUB_DATA_DIR": str(tmp / "var"),
               "HUB_POLICY_DIR": str(tmp / "policies"), "HUB_SECRET_KEY": KEY,
               "HUB_LOG_LEVEL": "warning", "HUB_HOST": "127.0.0.1", **(extra or {})}
        if database_url:
            env["HUB_DATABASE_URL"] = database_url
        env.pop("HUB_REDIS_URL", None)
        out = subprocess.run([HUB, "init"], env=env, cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        token = next(w for w in out.split() if w.startswith("hub_"))
        yield HubDir(tmp, env, token)
