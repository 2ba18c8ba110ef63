"""Audit: who could see a post, what a person could see, the chain's verification, export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from hub.bootstrap import anchor_sinks
from hub.errors import InvalidInput, NotFound
from hub.runtime import Hub
from hub.services import audit_proofs, audit_queries
from hub.services.audit_export import ExportFilter
from hub.services.audit_post import post_audit
from hub.services.people_pages import Query, people_page
from hub.services.post_pages import ListFilter, post_page
from hub.services.posts import get_post
from web.deps import HubDep
from web.routes.audit import stream_export
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/audit")
async def audit_home(request: Request, hub: HubDep, owner: Owner, find: str = "",
                     cursor: str = "") -> Response:
    """Shows the last verification (running one reads the whole log: it is a button), and the
    posts to open, searchable, 20 a page with older pages by cursor."""
    last = await run_in_threadpool(audit_proofs.last_verification, hub)
    size = await run_in_threadpool(audit_proofs.log_size, hub)
    flt = ListFilter.parse(hub, q=find)
    page = await run_in_threadpool(lambda: post_page(hub, flt, cursor or None, limit=20))
    views = page.views
    checkpoints = await run_in_threadpool(lambda: audit_proofs.checkpoints(hub, limit=1))
    anchors = await run_in_threadpool(lambda: audit_proofs.anchors(hub, limit=5))
    key = await run_in_threadpool(audit_proofs.verifier_key, hub)
    return render(request, "audit/index.html", {
        "section": "audit", "last": last, "size": size, "views": views, "q": "",
        "page": page, "cursor": cursor, "page_q": flt.q,
        "checkpoint": checkpoints[0] if checkpoints else None, "anchors": anchors,
        "verifier_key": key, "sinks": [s.name for s in anchor_sinks(hub)]})


@router.get("/audit/posts/{post_id}/proof.json")
async def audit_post_proof(post_id: str, hub: HubDep, owner: Owner) -> Response:
    """The post's who-could-see records with their inclusion proofs, for the verifier."""
    bundle = await run_in_threadpool(lambda: audit_proofs.prove(hub, post_id))
    return Response(audit_proofs.dumps(bundle), media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="proof-{post_id}.json"'})


@router.post("/audit/verify")
async def audit_verify_now(request: Request, hub: HubDep, owner: Owner,
                           form: CsrfForm) -> Response:
    result = await run_in_threadpool(lambda: audit_proofs.verify(hub, anchor_sinks(hub)))
    return redirect(request, "/audit", flash=(
        f"Verified: {result.events} events, all intact." if result.ok else
        f"Verification found a problem: {result.problem}"))


@router.get("/audit/posts/{post_id}")
async def audit_post(post_id: str, request: Request, hub: HubDep, owner: Owner,
                     delivery: str | None = None, cursor: str | None = None) -> Response:
    def load() -> tuple[Any, dict[str, Any]]:
        return get_post(hub, post_id), post_audit(hub, post_id,
                                                                delivery=delivery,
                                                                cursor=cursor)

    view, audit = await run_in_threadpool(load)
    digests = list(dict.fromkeys(e["policy_digest"] for e in audit["events"]
                                 if e["policy_digest"]))
    return render(request, "audit/post.html", {"section": "audit", "view": view,
                                               "audit": audit, "digests": digests})


def _matches(hub: Hub, q: str) -> list[tuple[Any, list[Any], list[str]]]:
    """The first 50 people whose name or an identity holds ``q`` (the people pages' search
    over the cached address book, not a read of every person)."""
    if len(q) > 200:
        raise InvalidInput("the search is longer than 200 characters", field="q")
    page = people_page(hub, Query(q=q.strip().lstrip("@")))
    return [(r.person, list(r.person.identities), list(r.lists)) for r in page.rows]


@router.get("/audit/people")
async def audit_people(request: Request, hub: HubDep, owner: Owner, q: str = "") -> Response:
    """Search by name or handle; one match opens that person's page."""
    matches = await run_in_threadpool(_matches, hub, q) if q.strip() else []
    if len(matches) == 1:
        return redirect(request, f"/audit/people/{matches[0][0].id}")
    return render(request, "audit/people.html", {"section": "audit", "q": q,
                                                 "matches": matches},
                  status=200 if matches or not q.strip() else 404)


@router.get("/audit/people/{person}")
async def audit_person(person: str, request: Request, hub: HubDep, owner: Owner,
                       public: bool = True, cursor: str | None = None,
                       public_cursor: str | None = None, account: str = "",
                       reach: str = "", since: str = "", until: str = "") -> Response:
    flt = audit_queries.Filters(since=_day(since, "since"), until=_day(until, "until"),
                                account=account or None, reach=reach or None)

    def load() -> tuple[dict[str, Any], dict[str, Any]]:
        found = audit_queries.person_audit(hub, person, include_public=public, filters=flt,
                                           cursor=cursor, public_cursor=public_cursor)
        entries = found["posts"] + (found["public"]["posts"] if found["public"] else [])
        posts = {}
        for entry in entries:
            if entry["post_id"] not in posts:
                try:
                    posts[entry["post_id"]] = get_post(hub, entry["post_id"])
                except NotFound:
                    continue
        return found, posts

    found, posts = await run_in_threadpool(load)
    query = {"public": "true" if public else "false", "account": account, "reach": reach,
             "since": since, "until": until}
    return render(request, "audit/person.html", {"section": "audit", "found": found,
                                                 "posts": posts, "public": public,
                                                 "query": query})


def _day(value: str, field: str) -> datetime | None:
    """A date (or date and time) from the filter form, as UTC."""
    if not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{field} is not a date (YYYY-MM-DD)", field=field) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@router.get("/audit/export")
async def audit_export(hub: HubDep, owner: Owner,
                       format: Literal["jsonl", "csv"] = "jsonl", since: str = "",
                       until: str = "", post: str = "") -> StreamingResponse:
    flt = ExportFilter(_day(since, "since"), _day(until, "until"), post or None)
    return stream_export(hub, format, flt, headers={
        "Content-Disposition": f'attachment; filename="hub-audit.{format}"'})
