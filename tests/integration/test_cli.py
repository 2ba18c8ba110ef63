"""The `hub` command as a user types it: init, people, lists, tokens, post, policy, audit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from hub.entrypoints.cli import main
from tests.conftest import ROOT, free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path, policy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_POLICY_DIR": str(policy_dir)}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def hub(*args: str, input: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def verify_chain() -> None:
    assert "chain intact" in hub("audit", "verify")


def test_init_people_lists_post_and_audit(env, tmp_path):
    out = hub("init")
    assert "Your first API token" in out and "hub_" in out
    assert "scopes post, read" in out and "cannot release held posts" in out
    assert "API token" not in hub("init")      # a second init creates no new token
    hub("people", "add", "Ana", "--email", "ana@example.org", "--list", "friends")
    csv = tmp_path / "people.csv"
    csv.write_text("name,email,mastodon,lists\nBo,bo@example.org,@bo@example.social,friends\n"
                   "Cy,cy@example.org,,clients\n")
    assert "imported 2 people" in hub("people", "import", str(csv))
    assert "(2 members)" in hub("lists", "show", "friends")
    hub("lists", "add", "clients", "Ana")
    hub("lists", "remove", "clients", "Cy")
    assert "Ana" in hub("lists", "show", "clients")
    assert "updated Ana Lima" in hub("people", "edit", "Ana", "--name", "Ana Lima",
                                     "--remove-identity", "email:ana@example.org")
    assert "no email identity" in hub("people", "edit", "Ana Lima", "--remove-identity",
                                      "email:ana@example.org", code=1)
    out = hub("post", "see you at 8", "--audience", "friends", "--tag", "dinner")
    assert "allow friends-feed" in out and "delivery" in out
    post_id = out.split()[1].rstrip(":")
    shown = json.loads(hub("show", post_id, "--json"))
    assert {d["target"] for d in shown["deliveries"]} == {"friends-mail", "friends-feed"}
    assert post_id in hub("audit", "post", post_id)
    lines = hub("audit", "export", "--format", "jsonl").splitlines()
    names = [json.loads(x)["name"] for x in lines]
    assert {"PolicyLoaded", "TokenCreated", "ListMembershipChanged", "PostSubmitted",
            "RouteDecided"} <= set(names)
    verify_chain()


def test_broken_csv_row_imports_nothing(env, tmp_path):
    hub("init")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAna,ana@example.org\nBo,bo-at-example\n")
    out = hub("people", "import", str(bad), code=1)
    assert "CSV line 3" in out and "bo-at-example" in out
    assert hub("people", "list") == ""


def test_token_limited_to_audiences(env):
    hub("init")
    out = hub("token", "create", "--name", "phone", "--scope", "post", "--audiences",
              "friends,clients")
    assert "audiences clients, friends" in out
    assert "unknown audience" in hub("token", "create", "--scope", "post", "--audiences",
                                     "nope", code=1)
    assert "unknown scope" in hub("token", "create", "--scope", "root", code=1)


def test_policy_check_names_file_and_line_and_test_runs_examples(env, policy_dir):
    hub("init")
    assert hub("policy", "check").startswith("ok:")
    good = (policy_dir / "hub.yaml").read_text()
    (policy_dir / "hub.yaml").write_text(good.replace("  - id: review-work\n    hold:",
                                                      "  - id: review-work\n    hodl:"))
    out = hub("policy", "check", code=1)
    assert "hub.yaml:" in out and "hodl" in out
    line = int(out.split("hub.yaml:")[1].split(":")[0])
    assert good.splitlines()[line - 1].strip().startswith(("hold", "- id: review-work"))


def test_explain_shows_every_target_and_the_deciding_rule(env):
    hub("init")
    out = hub("policy", "explain", "--audience", "public", "--tag", "private", "secret plans")
    assert "private-stays-home" in out
    assert out.count("\n") >= 6     # every target of the policy is listed


def test_approve_and_errors(env):
    hub("init")
    out = hub("post", "numbers", "--audience", "public", "--tag", "work")
    post_id = out.split()[1].rstrip(":")
    assert "awaiting approval" in out
    assert "pending" in hub("approve", post_id)
    assert "no delivery awaiting approval" in hub("approve", post_id, code=1)
    assert "no post" in hub("approve", "p_missing", code=1)
    assert "text is empty" in hub("post", "", "--audience", "friends", code=1)


def test_audit_verify_detects_a_row_edited_by_hand(env, tmp_path):
    hub("init")
    hub("people", "add", "Ana", "--list", "friends")
    verify_chain()
    engine = create_engine(f"sqlite:///{tmp_path / 'var' / 'hub.db'}")
    with engine.begin() as conn:   # what someone with database access might do
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("UPDATE audit_event SET actor='someone-else' WHERE seq=2"))
    engine.dispose()
    out = hub("audit", "verify", code=1)
    assert "event #2" in out and "altered" in out


def test_accounts_add_email_reads_the_password_from_stdin(env):
    hub("init")
    from tests.integration.smtp import SmtpServer

    with SmtpServer() as smtp:
        out = hub("accounts", "add", "email", "personal", "--host", "127.0.0.1", "--port",
                  str(smtp.port), "--security", "none", "--from", "me@example.org",
                  input="\n")
    assert "connected email:personal" in out
    assert "email:personal" in hub("accounts", "list")


def _wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(f"hub serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("hub serve did not start")


def test_serve_reload_on_request_keeps_the_old_policy_on_error_and_survives_restart(
        env, policy_dir, tmp_path, monkeypatch):
    """`hub serve` as a user runs it: reload, a broken edit, and a restart with work pending."""
    hub("init")
    hub("people", "add", "Ana", "--list", "friends")
    port = free_port()
    monkeypatch.setenv("HUB_PORT", str(port))     # the same shell runs serve and reload
    run_env = {**os.environ, **env, "HUB_PORT": str(port), "HUB_SWEEP_SECONDS": "0.2"}
    base = f"http://127.0.0.1:{port}"
    # a post written while no hub runs waits in the outbox
    post_id = hub("post", "written offline", "--audience", "friends").split()[1].rstrip(":")
    cmd = [sys.executable, "-m", "hub.entrypoints.cli", "serve"]
    proc = subprocess.Popen(cmd, env=run_env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_http(f"{base}/healthz", proc)
        digest = httpx.get(f"{base}/healthz").json()["policy_digest"]
        for _ in range(100):
            shown = json.loads(hub("show", post_id, "--json"))
            feed = next(d for d in shown["deliveries"] if d["target"] == "friends-feed")
            if feed["status"] == "published":
                break
            time.sleep(0.1)
        assert feed["status"] == "published"

        policy = policy_dir / "hub.yaml"
        good = policy.read_text()
        policy.write_text(good + "  - id: no-food\n    deny: {tags: [food]}\n")
        out = hub("policy", "reload")
        assert "now uses policy" in out
        new_digest = httpx.get(f"{base}/healthz").json()["policy_digest"]
        assert new_digest != digest

        policy.write_text(good + "  - id: broken\n    deny: {tagz: [food]}\n")
        out = hub("policy", "reload", code=1)
        assert "tagz" in out and "keeps its current policy" in out
        def sighup_rejections() -> int:
            return sum(1 for x in hub("audit", "export").splitlines()
                       if json.loads(x)["name"] == "PolicyRejected"
                       and json.loads(x)["actor"] == "SIGHUP")

        before = sighup_rejections()
        os.kill(proc.pid, signal.SIGHUP)        # even a direct SIGHUP keeps the old policy
        wait_until(lambda: sighup_rejections() > before, what="the hub to handle SIGHUP")
        assert httpx.get(f"{base}/healthz").json()["policy_digest"] == new_digest
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
        proc.stderr.close()
    events = [json.loads(x)["name"] for x in hub("audit", "export").splitlines()]
    assert "PolicyRejected" in events
    verify_chain()


def test_killing_the_hub_mid_delivery_loses_nothing_and_sends_nothing_twice(env, monkeypatch):
    """kill -9 while the mail server hangs on Bo; after a restart Ana is not mailed again."""
    from tests.integration.smtp import SmtpServer

    hub("init")
    hub("people", "add", "Ana", "--email", "ana@example.org", "--list", "friends")
    hub("people", "add", "Bo", "--email", "bo@example.org", "--list", "friends")
    port = free_port()
    monkeypatch.setenv("HUB_PORT", str(port))
    run_env = {**os.environ, **env, "HUB_PORT": str(port), "HUB_SWEEP_SECONDS": "0.2",
               "HUB_LEASE_SECONDS": "2"}
    with SmtpServer() as smtp:
        hub("accounts", "add", "email", "personal", "--host", "127.0.0.1", "--port",
            str(smtp.port), "--security", "none", "--from", "me@example.org", input="\n")
        smtp.inbox.stall["bo@example.org"] = 30
        post_id = hub("post", "kill me", "--audience", "friends").split()[1].rstrip(":")
        cmd = [sys.executable, "-m", "hub.entrypoints.cli", "serve"]
        first = subprocess.Popen(cmd, env=run_env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60      # a loaded CI machine starts the hub slowly
            while not smtp.inbox.to("ana@example.org") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(smtp.inbox.to("ana@example.org")) == 1
            time.sleep(0.3)                      # the hub is now stuck talking to Bo's RCPT
        finally:
            first.kill()                         # kill -9: no cleanup, lease left behind
            first.wait(10)
        smtp.inbox.stall.clear()
        second = subprocess.Popen(cmd, env=run_env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                shown = json.loads(hub("show", post_id, "--json"))
                mail = next(d for d in shown["deliveries"] if d["target"] == "friends-mail")
                if mail["status"] == "published":
                    break
                time.sleep(0.1)
            assert mail["status"] == "published", mail
        finally:
            second.send_signal(signal.SIGINT)
            second.wait(15)
        assert len(smtp.inbox.to("ana@example.org")) == 1
        assert len(smtp.inbox.to("bo@example.org")) == 1
    verify_chain()


def test_edit_preview_says_an_edit_never_adds_audiences_and_edit_status_follows_it(env):
    hub("init")
    made = json.loads(hub("post", "Garden party", "--audience", "public,friends",
                          "--tag", "private", "--json"))
    post_id = made["id"]
    preview = hub("edit", post_id, "--no-tags", input="n\n")
    assert "note: bsky: the policy would allow the edited post here, but an edit never adds " \
           "audiences; a new audience is a new post" in preview
    assert "Nothing changed." in preview
    as_json = json.loads(hub("edit", post_id, "--no-tags", "--json"))
    assert sorted(as_json["not_added"]) == ["bsky", "masto-public"]
    hub("edit", post_id, "--text", "Garden party at ours", "--yes")
    status = json.loads(hub("edit-status", post_id, "--json"))
    assert {c["target"]: c["latest_version"] for c in status["copies"]} == {
        "friends-mail": 2, "friends-feed": 2}
