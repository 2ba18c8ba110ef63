"""Anchors through real sinks (a directory, an email to self over real SMTP), the schedule that
publishes them, and the `hub audit` commands with the standalone verifier as a user runs it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlmodel import select

import adapters.email
from hub.bootstrap import anchor_sinks
from hub.domain.events import PolicyLoaded
from hub.services import audit_proofs
from hub.services.accounts import connect_account
from hub.store.tables import AnchorRow
from tests.conftest import ROOT, Clock
from tests.integration.smtp import SmtpServer
from tests.integration.test_audit_proofs import _cut_to
from tests.integration.test_cli import env, hub  # noqa: F401  (the CLI fixture and runner)

pytestmark = pytest.mark.integration


def _grow(hub_, clock: Clock, n: int = 1) -> None:
    with hub_.db.transaction() as s:
        for _ in range(n):
            hub_.audit.append(s, PolicyLoaded(actor="owner", files=["hub.yaml"]), now=clock())


def test_an_emailed_checkpoint_catches_truncation_when_handed_back(make_hub, sqlite_url,
                                                                   tmp_path):
    clock = Clock()
    with SmtpServer() as smtp:
        hub_ = make_hub(sqlite_url, clock=clock, audit_anchor_email="me@example.org",
                        audit_anchor_dir=tmp_path / "anchors")
        asyncio.run(connect_account(hub_, "email:personal", smtp.settings, "",
                                    adapters.email.connect))
        _grow(hub_, clock, 3)
        sinks = anchor_sinks(hub_)
        assert [s.kind for s in sinks] == ["directory", "email"]
        rows = audit_proofs.anchor(hub_, sinks)
        assert {r.sink for r in rows} == {f"directory:{tmp_path / 'anchors'}",
                                          "email:me@example.org"}
        (mail,) = smtp.inbox.to("me@example.org")
    body = mail.get_payload(decode=True).decode().replace("\r\n", "\n")
    note = body.split("-----BEGIN CHECKPOINT-----\n")[1].split("-----END CHECKPOINT-----")[0]
    assert mail["Subject"] == f"Audit checkpoint: {rows[0].tree_size} events"
    saved = tmp_path / "from-mail.txt"
    saved.write_text(note)
    _cut_to(hub_, rows[0].tree_size - 2)
    (tmp_path / "anchors").rename(tmp_path / "gone")   # the directory was lost too
    assert audit_proofs.verify(hub_, anchor_sinks(hub_)).ok   # nothing left to compare with
    result = audit_proofs.verify(hub_, anchor_sinks(hub_), extra=[(str(saved), note)])
    assert not result.ok and result.kind == "truncated"


def test_a_sink_that_fails_is_reported_and_the_others_still_anchor(make_hub, sqlite_url,
                                                                  tmp_path):
    clock = Clock()
    hub_ = make_hub(sqlite_url, clock=clock, audit_anchor_email="me@example.org",
                    audit_anchor_dir=tmp_path / "anchors")   # no email account connected
    _grow(hub_, clock)
    with pytest.raises(audit_proofs.AnchorError, match="email:personal is not connected"):
        audit_proofs.anchor(hub_, anchor_sinks(hub_))
    with hub_.db.read() as s:
        assert [r.sink for r in s.exec(select(AnchorRow))] == [f"directory:{tmp_path / 'anchors'}"]


def test_the_schedule_anchors_only_when_the_log_grew_and_the_interval_passed(make_hub,
                                                                            sqlite_url,
                                                                            tmp_path):
    clock = Clock()
    hub_ = make_hub(sqlite_url, clock=clock, audit_anchor_dir=tmp_path / "a",
                    audit_anchor_seconds=3600)
    sinks = anchor_sinks(hub_)
    _grow(hub_, clock)
    assert len(audit_proofs.anchor_if_due(hub_, sinks)) == 1      # never anchored: now
    assert audit_proofs.anchor_if_due(hub_, sinks) == []          # nothing new
    clock.advance(600)
    _grow(hub_, clock)
    assert audit_proofs.anchor_if_due(hub_, sinks) == []          # grown, not yet an hour
    clock.advance(3000)
    assert len(audit_proofs.anchor_if_due(hub_, sinks)) == 1
    clock.advance(7200)
    assert audit_proofs.anchor_if_due(hub_, sinks) == []          # due, but the log is the same
    assert len(list((tmp_path / "a").glob("checkpoint-*.txt"))) == 2


def test_hub_audit_commands_and_the_verifier_as_a_user_runs_them(env, tmp_path, monkeypatch):  # noqa: F811
    hub("init")
    monkeypatch.setenv("HUB_AUDIT_ANCHOR_DIR", str(tmp_path / "anchors"))
    assert "--with-audience" in hub("audit", "prove", "--help")
    assert "ANCHOR" in hub("audit", "--help")
    note = hub("audit", "checkpoint")
    assert note.split("\n")[1].isdigit() and "\n\n\u2014 " in note
    key = hub("audit", "key").strip()
    proof = tmp_path / "proof.json"
    hub("audit", "prove", "1", "-o", str(proof))
    run = subprocess.run([sys.executable, str(ROOT / "hub/audit/verifier.py"), str(proof),
                          "--key", key], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "ok: event #1 PolicyLoaded" in run.stdout
    assert "anchored" in hub("audit", "anchor")
    hub("people", "add", "Ana", "--email", "ana@example.org", "--list", "friends")
    assert "consistency" in hub("audit", "consistency", note.split("\n")[1])
    out = hub("audit", "verify")
    assert "chain intact" in out and "signed checkpoint" in out
    assert "not a date" in hub("audit", "person", "Ana", "--since", "yesterday", code=1)
    assert "0 deliveries to them" in hub("audit", "person", "Ana")
