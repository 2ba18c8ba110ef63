"""The audit's long work as jobs (:mod:`hub.services.jobs`): an export written to a file in
the data directory, and a verification of the whole log. Both only call the audit services'
public functions."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col

from hub.errors import HubError, InvalidInput, NotFound
from hub.runtime import Hub
from hub.services import audit_export, audit_proofs
from hub.services.jobs import JobContext
from hub.store.tables import AuditRow

EXPORT_DIR = "exports"


def export_path(hub: Hub, job_id: str, fmt: str) -> Path:
    return hub.settings.data_dir / EXPORT_DIR / f"audit-{job_id}.{fmt}"


def export_params(fmt: str, flt: audit_export.ExportFilter) -> dict[str, Any]:
    """A job's parameters for an export (JSON: dates as ISO text)."""
    if fmt not in audit_export.FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: use jsonl or csv", field="format")
    return {"format": fmt, "since": flt.since.isoformat() if flt.since else None,
            "until": flt.until.isoformat() if flt.until else None, "post_id": flt.post_id}


def _filter(params: Any) -> audit_export.ExportFilter:
    def when(key: str) -> datetime | None:
        value = params.get(key)
        return datetime.fromisoformat(value) if value else None

    return audit_export.ExportFilter(when("since"), when("until"), params.get("post_id"))


def _count(hub: Hub, flt: audit_export.ExportFilter) -> int:
    q = sa_select(func.count()).select_from(AuditRow)
    if flt.post_id is not None:
        q = q.where(col(AuditRow.post_id) == flt.post_id)
    if flt.since is not None:
        q = q.where(col(AuditRow.created) >= flt.since)
    if flt.until is not None:
        q = q.where(col(AuditRow.created) < flt.until)
    with hub.db.read() as s:
        return int(s.connection().execute(q).scalar() or 0)


def audit_export_job(ctx: JobContext) -> dict[str, Any]:
    """Write the export to ``<data_dir>/exports/audit-<job>.<format>`` (an owner-only file),
    or to the text stream ``ctx.services["output"]`` when the caller gives one (the CLI)."""
    fmt = str(ctx.params.get("format", "jsonl"))
    flt = _filter(ctx.params)
    ctx.progress.set(0, total=_count(ctx.hub, flt), message="exporting", force=True)
    stream: TextIO | None = ctx.services.get("output")
    if stream is not None:
        events = _write_export(ctx, fmt, flt, stream)
        return {"events": events, "file": None, "format": fmt}
    path = export_path(ctx.hub, ctx.job_id, fmt)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        events = _write_export(ctx, fmt, flt, out)
    return {"events": events, "file": path.name, "format": fmt, "bytes": path.stat().st_size}


def _write_export(ctx: JobContext, fmt: str, flt: audit_export.ExportFilter,
                  out: TextIO) -> int:
    events = 0
    lines = audit_export.export(ctx.hub, fmt, flt)
    if fmt == "csv":
        out.write(next(lines))   # the header
    for line in lines:
        out.write(line)
        events += 1
        if events % 500 == 0:
            ctx.progress.set(events, message=f"exported {events:,} events")
    ctx.progress.set(events, total=events, message=f"exported {events:,} events", force=True)
    return events


def export_file(hub: Hub, job: Any) -> Path:
    """The finished export of ``job`` (a JobRow), or NotFound."""
    name = (job.result or {}).get("file")
    path = hub.settings.data_dir / EXPORT_DIR / str(name or "")
    if job.kind != "audit-export" or job.state != "done" or not name or not path.is_file():
        raise NotFound(f"job {job.id} has no export to download")
    return path


def audit_verify_job(ctx: JobContext) -> dict[str, Any]:
    """Verify the chain, the Merkle tree and every checkpoint; a problem fails the job."""
    sinks_of: Callable[[], Sequence[Any]] = ctx.services.get("anchor_sinks", lambda: ())
    ctx.progress.set(0, total=audit_proofs.log_size(ctx.hub), message="verifying", force=True)

    def progress(done: int, total: int) -> None:
        ctx.progress.set(done, total=total, message=f"checked {done:,} events")

    extra = [(str(source), str(text)) for source, text in ctx.params.get("against", [])]
    result = audit_proofs.verify(ctx.hub, sinks_of(), extra=extra, progress=progress)
    if not result.ok:
        raise HubError(f"audit log problem: {result.problem}")
    ctx.progress.set(result.events, total=result.events, force=True,
                     message=f"ok: {result.events:,} events, chain intact"
                             + (f", matches {len(result.checked)} signed checkpoint(s)"
                                if result.checked else ""))
    return {"ok": True, "events": result.events, "head": result.head, "root": result.root,
            "checkpoints_checked": len(result.checked)}
