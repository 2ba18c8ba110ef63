"""Audit: who could see a post, what a person could see, the chain's verification, export."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from hub.errors import NotFound
from hub.runtime import Hub
from hub.services import audit_queries
from hub.services.people import list_people
from hub.services.posts import get_post, list_posts
from web.deps import HubDep
from web.ui._guard import Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/audit")
async def audit_home(request: Request, hub: HubDep, owner: Owner) -> Response:
    result = await run_in_threadpool(audit_queries.verify, hub)
    views = await run_in_threadpool(list_posts, hub, limit=20)
    return render(request, "audit/index.html", {"section": "audit", "chain": result,
                                                "views": views, "q": ""})


@router.get("/audit/posts/{post_id}")
async def audit_post(post_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    def load() -> tuple[Any, dict[str, Any]]:
        return get_post(hub, post_id), audit_queries.post_audit(hub, post_id)

    view, audit = await run_in_threadpool(load)
    digests = list(dict.fromkeys(e["policy_digest"] for e in audit["events"]
                                 if e["policy_digest"]))
    return render(request, "audit/post.html", {"section": "audit", "view": view,
                                               "audit": audit, "digests": digests})


def _matches(hub: Hub, q: str) -> list[tuple[Any, list[Any], list[str]]]:
    needle = q.strip().lstrip("@").casefold()
    return [(p, idents, lists) for p, idents, lists in list_people(hub)
            if needle in p.name.casefold()
            or any(needle in i.value.lstrip("@").casefold() for i in idents)]


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
                       public: bool = True) -> Response:
    def load() -> tuple[dict[str, Any], dict[str, Any]]:
        found = audit_queries.person_audit(hub, person, include_public=public)
        posts = {}
        for entry in found["posts"]:
            if entry["post_id"] not in posts:
                try:
                    posts[entry["post_id"]] = get_post(hub, entry["post_id"])
                except NotFound:
                    continue
        return found, posts

    found, posts = await run_in_threadpool(load)
    return render(request, "audit/person.html", {"section": "audit", "found": found,
                                                 "posts": posts, "public": public})


@router.get("/audit/export")
async def audit_export(hub: HubDep, owner: Owner,
                       format: Literal["jsonl", "csv"] = "jsonl") -> StreamingResponse:
    chunks = await run_in_threadpool(lambda: list(audit_queries.export(hub, format)))
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    return StreamingResponse(iterate_in_threadpool(iter(chunks)), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="hub-audit.{format}"'})
