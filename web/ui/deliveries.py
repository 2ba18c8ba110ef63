"""Deliveries: every copy the hub sent or will send, newest first, with search (the post's
text), filters (status, audience, account) and older pages by cursor."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.services.post_pages import DELIVERY_STATES, delivery_page
from web.deps import HubDep
from web.ui._guard import Owner
from web.ui._render import render
from web.ui.queue import accounts, filters

router = APIRouter(include_in_schema=False)


@router.get("/deliveries")
async def deliveries(request: Request, hub: HubDep, owner: Owner) -> Response:
    flt = filters(hub, request, DELIVERY_STATES)
    cursor = request.query_params.get("cursor") or None
    page = await run_in_threadpool(delivery_page, hub, flt, cursor)
    return render(request, "deliveries/list.html", {
        "section": "deliveries", "page": page, "flt": flt, "states": DELIVERY_STATES,
        "audiences": sorted(hub.policies.current.audiences), "accounts": accounts(hub),
        "cursor": cursor, "action": "/deliveries"})
