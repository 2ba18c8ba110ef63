"""The transparency log through the hub: checkpoints, inclusion and consistency proofs checked
by the standalone verifier, and anchored checkpoints that catch truncation, rewritten history
and forks (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest

from hub.audit import verifier
from hub.audit.anchors import DirectorySink
from hub.domain.events import PolicyLoaded
from hub.services import audit_proofs
from hub.services.delivery import deliver, due_ids
from hub.services.people import NewPerson, add_person
from hub.services.posts import Author, PostInput, submit_post
from tests.conftest import Clock

pytestmark = pytest.mark.integration
AUDIT_TABLES = ("audit_event", "audit_tree", "audit_checkpoint")


async def _post(hub, text: str = "for friends", audience: str = "friends") -> str:
    view = submit_post(hub, PostInput(text, [audience]), Author())
    for delivery_id in await asyncio.to_thread(due_ids, hub):
        await deliver(hub, delivery_id, worker="w1")
    return view.post.id


def _fails(bundle: dict, key: verifier.VerifierKey) -> bool:
    try:
        verifier.verify_proof(bundle, key)
    except (verifier.VerificationError, ValueError, KeyError):
        return True
    return False


async def test_a_posts_proof_verifies_offline_and_fails_when_any_byte_changes(
        sqlite_url, make_hub, tmp_path):
    hub = make_hub(sqlite_url)
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    post_id = await _post(hub)
    bundle = audit_proofs.prove(hub, post_id, with_audience=True)
    vkey = audit_proofs.verifier_key(hub)
    path = tmp_path / "proof.json"
    path.write_text(audit_proofs.dumps(bundle))
    assert verifier.main([str(path), "--key", vkey]) == 0
    key = verifier.VerifierKey.parse(vkey)
    (event,) = verifier.verify_proof(bundle, key)
    assert event["post_id"] == post_id and event["payload"]["target"] == "friends-feed"
    assert [m[1] for m in event["audience"]["members"]] == [event["audience"]["members"][0][1]]

    entry = bundle["entries"][0]
    leaf = entry["leaf"]
    for i in range(len(leaf)):            # every character of the event
        changed = leaf[:i] + chr(ord(leaf[i]) ^ 1) + leaf[i + 1:]
        assert _fails({**bundle, "entries": [{**entry, "leaf": changed}]}, key), i
    for n, h in enumerate(entry["inclusion"]):   # every byte of every proof hash
        raw = base64.b64decode(h)
        for i in range(len(raw)):
            bad = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1:]
            proof = list(entry["inclusion"])
            proof[n] = base64.b64encode(bad).decode()
            assert _fails({**bundle, "entries": [{**entry, "inclusion": proof}]}, key), (n, i)
    note = bundle["checkpoint"]
    for i in range(len(note)):            # every character of the checkpoint
        changed = note[:i] + chr(ord(note[i]) ^ 1) + note[i + 1:]
        assert _fails({**bundle, "checkpoint": changed}, key), i
    assert _fails({**bundle, "entries": [{**entry, "leaf_index": entry["leaf_index"] + 1}]},
                  key)
    snapshot = entry["snapshot"].replace("friends", "clients")
    assert _fails({**bundle, "entries": [{**entry, "snapshot": snapshot}]}, key)
    other = audit_proofs.load_key(hub.settings.model_copy(update={
        "data_dir": tmp_path / "elsewhere"}))
    assert verifier.main([str(path), "--key", other.verifier_text]) == 1


async def test_checkpoints_are_consistent_and_a_proof_of_an_event_verifies(database_url,
                                                                          make_hub, tmp_path):
    hub = make_hub(database_url)
    await _post(hub, "one", "public")
    first = audit_proofs.checkpoint(hub)
    assert audit_proofs.checkpoint(hub).id == first.id        # nothing new: the same one
    await _post(hub, "two", "public")
    bundle = audit_proofs.consistency(hub, first.tree_size)
    path = tmp_path / "consistency.json"
    path.write_text(json.dumps(bundle))
    key = verifier.VerifierKey.parse(audit_proofs.verifier_key(hub))
    old, new = verifier.verify_consistency_bundle(bundle, key)
    assert (old.size, new.size) == (first.tree_size, audit_proofs.checkpoints(hub)[0].tree_size)
    assert verifier.main([str(path)]) == 0
    raw = bytearray(base64.b64decode(bundle["proof"][0]))
    raw[0] ^= 1
    bad = {**bundle, "proof": [base64.b64encode(bytes(raw)).decode(), *bundle["proof"][1:]]}
    with pytest.raises(verifier.VerificationError, match="does not extend"):
        verifier.verify_consistency_bundle(bad, key)
    event = audit_proofs.prove(hub, "1")
    (seen,) = verifier.verify_proof(event, key)
    assert seen["seq"] == 1


def _tamper(hub, *statements: str) -> None:
    """Someone with write access to the database, around the append-only triggers."""
    with hub.db.engine.begin() as conn:
        if hub.db.dialect == "sqlite":
            for table in AUDIT_TABLES:
                for verb in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        else:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for sql in statements:
            conn.exec_driver_sql(sql)


def _cut_to(hub, size: int) -> None:
    """Remove every event from leaf ``size`` on, with its tree nodes and the hub's own
    checkpoints: what the chain alone cannot notice."""
    with hub.db.read() as s:
        seq = s.connection().exec_driver_sql(
            f"SELECT seq FROM audit_tree WHERE level = 0 AND idx = {size}").scalar()
    _tamper(hub, f"DELETE FROM audit_event WHERE seq >= {seq}",
            f"DELETE FROM audit_tree WHERE ((idx + 1) << level) > {size}",
            "DELETE FROM audit_checkpoint")


def _verify(hub, sink) -> audit_proofs.VerifyResult:
    return audit_proofs.verify(hub, [sink])


async def test_verify_catches_truncation_after_an_anchored_checkpoint(database_url, make_hub,
                                                                     tmp_path):
    hub = make_hub(database_url)
    sink = DirectorySink(tmp_path / "anchors")
    await _post(hub, "one", "public")
    await _post(hub, "two", "public")
    (anchored,) = audit_proofs.anchor(hub, [sink])
    assert Path(anchored.location).read_text().startswith(verifier.VerifierKey.parse(
        audit_proofs.verifier_key(hub)).name + "\n")
    seen = []
    assert _verify(hub, sink).ok
    result = audit_proofs.verify(hub, [sink], progress=lambda done, total: seen.append(done))
    assert result.ok and seen[-1] == result.events
    _cut_to(hub, anchored.tree_size - 3)
    assert audit_proofs.verify(hub).ok           # the chain and the tree alone look fine
    result = _verify(hub, sink)
    assert not result.ok and result.kind == "truncated"
    assert f"covers {anchored.tree_size} events" in (result.problem or "")
    last = audit_proofs.last_verification(hub)
    assert last is not None and last.ok is False and "truncated" in (last.problem or "")


async def test_verify_catches_a_rewritten_history(database_url, make_hub, tmp_path):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    sink = DirectorySink(tmp_path / "anchors")
    await _post(hub, "one", "public")
    (anchored,) = audit_proofs.anchor(hub, [sink])
    _cut_to(hub, 1)        # rewrite everything after the first event, then grow past it
    with hub.db.transaction() as s:
        for i in range(anchored.tree_size + 2):
            hub.audit.append(s, PolicyLoaded(actor="intruder", files=[f"f{i}"]), now=clock())
    assert audit_proofs.verify(hub).ok
    result = _verify(hub, sink)
    assert not result.ok and result.kind == "rewritten"
    assert f"first {anchored.tree_size} events no longer match" in (result.problem or "")


async def test_verify_catches_a_fork_two_signed_histories_of_one_length(database_url, make_hub,
                                                                       tmp_path):
    clock = Clock()
    hub = make_hub(database_url, clock=clock)
    sink = DirectorySink(tmp_path / "anchors")
    await _post(hub, "one", "public")
    (first,) = audit_proofs.anchor(hub, [sink])
    _cut_to(hub, first.tree_size - 1)   # the hub shows someone else another last event
    with hub.db.transaction() as s:
        hub.audit.append(s, PolicyLoaded(actor="other-history", files=[]), now=clock())
    (second,) = audit_proofs.anchor(hub, [sink])
    assert second.tree_size == first.tree_size and second.location != first.location
    result = _verify(hub, sink)
    assert not result.ok and result.kind == "fork"
    assert f"two signed checkpoints of {first.tree_size} events disagree" in (
        result.problem or "")
