"""The jobs API: start an audit export or verification in the background, follow its
progress, download the export. A token sees and starts only the kinds its scopes allow
(``audit`` and no audience limit for the audit's jobs); imports belong to the owner's pages
alone, and a job the token may not see answers 404 like one that does not exist."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.errors import Forbidden, NotFound
from hub.services import jobs
from hub.services.audit_export import ExportFilter
from hub.services.job_kinds import export_file, export_params
from hub.services.tokens import TokenIdentity, authenticate
from hub.store.job_tables import JobRow
from web.deps import HubDep
from web.routes.api import _errors
from web.ui.jobs import job_json, runner_of

router = APIRouter(prefix="/api/jobs", tags=["jobs"],
                   responses=_errors(400, 401, 403, 404, 409, 422, 500))


async def any_token(hub: HubDep, authorization: Annotated[
        str | None, Header(description="Bearer hub_… (see `hub token create`)")] = None
) -> TokenIdentity:
    return await run_in_threadpool(authenticate, hub, authorization)


Token = Annotated[TokenIdentity, Depends(any_token)]


def _may(token: TokenIdentity, kind: str) -> bool:
    return jobs.readable_by(kind, token.scopes, unlimited=token.audiences is None)


def _visible(hub: Any, token: TokenIdentity, job_id: str) -> JobRow:
    job = jobs.get(hub, job_id)
    if not _may(token, job.kind):
        raise NotFound(f"no job {job_id!r}")
    return job


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["audit-export", "audit-verify"] = Field(description="What to run")
    format: Literal["jsonl", "csv"] = Field(default="jsonl",
                                            description="audit-export: the file's format")


@router.post("", status_code=202, summary="Start a background job (audit export or verify)")
async def start_job(body: JobIn, request: Request, hub: HubDep, token: Token
                    ) -> dict[str, Any]:
    """Answers at once with the queued job; follow it at ``GET /api/jobs/{id}``."""
    if not _may(token, body.kind):
        raise Forbidden(f"starting {body.kind} needs a token with the "
                        f"{jobs.kind_of(body.kind).scope!r} scope and no audience limit")
    params = export_params(body.format, ExportFilter()) if body.kind == "audit-export" else {}
    runner = runner_of(request)
    job = await run_in_threadpool(lambda: runner.submit(body.kind, params,
                                                        actor=f"token:{token.name}"))
    return job_json(job)


@router.get("", summary="Recent jobs this token may see, newest first")
async def list_jobs(hub: HubDep, token: Token, before: str | None = None
                    ) -> dict[str, Any]:
    kinds = [k for k in jobs.KINDS if _may(token, k)]
    rows = await run_in_threadpool(lambda: jobs.recent(hub, limit=50, before=before,
                                                       kinds=kinds))
    return {"jobs": [job_json(j) for j in rows],
            "next_before": rows[-1].id if len(rows) == 50 else None}


@router.get("/{job_id}", summary="One job: state, done/total, message, reason if it failed")
async def get_job(job_id: str, hub: HubDep, token: Token) -> JSONResponse:
    job = await run_in_threadpool(_visible, hub, token, job_id)
    return JSONResponse(job_json(job), headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/download", summary="The file a finished audit export wrote",
            response_class=FileResponse)
async def download(job_id: str, hub: HubDep, token: Token) -> FileResponse:
    job = await run_in_threadpool(_visible, hub, token, job_id)
    path = export_file(hub, job)
    media = "text/csv" if path.suffix == ".csv" else "application/x-ndjson"
    return FileResponse(path, media_type=media, filename=path.name,
                        headers={"Cache-Control": "no-store"})
