"""The audit API: verification, who could see a post, what a person could see, export.

Every answer comes from ``hub.services.audit_queries`` / ``audit_export``, the same services
the CLI and the owner's pages use. Pages continue with the ``next_cursor`` they return.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from hub.bootstrap import anchor_sinks
from hub.services import audit_export, audit_proofs, audit_queries, token_scope
from hub.services.audit_post import post_audit
from web.deps import AuditToken, HubDep
from web.routes.api import _errors

router = APIRouter(prefix="/api/audit", tags=["audit"],
                   responses=_errors(400, 401, 403, 404, 422, 500))

Limit = Annotated[int, Query(ge=1, le=audit_queries.MAX_LIMIT, description="Page size")]
When = Annotated[datetime | None, Query(description="ISO 8601 with zone")]


@router.get("/verify", summary="Check the chain, the Merkle tree and every signed checkpoint")
async def audit_verify(hub: HubDep, token: AuditToken) -> dict[str, Any]:
    """Reads the whole log (bounded memory); the outcome is recorded for the audit page."""
    result = await run_in_threadpool(lambda: audit_proofs.verify(hub, anchor_sinks(hub)))
    return {"ok": result.ok, "events": result.events, "head": result.head,
            "problem": result.problem, "bad_seq": result.bad_seq, "kind": result.kind,
            "tree_size": result.tree_size, "root": result.root,
            "checkpoints_checked": len(result.checked)}


@router.get("/checkpoint", summary="Sign a checkpoint of the log now (C2SP tlog-checkpoint)",
            response_class=PlainTextResponse)
async def audit_checkpoint(hub: HubDep, token: AuditToken) -> str:
    row = await run_in_threadpool(audit_proofs.checkpoint, hub)
    return row.note


@router.get("/proofs/{ref}", summary="Inclusion proof of a post's who-could-see records "
            "(or of event number REF)")
async def audit_prove(ref: str, hub: HubDep, token: AuditToken,
                      with_audience: bool = False) -> dict[str, Any]:
    """Check it offline with ``python hub/audit/verifier.py proof.json --key KEY``."""
    token_scope.require_unlimited(token.author, "a proof of the log")
    return await run_in_threadpool(lambda: audit_proofs.prove(hub, ref,
                                                              with_audience=with_audience))


@router.get("/posts/{post_id}", summary="Who could see this post")
async def audit_post(post_id: str, hub: HubDep, token: AuditToken, limit: Limit = 100,
                     delivery: str | None = None, cursor: str | None = None
                     ) -> dict[str, Any]:
    """Per delivery (newest first), who could see it at send time: a page of ``limit``
    people each; continue one delivery's people with ``delivery`` and its ``next_cursor``."""
    await run_in_threadpool(token_scope.require_post, hub, token.author, post_id)
    return await run_in_threadpool(lambda: post_audit(
        hub, post_id, limit=limit, delivery=delivery, cursor=cursor))


@router.get("/people/{person}", summary="Every post this person could see (by id, name or "
            "identity)")
async def audit_person(person: str, hub: HubDep, token: AuditToken,
                       include_public: bool = True, since: When = None, until: When = None,
                       account: str | None = None, reach: str | None = None,
                       cursor: str | None = None, public_cursor: str | None = None,
                       limit: Limit = 50) -> dict[str, Any]:
    """Newest first. ``posts`` are the deliveries that named this person (through a list or
    an identity); ``public`` counts and pages the posts anyone on the web could see."""
    flt = audit_queries.Filters(since=since, until=until, account=account, reach=reach)
    data = await run_in_threadpool(lambda: audit_queries.person_audit(
        hub, person, include_public=include_public, filters=flt, cursor=cursor,
        public_cursor=public_cursor, limit=limit,
        audiences=None if token.author.audiences is None else sorted(token.author.audiences)))
    return await run_in_threadpool(token_scope.filter_person_audit, hub, token.author, data)


@router.get("/export", summary="The log as JSONL or CSV, streamed",
            response_class=StreamingResponse,
            responses={200: {"description": "One event per line (JSONL) or row (CSV)",
                             "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                         "text/csv": {"schema": {"type": "string"}}}}})
async def audit_export_route(hub: HubDep, token: AuditToken,
                             format: Literal["jsonl", "csv"] = "jsonl", since: When = None,
                             until: When = None, post: str | None = None) -> StreamingResponse:
    token_scope.require_unlimited(token.author, "the audit export")
    return stream_export(hub, format, audit_export.ExportFilter(since, until, post))


def stream_export(hub: Any, fmt: str, flt: audit_export.ExportFilter,
                  headers: dict[str, str] | None = None) -> StreamingResponse:
    """A streamed export: pages are read in a worker thread as the client consumes them."""
    media = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    return StreamingResponse(iterate_in_threadpool(audit_export.export(hub, fmt, flt)),
                             media_type=media, headers=headers)
