"""The CLI's progress bar: drawn on stderr when it is a terminal (a real pseudo-terminal
here), absent when it is not (so piped output stays clean), with the result on stdout."""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.served import HUB, run_hub

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path, policy_dir: Path) -> dict[str, str]:
    values = {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir)}
    run_hub("init", env=values)
    return values


def _csv(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "club.csv"
    path.write_text("name,email,lists\n" + "".join(
        f"Member {i},m{i}@example.org,club\n" for i in range(rows)))
    return path


def test_import_draws_a_progress_bar_on_a_terminal(env, tmp_path):
    path = _csv(tmp_path, 300)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([HUB, "people", "import", str(path)], cwd=ROOT,
                            env={**os.environ, **env, "TERM": "xterm", "COLUMNS": "120"},
                            stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    drawn = b""
    while True:   # read the terminal until the command closes it
        ready, _, _ = select.select([leader], [], [], 120)
        assert ready, "the command wrote nothing to its terminal for two minutes"
        try:
            chunk = os.read(leader, 65536)
        except OSError:   # EIO: the other end is closed
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, (out, drawn[-2000:])
    assert out.strip() == f"imported 300 people from {path} (300 new, 0 updated)"
    screen = drawn.decode(errors="replace")
    assert "importing club.csv" in screen and "300/300" in screen and "100%" in screen
    assert "━" in screen   # the bar itself


def test_no_bar_when_stderr_is_not_a_terminal_and_the_job_is_listed(env, tmp_path):
    path = _csv(tmp_path, 5)
    done = run_hub("people", "import", str(path), env=env)
    assert done.stderr == "" and "(5 new, 0 updated)" in done.stdout
    listed = run_hub("jobs", "list", env=env).stdout
    assert "done" in listed and "5/5" in listed and "Import people" in listed
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAna,ana@example.org\nBo,bo-at-example\n")
    failed = run_hub("people", "import", str(bad), env=env, check=False)
    assert failed.returncode == 1 and "CSV line 3" in failed.stderr
    job_id = run_hub("jobs", "list", env=env).stdout.split()[0]
    again = run_hub("jobs", "rerun", job_id, env=env, check=False)
    assert again.returncode == 1 and "failed: CSV line 3" in again.stderr
