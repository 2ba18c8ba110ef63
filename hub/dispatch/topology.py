"""The distributed topology of ``compose.yaml`` (web, N workers, Redis; PostgreSQL given) from
local processes on 127.0.0.1, for development, the fault tests and the benchmarks.

    python -m hub.dispatch.topology --workers 2          # or scripts/run-distributed

It starts a private ``redis-server`` (nothing saved to disk) on a free port, ``hub serve`` and
``hub worker`` processes with ``HUB_REDIS_URL`` pointing at it, and stops exactly those
processes, by PID, when done. Needs ``HUB_DATABASE_URL`` and an initialised hub (``hub init``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGINT, wait: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class RedisServer:
    """A private redis-server on 127.0.0.1 that tests may kill, flush or restart empty."""

    def __init__(self, port: int | None = None, *, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} "
                                   f"(port {self.port} taken?); log: {self.log}")
            if self.ping():
                return self
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer PING on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """kill -9: everything in it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart_empty(self, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, sig=signal.SIGTERM)


class LocalTopology:
    """web + N workers + a private Redis, as child processes of this one."""

    def __init__(self, env: Mapping[str, str], *, workers: int = 2, concurrency: int = 10,
                 log_dir: Path, web_port: int | None = None, cwd: Path | None = None,
                 python: str = sys.executable) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(log=log_dir / "redis.log")
        self.web_port = web_port or free_port()
        self.count = workers
        self.concurrency = concurrency
        self.cwd = cwd
        self.python = python
        self.env = {**os.environ, **env, "HUB_REDIS_URL": self.redis.url, "HUB_HOST": "127.0.0.1",
                    "HUB_PORT": str(self.web_port)}
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[object] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen([self.python, "-m", "hub.entrypoints.cli", *args], env=self.env,
                                cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)

    def start(self, *, timeout: float = 60.0) -> LocalTopology:
        self.redis.start()
        self.web = self._spawn("web", "serve")
        for _ in range(self.count):
            self.start_worker()
        self.wait_healthy(timeout=timeout)
        return self

    def start_worker(self) -> subprocess.Popen[bytes]:
        n = len(self.workers)
        proc = self._spawn(f"worker-{n}", "worker", "--concurrency", str(self.concurrency))
        self.workers.append(proc)
        return proc

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        """kill -9 one of our workers: no cleanup, its leases and arq marks stay behind."""
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def health(self) -> dict[str, object]:
        response = httpx.get(f"{self.base_url}/healthz", timeout=5)
        return dict(response.json())

    def wait_healthy(self, *, workers: int | None = None, timeout: float = 60.0) -> None:
        """Until /healthz shows Redis up and ``workers`` heartbeats (default: all of them)."""
        want = self.count if workers is None else workers
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            assert self.web is not None
            if self.web.poll() is not None:
                raise RuntimeError(f"hub serve exited with {self.web.returncode}; see "
                                   f"{self.log_dir / 'web.log'}")
            try:
                last = self.health()
                if isinstance(last, dict) and last.get("redis") == "ok" and \
                        int(str(last.get("workers", 0))) >= want:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the topology did not become healthy in {timeout}s (last /healthz: "
                           f"{last}); logs in {self.log_dir}")

    def stop_processes(self) -> None:
        """Stop the web process and the workers (Redis keeps running)."""
        for proc in self.workers:
            _stop(proc)
        if self.web is not None:
            _stop(self.web)

    def stop(self) -> None:
        self.stop_processes()
        self.redis.stop()
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]

    def __enter__(self) -> LocalTopology:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.dispatch.topology",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--port", type=int, default=None, help="web port (default HUB_PORT "
                        "or 8000)")
    parser.add_argument("--logs", type=Path, default=Path("var/topology-logs"))
    args = parser.parse_args(argv)
    if not os.environ.get("HUB_DATABASE_URL", "").startswith("postgresql"):
        print("set HUB_DATABASE_URL=postgresql://user@127.0.0.1:5432/db (and run `hub init`)",
              file=sys.stderr)
        return 2
    port = args.port or int(os.environ.get("HUB_PORT", "8000"))
    topology = LocalTopology({}, workers=args.workers, concurrency=args.concurrency,
                             log_dir=args.logs, web_port=port)
    with topology:
        print(f"hub on {topology.base_url} (Redis {topology.redis.url}, {args.workers} workers; "
              f"logs in {args.logs}); Ctrl-C stops everything", flush=True)
        stop = {"now": False}

        def _handle(signum: int, frame: object) -> None:
            stop["now"] = True

        signal.signal(signal.SIGINT, _handle)
        signal.signal(signal.SIGTERM, _handle)
        while not stop["now"]:
            time.sleep(0.5)
            for n, proc in enumerate(topology.workers):
                if proc.poll() is not None and not stop["now"]:
                    print(f"worker {proc.pid} exited ({proc.returncode}); starting another",
                          flush=True)
                    topology.workers[n] = topology._spawn(f"worker-{n}", "worker",
                                                          "--concurrency",
                                                          str(args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
