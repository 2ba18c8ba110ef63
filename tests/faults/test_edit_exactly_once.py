"""Edits are exactly-once on the network like publishing: a run that dies after the network
took the replacement (Bluesky, real PDS) or whose answer was lost (SMTP correction) is resumed
without a second replacement or a second correction message."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

import adapters.bluesky
import adapters.email
from adapters.fake import FakePublisher
from hub.audit.sequencer import sequence_pending
from hub.domain.model import PeopleSnapshot
from hub.services.accounts import connect_account
from hub.services.delivery import deliver, due_ids
from hub.services.drafts import Author, PostInput
from hub.services.edit_copies import PrefixedSteps, claim, run_copy_edits
from hub.services.edits import EditInput, copy_versions, edit_post, plan_edit
from hub.services.people import NewPerson, add_person
from hub.services.posts import get_post, submit_post
from hub.store.deliveries import DbSteps
from hub.store.edit_tables import CopyEditRow
from hub.store.tables import AuditRow
from tests.conftest import ROOT, Clock
from tests.faults.smtp import FaultySmtpServer

pytestmark = pytest.mark.integration
DIE = ROOT / "tests" / "integration" / "bluesky" / "publish_and_die.py"


@pytest.fixture
def fakes() -> dict[str, FakePublisher]:
    return {"mastodon:main": FakePublisher("mastodon:main")}


async def _publish(hub) -> None:
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w")


def _audit(hub, name: str) -> list[dict]:
    sequence_pending(hub.db, wait=True)   # the queued audit events too
    with hub.db.read() as s:
        return [r.payload for r in s.exec(select(AuditRow).where(AuditRow.name == name))]


def _edit_row(hub, target: str) -> CopyEditRow:
    with hub.db.read() as s:
        return s.exec(select(CopyEditRow).where(CopyEditRow.target == target)).one()


async def test_a_replacement_that_died_after_the_pds_took_it_is_found_not_written_again(
        pds, make_hub, sqlite_url, policy_dir, tmp_path: Path) -> None:
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text().replace("bsky: {account: bluesky:me}",
                                                 "bsky: {account: bluesky:me, quotes: false}"))
    account = pds.create_account("edits")
    clock = Clock(live=True)
    hub = make_hub(sqlite_url, clock=clock)
    settings, secret = await adapters.bluesky.connect(
        {"handle": account.handle, "service": pds.url}, account.app_password)
    await connect_account(hub, "bluesky:me", {"handle": account.handle, "service": pds.url},
                          account.app_password, adapters.bluesky.connect)
    view = submit_post(hub, PostInput("Helo sky", ["public"]), Author())
    await _publish(hub)
    change = EditInput(text="Hello sky")
    plan = plan_edit(hub, view.post.id, change, Author())
    await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest, run=False)
    row = _edit_row(hub, "bsky")
    assert row.action == "replace" and row.key
    # A worker takes the copy edit and dies right after the PDS stored the new post, before
    # the hub recorded it: the PDS has the replacement, the hub only its start.
    assert claim(hub, row.id)
    edited = get_post(hub, view.post.id).post                            # the new version
    draft = hub.publishers.get("bluesky:me").prepare(
        edited, hub.policies.current.targets["bsky"], PeopleSnapshot())
    steps_file = tmp_path / "steps.json"
    args = {"account": "bluesky:me", "settings": settings, "secret": secret,
            "parts": list(draft.parts), "payload": dict(draft.payload), "key": row.key,
            "steps": str(steps_file), "die_at": "part:0"}
    (tmp_path / "args.json").write_text(json.dumps(args))
    died = subprocess.run([sys.executable, str(DIE), str(tmp_path / "args.json")],
                          capture_output=True, timeout=60)
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    steps = PrefixedSteps(DbSteps(hub.db, row.delivery_id, hub.now), f"v{row.version}:")
    for name, value in json.loads(steps_file.read_text()).items():
        await steps.record(name, value)           # what the dead worker had committed
    assert len(pds.records(account.did, "app.bsky.feed.post")) == 2     # old + replacement
    clock.advance(600)                                                   # its lease runs out
    await run_copy_edits(hub, view.post.id)
    await run_copy_edits(hub, view.post.id)                              # and once more
    posts = pds.records(account.did, "app.bsky.feed.post")
    assert [p["value"]["text"] for p in posts] == ["Hello sky"]
    assert posts[0]["uri"].endswith(f"/app.bsky.feed.post/{row.key}")
    gates = pds.records(account.did, "app.bsky.feed.postgate")
    assert [g["uri"].rsplit("/", 1)[1] for g in gates] == [row.key]       # quotes still off
    [replaced] = _audit(hub, "CopyReplaced")
    assert replaced["key"] == row.key
    [copy] = [c for c in copy_versions(hub, view.post.id) if c["target"] == "bsky"]
    assert copy["carries_version"] == 2 and copy["remote_id"] == posts[0]["uri"]


async def test_a_correction_whose_answer_was_lost_is_resent_under_the_same_message_id_only(
        make_hub, sqlite_url, policy_dir) -> None:
    policy = policy_dir / "hub.yaml"
    policy.write_text(policy.read_text().replace(
        "friends-mail: {account: email:personal, list: friends}",
        "friends-mail: {account: email:personal, list: friends, on_edit: correct}"))
    with FaultySmtpServer() as smtp:
        hub = make_hub(sqlite_url, clock=Clock(live=True))
        await connect_account(hub, "email:personal", smtp.account_settings(timeout=1.0), "",
                              adapters.email.connect)
        add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
        view = submit_post(hub, PostInput("Dinner at 7", ["friends"]), Author())
        await _publish(hub)
        add_person(hub, NewPerson("Bo", [("email", "bo@example.org")], ["friends"]))
        change = EditInput(text="Dinner at 8")
        plan = plan_edit(hub, view.post.id, change, Author())
        assert {c.target: c.action for c in plan.copies}["friends-mail"] == "correct"
        # The server stores the correction but answers after the client gave up.
        smtp.inbox.kill_window(1, lambda received: time.sleep(2.5))
        await edit_post(hub, view.post.id, change, Author(), confirm=plan.digest, run=True)
        row = _edit_row(hub, "friends-mail")
        assert row.status == "pending" and "will retry" in row.reason
        await run_copy_edits(hub, view.post.id)
        await run_copy_edits(hub, view.post.id)
        messages = smtp.inbox.snapshot()
        corrections = [m for m in messages if str(m.message["Subject"]).startswith("Correction")]
        assert {m.envelope_to for m in corrections} == {("ana@example.org",)}   # not Bo
        assert len({m.message_id for m in corrections}) == 1      # one message, folded
        assert "Dinner at 8" in corrections[0].text
        assert corrections[0].message["In-Reply-To"] == messages[0].message_id
        assert len(_audit(hub, "CopyCorrected")) == 1
        assert _edit_row(hub, "friends-mail").status == "done"
