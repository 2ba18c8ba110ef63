"""The owner's jobs pages: every background job with a progress bar, the reason a job failed,
re-running one, starting an audit export or verification, downloading an export.

While a job runs, its page loads ``/static/jobs.js``, which asks ``/jobs/{id}/status`` (JSON)
for its figures every two seconds, moves the bar, and reloads the page when the job ends;
without the script the page says to reload it (a meta refresh would fail WCAG 2.2.1).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from hub.errors import Conflict, HubError
from hub.runtime import Hub
from hub.services import jobs
from hub.services.audit_export import ExportFilter
from hub.services.job_kinds import export_file, export_params
from hub.services.job_runner import JobRunner
from hub.store.job_tables import JobRow
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)
REFRESH_SECONDS = 2   # how often jobs.js asks for a running job's figures


def runner_of(request: Request) -> JobRunner:
    runner: JobRunner | None = getattr(request.app.state, "jobs", None)
    if runner is None:
        raise Conflict("background jobs do not run in this process; use the CLI")
    return runner


job_json = jobs.as_dict


def _view(job: JobRow) -> dict[str, Any]:
    return {**job_json(job), "row": job, "active": job.state in jobs.ACTIVE,
            "can_rerun": job.state in ("failed", "interrupted"),
            "download": job.kind == "audit-export" and job.state == "done"}


@router.get("/jobs")
def jobs_index(request: Request, hub: HubDep, owner: Owner,
               before: str | None = None) -> Response:
    rows = jobs.recent(hub, limit=50, before=before)
    views = [_view(j) for j in rows]
    return render(request, "jobs/index.html", {
        "section": "jobs", "jobs": views, "refresh": any(v["active"] for v in views),
        "older": rows[-1].id if len(rows) == 50 else None, "refresh_seconds": REFRESH_SECONDS})


@router.get("/jobs/{job_id}")
def job_detail(job_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    view = _view(jobs.get(hub, job_id))
    return render(request, "jobs/detail.html", {
        "section": "jobs", "job": view, "refresh": view["active"],
        "refresh_seconds": REFRESH_SECONDS})


@router.get("/jobs/{job_id}/status")
def job_status(job_id: str, hub: HubDep, owner: Owner) -> JSONResponse:
    return JSONResponse(job_json(jobs.get(hub, job_id)), headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}/download")
def job_download(job_id: str, hub: HubDep, owner: Owner) -> Response:
    job = jobs.get(hub, job_id)
    path = export_file(hub, job)
    media = "text/csv" if path.suffix == ".csv" else "application/x-ndjson"
    return FileResponse(path, media_type=media, filename=path.name,
                        headers={"Cache-Control": "no-store"})


@router.post("/jobs/{job_id}/rerun")
def job_rerun(job_id: str, request: Request, hub: HubDep, owner: Owner,
              form: CsrfForm) -> Response:
    try:
        job = runner_of(request).rerun(job_id)
    except HubError as exc:
        return redirect(request, f"/jobs/{job_id}", flash=exc.message, kind="bad")
    return redirect(request, f"/jobs/{job.id}", flash="Started again.")


@router.post("/jobs/audit-export")
def start_export(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    fmt = form.get("format")
    return _start(request, hub, "audit-export",
                  lambda: export_params(fmt if isinstance(fmt, str) else "", ExportFilter()))


@router.post("/jobs/audit-verify")
def start_verify(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    return _start(request, hub, "audit-verify", dict)


def _start(request: Request, hub: Hub, kind: str, params: Any) -> Response:
    try:
        job = runner_of(request).submit(kind, params())
    except HubError as exc:
        return redirect(request, "/jobs", flash=exc.message, kind="bad")
    return redirect(request, f"/jobs/{job.id}")
