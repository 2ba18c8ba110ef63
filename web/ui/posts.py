"""Posts: the list and one post, with each target's delivery state updating live; retry,
approve held deliveries, delete everywhere."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from hub.domain.delivery import FINAL, DeliveryStatus
from hub.services.deletion import delete_everywhere
from hub.services.edits import copies_by_delivery
from hub.services.post_pages import STATES, post_page
from hub.services.posts import PostView, approve, get_post, retry
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render
from web.ui.queue import accounts, filters

router = APIRouter(include_in_schema=False)
QUIET = FINAL | {DeliveryStatus.HELD, DeliveryStatus.DELETED}   # only the owner moves these


def settled(view: PostView) -> bool:
    return all(d.status in QUIET for d in view.deliveries)


@router.get("/posts")
async def posts_list(request: Request, hub: HubDep, owner: Owner) -> Response:
    """Newest first, 50 a page, with search and filters; older pages by cursor."""
    flt = filters(hub, request, STATES)
    cursor = request.query_params.get("cursor") or None
    page = await run_in_threadpool(post_page, hub, flt, cursor)
    return render(request, "posts/list.html", {
        "section": "posts", "views": page.views, "page": page, "settled": settled,
        "flt": flt, "states": STATES, "audiences": sorted(hub.policies.current.audiences),
        "accounts": accounts(hub), "cursor": cursor, "action": "/posts"})


@router.get("/posts/{post_id}")
async def post_detail(post_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    view = await run_in_threadpool(get_post, hub, post_id)
    copies = await run_in_threadpool(copies_by_delivery, hub, post_id)
    return render(request, "posts/detail.html", {"section": "posts", "view": view,
                                                 "settled": settled, "copies": copies})


@router.get("/posts/{post_id}/live")
async def post_live(post_id: str, request: Request, hub: HubDep, owner: Owner) -> Response:
    """The status and deliveries panel alone, polled by the page while anything moves."""
    view = await run_in_threadpool(get_post, hub, post_id)
    copies = await run_in_threadpool(copies_by_delivery, hub, post_id)
    return render(request, "posts/_live.html", {"view": view, "settled": settled,
                                                "copies": copies,
                                                "detail": request.query_params.get("detail")
                                                == "1"})


@router.post("/posts/{post_id}/approve")
async def post_approve(post_id: str, request: Request, hub: HubDep, owner: Owner,
                       form: CsrfForm) -> Response:
    view = await run_in_threadpool(lambda: approve(hub, post_id))
    released = sum(1 for d in view.deliveries if d.status is DeliveryStatus.PENDING)
    return redirect(request, _back(form, post_id),
                    flash=f"Approved: {released} {'delivery' if released == 1 else 'deliveries'} "
                          "released (checked against the policy again as they go out).")


@router.post("/deliveries/{delivery_id}/retry")
async def delivery_retry(delivery_id: str, request: Request, hub: HubDep, owner: Owner,
                         form: CsrfForm) -> Response:
    view = await run_in_threadpool(lambda: retry(hub, delivery_id))
    return redirect(request, _back(form, view.post.id), flash="Sending it again.")


@router.post("/posts/{post_id}/delete")
async def post_delete(post_id: str, request: Request, hub: HubDep, owner: Owner,
                      form: CsrfForm) -> Response:
    outcomes = await delete_everywhere(hub, post_id)
    live = [o for o in outcomes if not o.removed]
    message = "Deleted everywhere." if not live else (
        "Deleted, but some copies are still live: " +
        "; ".join(f"{o.target}: {o.reason}" for o in live))
    return redirect(request, f"/posts/{post_id}", flash=message)


def _back(form: FormData, post_id: str) -> str:
    return "/posts" if form.get("back") == "list" else f"/posts/{post_id}"
