"""A fuzz of policy files: the shipped policy, damaged at random (lines deleted, duplicated,
re-indented or cut short; keys misspelt; bytes inserted). Every damaged file the hub refuses
is refused with the file and a line within it — never a crash — the refusal is audited, and
the policy in force stays the one loaded before. A damaged file that is still valid is
accepted (and then put back)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from hub.audit.sequencer import sequence_pending
from hub.errors import PolicyFileInvalid
from hub.services.policy import reload_policy
from hub.store.tables import AuditRow
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

SHIPPED = (ROOT / "policies" / "hub.yaml").read_text()
LINES = SHIPPED.splitlines()
KEYS = sorted(set(re.findall(r"^\s*-?\s*([a-z_]+):", SHIPPED, flags=re.M)))
JUNK = ["{", "}", "[", "]", ":", "- ", "&a", "*a", "!!python/object", "\t", "'", '"', "%",
        "@", "`", "|", ">", "\x00", "\u202e", "?", ",", "#", "---", "...", "<<: *a"]


@st.composite
def damaged(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, len(lines) - 1)) if lines else 0
        kind = draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "typo", "junk",
                                     "truncate", "swap", "value"]))
        if not lines:
            lines = [draw(st.sampled_from(JUNK))]
        elif kind == "delete":
            del lines[n]
        elif kind == "duplicate":
            lines.insert(n, lines[n])
        elif kind == "indent":
            lines[n] = " " * draw(st.integers(1, 5)) + lines[n]
        elif kind == "dedent":
            lines[n] = lines[n].lstrip()
        elif kind == "typo":
            key = draw(st.sampled_from(KEYS))
            lines[n] = lines[n].replace(f"{key}:", f"{key[:-1] or 'x'}{key[-1:]}x:", 1)
        elif kind == "junk":
            at = draw(st.integers(0, len(lines[n])))
            lines[n] = lines[n][:at] + draw(st.sampled_from(JUNK)) + lines[n][at:]
        elif kind == "truncate":
            lines = lines[:n]
        elif kind == "swap":
            m = draw(st.integers(0, len(lines) - 1))
            lines[n], lines[m] = lines[m], lines[n]
        elif kind == "value":
            lines[n] = re.sub(r":\s*\S.*$", ": " + draw(st.sampled_from(
                ["", "[]", "{}", "42", "true", "null", "nope", "-1", "'x' 'y'", "[[]]"])),
                lines[n], count=1)
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(300)
def test_a_damaged_policy_is_refused_with_file_and_line_and_the_old_one_stays(
        make_hub, sqlite_url, policy_dir: Path) -> None:
    (policy_dir / "hub.yaml").write_text(SHIPPED)
    hub = make_hub(sqlite_url)
    good = hub.policies.current
    seen = {"refused": 0, "accepted": 0}

    @given(text=damaged())
    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(text: str) -> None:
        path = policy_dir / "hub.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            policy, _ = reload_policy(hub, actor="fuzz")
        except PolicyFileInvalid as exc:
            seen["refused"] += 1
            assert exc.file.endswith("hub.yaml"), exc
            if exc.line is None:
                assert "empty" in exc.reason, f"no line for: {exc.reason}\n---\n{text}"
            else:
                assert 1 <= exc.line <= max(len(text.splitlines()), 1) + 1, (exc, text)
            assert exc.reason.strip(), exc
            assert hub.policies.current.digest == good.digest
        else:
            seen["accepted"] += 1
            assert policy.digest == hub.policies.current.digest
            path.write_text(SHIPPED)              # put the good one back in force
            reload_policy(hub, actor="fuzz")
            assert hub.policies.current.digest == good.digest

    check()
    # the fuzz must really damage files: with the shipped policy's longer comments (where a
    # change is harmless) about 45 % of the 300 fixed examples are refused
    assert seen["refused"] >= 120, seen
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        rejected = s.exec(select(AuditRow).where(AuditRow.name == "PolicyRejected")).all()
    assert len(rejected) == seen["refused"]
    assert all(str(e.payload.get("file")).endswith("hub.yaml") for e in rejected)
