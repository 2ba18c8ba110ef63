"""Exactly once on a real PDS: killed jobs, lost answers and failures mid-thread."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bluesky_pds import MemorySteps, Pds, new_key

from hub.domain.model import PeopleSnapshot, Post, PostId, Reach, Target
from hub.domain.tid import offset_tid
from hub.errors import TransientDeliveryError

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
THREAD = " ".join(f"Sentence number {n} of a long story." for n in range(38))   # 5 parts
GATED = {"threadgate": ["mentioned"], "quotes": False, "split": True}


def draft_for(conn: Any, text: str, options: dict[str, Any]) -> Any:
    post = Post(id=PostId("p"), text=text, audiences=("public",), created=datetime.now(UTC))
    target = Target(name="t", account=conn.connection.account, reach=Reach.WORLD,
                    options=options)
    return conn.publisher.prepare(post, target, PeopleSnapshot())


def posts(pds: Pds, conn: Any) -> list[dict[str, Any]]:
    return pds.records(conn.account.did, "app.bsky.feed.post")


def run_and_die(tmp_path: Path, conn: Any, draft: Any, key: str, die_at: str) -> dict[str, str]:
    """Publish in a child process that is SIGKILLed when it records ``die_at``."""
    steps = tmp_path / "steps.json"
    args = {"account": conn.connection.account, "settings": dict(conn.connection.settings),
            "secret": conn.connection.secret, "parts": list(draft.parts),
            "payload": dict(draft.payload), "key": key, "steps": str(steps), "die_at": die_at}
    (tmp_path / "args.json").write_text(json.dumps(args))
    done = subprocess.run([sys.executable, str(HERE / "publish_and_die.py"),
                           str(tmp_path / "args.json")], capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    return json.loads(steps.read_text())


async def test_killed_after_the_write_before_the_hub_records_it_leaves_one_post(
        pds: Pds, connect_account: Any, tmp_path: Path) -> None:
    conn = await connect_account()
    draft, key = draft_for(conn, "exactly once", {"threadgate": ["nobody"]}), new_key()
    recorded = run_and_die(tmp_path, conn, draft, key, die_at="part:0")
    assert "part:0" not in recorded and len(posts(pds, conn)) == 1     # landed, unrecorded
    steps = MemorySteps()
    steps.values.update(recorded)
    receipt = await conn.publisher.publish(draft, key=key, steps=steps)    # the job, again
    assert receipt.remote_id.endswith(f"/app.bsky.feed.post/{key}")
    assert len(posts(pds, conn)) == 1
    assert len(pds.records(conn.account.did, "app.bsky.feed.threadgate")) == 1
    assert conn.transport.calls.get("applyWrites", 0) == 0            # found, not re-sent
    assert conn.transport.calls["getRecord"] == 1


async def test_a_thread_killed_midway_resumes_where_it_stopped(
        pds: Pds, connect_account: Any, tmp_path: Path) -> None:
    conn = await connect_account()
    draft, key = draft_for(conn, THREAD, GATED), new_key()
    assert len(draft.parts) == 5
    recorded = run_and_die(tmp_path, conn, draft, key, die_at="part:2")
    assert {"part:0", "part:1"} <= recorded.keys() and len(posts(pds, conn)) == 3
    before = {p["uri"]: p["cid"] for p in posts(pds, conn)}
    steps = MemorySteps()
    steps.values.update(recorded)
    receipt = await conn.publisher.publish(draft, key=key, steps=steps)
    after = {p["uri"]: p["cid"] for p in posts(pds, conn)}
    assert len(after) == 5 and all(after[uri] == cid for uri, cid in before.items())
    assert conn.transport.calls["applyWrites"] == 2                    # parts 4 and 5 only
    rkeys = [p["uri"].rsplit("/", 1)[1] for p in receipt.details["parts"]]
    assert rkeys == [key] + [offset_tid(key, n) for n in range(1, 5)]
    assert len(pds.records(conn.account.did, "app.bsky.feed.postgate")) == 5


@pytest.mark.parametrize("lost_call", [1, 3])
async def test_a_lost_answer_is_checked_with_get_record_not_written_twice(
        pds: Pds, connect_account: Any, lost_call: int) -> None:
    conn = await connect_account()
    conn.transport.lose = ("applyWrites", lost_call)
    draft = draft_for(conn, THREAD, GATED)
    receipt = await conn.publisher.publish(draft, key=new_key(), steps=MemorySteps())
    assert len(posts(pds, conn)) == 5 and len(receipt.details["parts"]) == 5
    assert conn.transport.calls["applyWrites"] == 5 and conn.transport.calls["getRecord"] == 1


async def test_a_failure_mid_thread_resumes_the_thread_instead_of_restarting_it(
        pds: Pds, connect_account: Any) -> None:
    conn = await connect_account()
    conn.transport.fail = ("applyWrites", 3)
    draft, key, steps = draft_for(conn, THREAD, GATED), new_key(), MemorySteps()
    with pytest.raises(TransientDeliveryError):
        await conn.publisher.publish(draft, key=key, steps=steps)
    assert len(posts(pds, conn)) == 2
    receipt = await conn.publisher.publish(draft, key=key, steps=steps)
    assert len(posts(pds, conn)) == 5
    first = receipt.details["parts"][0]
    for part in receipt.details["parts"][1:]:
        assert pds.record(part["uri"])["value"]["reply"]["root"]["cid"] == first["cid"]


async def test_publishing_again_after_success_sends_nothing(pds: Pds, connect_account: Any
                                                            ) -> None:
    conn = await connect_account()
    draft, key, steps = draft_for(conn, "once", {}), new_key(), MemorySteps()
    first = await conn.publisher.publish(draft, key=key, steps=steps)
    calls = dict(conn.transport.calls)
    again = await conn.publisher.publish(draft, key=key, steps=steps)
    assert again == first and conn.transport.calls == calls


async def test_even_with_its_checkpoints_lost_a_delivery_key_cannot_post_twice(
        pds: Pds, connect_account: Any) -> None:
    """The PDS refuses a second record at the same rkey (HTTP 500); the adapter finds the first."""
    conn = await connect_account()
    draft, key = draft_for(conn, "once", {}), new_key()
    first = await conn.publisher.publish(draft, key=key, steps=MemorySteps())
    again = await conn.publisher.publish(draft, key=key, steps=MemorySteps())
    assert again.remote_id == first.remote_id and len(posts(pds, conn)) == 1


async def test_a_thread_that_failed_midway_can_still_be_deleted_from_its_checkpoints(
        pds: Pds, connect_account: Any) -> None:
    from hub.ports import Receipt
    conn = await connect_account()
    conn.transport.fail = ("applyWrites", 3)
    draft, steps = draft_for(conn, THREAD, GATED), MemorySteps()
    with pytest.raises(TransientDeliveryError):
        await conn.publisher.publish(draft, key=new_key(), steps=steps)
    assert len(posts(pds, conn)) == 2
    await conn.publisher.delete(Receipt(remote_id=""), steps=steps)
    assert posts(pds, conn) == []
    assert pds.records(conn.account.did, "app.bsky.feed.threadgate") == []
    assert pds.records(conn.account.did, "app.bsky.feed.postgate") == []
