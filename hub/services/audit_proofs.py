"""Use cases of the transparency log: sign a checkpoint, prove an event or a post's
who-could-see record is in it, prove two checkpoints consistent, anchor checkpoints off the
machine, and verify the whole log against everything signed and anchored.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.audit import merkle, tree
from hub.audit.anchors import AnchorError, AnchorSink, due
from hub.audit.checkpoint import LogKey, load_key
from hub.audit.records import canonical
from hub.audit.sequencer import settle
from hub.audit.verification import KnownHead, Progress, VerifyResult
from hub.audit.verifier import VerificationError
from hub.errors import InvalidInput, NotFound
from hub.runtime import Hub
from hub.store.tables import (
    AnchorRow,
    AuditRow,
    CheckpointRow,
    SnapshotRow,
    VerificationRow,
)

_B64 = base64.b64encode
log = structlog.get_logger("hub.audit")


def _b64(items: Sequence[bytes]) -> list[str]:
    return [_B64(x).decode() for x in items]


def checkpoint(hub: Hub) -> CheckpointRow:
    """Sign the tree as it is now (or return the latest checkpoint if the log has not grown)."""
    key = load_key(hub.settings)
    settle(hub.db)   # a checkpoint covers sequenced events: sequence what is queued first
    with hub.db.read() as s:
        conn = s.connection()
        size = tree.size(conn)
        root = tree.root(conn, size)
        latest = _latest(s)
    if latest is not None and latest.tree_size == size:
        return latest
    row = CheckpointRow(tree_size=size, root=root.hex(), created=hub.now(),
                        note=key.sign(size, root))
    with hub.db.transaction() as s:
        s.add(row)
    return row


def _latest(s: Session) -> CheckpointRow | None:
    return s.exec(select(CheckpointRow).order_by(col(CheckpointRow.tree_size).desc(),
                                                 col(CheckpointRow.id).desc()).limit(1)).first()


def verifier_key(hub: Hub) -> str:
    return load_key(hub.settings).verifier_text


def _covering(hub: Hub, leaf_index: int) -> CheckpointRow:
    with hub.db.read() as s:
        latest = _latest(s)
    if latest is not None and latest.tree_size > leaf_index:
        return latest
    return checkpoint(hub)


def prove(hub: Hub, ref: str, *, with_audience: bool = False) -> dict[str, Any]:
    """An inclusion proof bundle for event ``ref`` (a number), or for every who-could-see
    record (DeliverySucceeded) of post ``ref``, in the latest checkpoint covering them.
    ``with_audience`` adds each delivery's audience list (it names everyone who got it)."""
    settle(hub.db)
    with hub.db.read() as s:
        if ref.isdigit():
            rows = [r for r in [s.get(AuditRow, int(ref))] if r is not None]
            if not rows:
                raise NotFound(f"no audit event #{ref}")
        else:
            rows = list(s.exec(select(AuditRow).where(AuditRow.post_id == ref,
                                                      AuditRow.name == "DeliverySucceeded")
                               .order_by(col(AuditRow.seq))))
            if not rows:
                raise NotFound(f"post {ref!r} has no published delivery to prove (or does not "
                               "exist)")
        indexes = [tree.leaf_index(s.connection(), r.seq or 0) for r in rows]
    if any(i is None for i in indexes):
        raise NotFound("an event is not in the Merkle tree yet")
    cp = _covering(hub, max(i for i in indexes if i is not None))
    entries = []
    with hub.db.read() as s:
        get = tree.getter(s.connection())
        for row, index in zip(rows, indexes, strict=True):
            assert index is not None
            entry: dict[str, Any] = {
                "leaf_index": index, "leaf": tree.leaf_of(row).decode(),
                "inclusion": _b64(merkle.inclusion_proof(get, index, cp.tree_size))}
            if with_audience and row.name == "DeliverySucceeded" and row.subject:
                snap = s.get(SnapshotRow, row.subject)
                entry["snapshot"] = canonical(snap.payload) if snap else None
            entries.append(entry)
    return {"format": "hub-audit-proof/1", "checkpoint": cp.note,
            "verifier_key": verifier_key(hub), "entries": entries}


def consistency(hub: Hub, old_size: int, new_size: int | None = None) -> dict[str, Any]:
    """A proof that the checkpoint of ``new_size`` events extends the one of ``old_size``."""
    new = checkpoint(hub) if new_size is None else _checkpoint_of(hub, new_size)
    old = _checkpoint_of(hub, old_size)
    if old.tree_size > new.tree_size:
        raise InvalidInput("the old checkpoint must not be larger than the new one",
                           field="old")
    with hub.db.read() as s:
        proof = merkle.consistency_proof(tree.getter(s.connection()), old.tree_size,
                                         new.tree_size)
    return {"format": "hub-audit-consistency/1", "old": old.note, "new": new.note,
            "verifier_key": verifier_key(hub), "proof": _b64(proof)}


def _checkpoint_of(hub: Hub, size: int) -> CheckpointRow:
    with hub.db.read() as s:
        row = s.exec(select(CheckpointRow).where(CheckpointRow.tree_size == size)
                     .order_by(col(CheckpointRow.id).desc())).first()
    if row is None:
        raise NotFound(f"no checkpoint of {size} events: see `hub audit checkpoints`")
    return row


def checkpoints(hub: Hub, *, limit: int = 20) -> list[CheckpointRow]:
    with hub.db.read() as s:
        return list(s.exec(select(CheckpointRow).order_by(col(CheckpointRow.id).desc())
                           .limit(limit)))


def anchors(hub: Hub, *, limit: int = 20) -> list[AnchorRow]:
    """Where checkpoints were published, newest first."""
    with hub.db.read() as s:
        return list(s.exec(select(AnchorRow).order_by(col(AnchorRow.id).desc()).limit(limit)))


def anchor(hub: Hub, sinks: Sequence[AnchorSink]) -> list[AnchorRow]:
    """Sign a checkpoint now and publish it to every sink; each success is recorded."""
    if not sinks:
        raise InvalidInput("no anchor is configured: set HUB_AUDIT_ANCHOR_DIR (and/or "
                           "HUB_AUDIT_ANCHOR_BLUESKY, "
                           "HUB_AUDIT_ANCHOR_EMAIL)", field="anchors")
    cp = checkpoint(hub)
    done, failed = [], []
    for sink in sinks:
        try:
            where = sink.publish(cp.note, tree_size=cp.tree_size, root_hex=cp.root)
        except AnchorError as exc:
            failed.append(f"{sink.name}: {exc.message}")
            continue
        done.append(AnchorRow(checkpoint_id=cp.id or 0, tree_size=cp.tree_size,
                              sink=sink.name, location=where, created=hub.now()))
    with hub.db.transaction() as s:
        s.add_all(done)
    if failed:
        raise AnchorError("; ".join(failed))
    return done


def anchor_if_due(hub: Hub, sinks: Sequence[AnchorSink]) -> list[AnchorRow]:
    """The scheduled anchor: publish when the log grew and the interval has passed."""
    if not sinks:
        return []
    settle(hub.db)
    with hub.db.read() as s:
        last = s.exec(select(AnchorRow).order_by(col(AnchorRow.id).desc()).limit(1)).first()
        size = tree.size(s.connection())
    every = timedelta(seconds=hub.settings.audit_anchor_seconds)
    if not due(last_anchor=last.created if last else None,
               last_size=last.tree_size if last else 0, size=size, now=hub.now(), every=every):
        return []
    return anchor(hub, sinks)


def known_heads(hub: Hub, key: LogKey, sinks: Sequence[AnchorSink],
                extra: Sequence[tuple[str, str]] = ()) -> list[KnownHead]:
    """Every signed checkpoint to check the log against: the database's, the sinks', and
    ``extra`` (source, note) given by the owner. A note with a bad signature is refused."""
    notes: list[tuple[str, str]] = []
    with hub.db.read() as s:
        notes += [(f"checkpoint #{r.id} in the database", r.note)
                  for r in s.exec(select(CheckpointRow).order_by(col(CheckpointRow.id)))]
    for sink in sinks:
        notes += [(sink.name, n) for n in sink.notes()]
    notes += list(extra)
    heads = []
    for source, note in notes:
        try:
            cp = key.check(note)
        except VerificationError as exc:
            raise InvalidInput(f"{source}: {exc}", field="checkpoint") from None
        heads.append(KnownHead(cp.size, cp.root, source))
    return heads


def verify(hub: Hub, sinks: Sequence[AnchorSink] = (), *, extra: Sequence[tuple[str, str]] = (),
           progress: Progress | None = None) -> VerifyResult:
    """Verify the whole log against every checkpoint; the outcome is recorded for the pages."""
    started = hub.now()
    key = load_key(hub.settings)
    heads = known_heads(hub, key, sinks, extra)
    settle(hub.db)
    with hub.db.read() as s:
        result = hub.audit.verify(s, heads, progress=progress)
    with hub.db.transaction() as s:
        s.add(VerificationRow(started=started, finished=hub.now(), ok=result.ok,
                              events=result.events, tree_size=result.tree_size,
                              root=result.root, problem=result.problem,
                              anchors=sum(1 for h in heads if "database" not in h.source)))
    return result


def last_verification(hub: Hub) -> VerificationRow | None:
    with hub.db.read() as s:
        return s.exec(select(VerificationRow).order_by(col(VerificationRow.id).desc())
                      .limit(1)).first()


def log_size(hub: Hub) -> int:
    with hub.db.read() as s:
        return int(s.connection().execute(sa_select(func.count()).select_from(AuditRow))
                   .scalar() or 0)


def dumps(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


class AnchorSchedule:
    """The web process's background task: every minute (or ``audit_anchor_seconds`` if
    shorter) it anchors a checkpoint when one is due. A failing sink is logged and retried
    at the next tick; it never stops the hub."""

    def __init__(self, hub: Hub, sinks: Sequence[AnchorSink]) -> None:
        self.hub = hub
        self.sinks = list(sinks)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.sinks and self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        tick = min(60.0, max(self.hub.settings.audit_anchor_seconds, 1.0))
        while True:
            try:
                done = await asyncio.to_thread(anchor_if_due, self.hub, self.sinks)
                for row in done:
                    log.info("audit.anchored", sink=row.sink, tree_size=row.tree_size)
            except Exception:   # a sink down must not stop the hub: try again next tick
                log.exception("audit.anchor_failed")
            await asyncio.sleep(tick)
