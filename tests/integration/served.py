"""A real ``hub`` process for the security tests: the console script as a user runs it, its
output kept in a file so a test can read what reached the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.conftest import ROOT, free_port

HUB = str(Path(sys.executable).parent / "hub")
UMASK = 0o022   # a usual login shell's: files the hub does not narrow come out 0644


def run_hub(*args: str, env: dict[str, str], input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """One ``hub`` command; fails the test with its output when ``check`` and it fails."""
    done = subprocess.run([HUB, *args], env={**os.environ, **env}, cwd=ROOT, input=input,
                          capture_output=True, text=True, timeout=120, umask=UMASK)
    if check and done.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


class HubServe:
    """``hub serve`` on 127.0.0.1 and a free port, until the ``with`` block ends."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "HUB_PORT": str(self.port), "HUB_HOST": "127.0.0.1"}
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HubServe:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen([HUB, "serve"], env=self.env, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT, umask=UMASK)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"hub serve exited:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"hub serve did not start:\n{self.log()[-3000:]}")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
