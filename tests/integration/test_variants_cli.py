"""``hub post --variant NETWORK=FILE`` and ``--thread``: the same variants and threads as the
API, judged per network; a bad one exits non-zero with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import env, hub  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def _outcomes(out: str) -> dict[str, str]:
    return {d["target"]: d["outcome"] for d in json.loads(out)["decisions"]}


def test_a_variant_file_is_judged_for_its_network_only(env, tmp_path: Path):  # noqa: F811
    hub("init")
    short = tmp_path / "short.txt"
    short.write_text("a walk #private\n")
    out = hub("post", "a clean walk", "--audience", "public", "--variant",
              f"bluesky={short}", "--json")
    outcomes = _outcomes(out)
    assert outcomes["bsky"] == "deny" and outcomes["masto-public"] == "allow"
    assert json.loads(out)["variants"] == ["bluesky"]


def test_a_variant_file_with_part_breaks_is_a_thread(env, tmp_path: Path):  # noqa: F811
    hub("init")
    thread = tmp_path / "thread.txt"
    thread.write_text("part one\n---\npart two #private\n")
    outcomes = _outcomes(hub("post", "clean", "--audience", "public", "--variant",
                             f"masto-public={thread}", "--json"))
    assert outcomes["bsky"] == "allow" and outcomes["masto-public"] == "deny"


def test_thread_parts_from_the_command_line(env):  # noqa: F811
    hub("init")
    out = hub("post", "--thread", "part one", "--thread", "part two", "--audience", "public",
              "--json")
    assert json.loads(out)["thread_parts"] == 2
    out = hub("post", "--thread", "one", "--thread", "two #private", "--audience", "public",
              code=1)
    assert "Nothing can be delivered" in out


@pytest.mark.parametrize(("args", "words"), [
    (["--variant", "bluesky"], "give NETWORK=FILE"),
    (["--variant", "bluesky=/nonexistent/short.txt"], "cannot read /nonexistent/short.txt"),
    (["--variant", "blusky=FILE"], "the policy has no target or network"),
])
def test_a_bad_variant_exits_non_zero_with_its_reason(env, tmp_path: Path, args,  # noqa: F811
                                                      words):
    hub("init")
    (tmp_path / "FILE").write_text("x")
    args = [a.replace("FILE", str(tmp_path / "FILE")) for a in args]
    out = hub("post", "text", "--audience", "public", *args, code=1)
    assert words in out
