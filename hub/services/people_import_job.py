"""Importing people as a background job (:mod:`hub.services.jobs`): the uploaded file is
kept in the data directory (owner-only) until the import has gone in, so an interrupted or
failed import can be run again from the jobs page; progress is counted in entries."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hub.errors import InvalidInput
from hub.ids import new_id
from hub.runtime import Hub
from hub.services.jobs import JobContext
from hub.services.people_import import parse_entries, upsert_entries

UPLOAD_DIR = "uploads"


def keep_upload(hub: Hub, filename: str, data: bytes) -> Path:
    """Store an uploaded file for an import job: ``<data_dir>/uploads/<random>``, 0600."""
    folder = hub.settings.data_dir / UPLOAD_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    suffix = ".vcf" if filename.lower().endswith((".vcf", ".vcard")) else ".csv"
    path = folder / f"{new_id('up')}{suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def import_params(path: Path, *, filename: str = "", fmt: str | None = None,
                  keep: bool = True) -> dict[str, Any]:
    """A job's parameters: the file to read, its name as the owner knows it, its format;
    ``keep`` False removes the file once the import has gone in (an upload)."""
    return {"path": str(path), "filename": filename or path.name, "format": fmt,
            "keep": keep}


def read_text(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"{name} is no longer there; import it again") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text") from None


def import_job(ctx: JobContext) -> dict[str, Any]:
    """Check the whole file, then write it in batches (see :mod:`hub.services.people_import`)."""
    path, name = Path(ctx.params["path"]), str(ctx.params.get("filename") or "the file")
    progress = ctx.progress
    progress.set(0, message=f"reading {name}", force=True)
    entries = parse_entries(read_text(path, name), filename=name, fmt=ctx.params.get("format"))
    total = len(entries)
    progress.set(0, total=total, message=f"checking {total:,} entries", force=True)

    def checked(n: int) -> None:
        progress.set(0, message=f"checked {n:,} of {total:,} entries")

    def batch(s: Any, done: int, added: int, updated: int) -> None:
        progress.set(done, message=f"imported {done:,} of {total:,} ({added:,} new, "
                                   f"{updated:,} updated)", session=s)

    added, updated = upsert_entries(ctx.hub, entries, actor=ctx.params.get("actor", "owner"),
                                    on_batch=batch, on_check=checked)
    progress.set(total, message=f"imported {total:,} people from {name} ({added:,} new, "
                                f"{updated:,} updated)", force=True)
    if not ctx.params.get("keep", True):
        path.unlink(missing_ok=True)
    return {"added": added, "updated": updated, "entries": total, "filename": name}
