"""The queue: held and scheduled posts by day, soonest first, each with its changes before it
goes out — approve, move the time, edit, cancel one target, cancel the whole post — through the
same services as the API (the policy's separate-approver rule applies to the owner too)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.domain.delivery import DeliveryStatus
from hub.errors import Conflict, HubError, InvalidInput
from hub.runtime import Hub
from hub.services.cancel import cancel_delivery
from hub.services.drafts import Author
from hub.services.edits import EditInput, edit_post, plan_edit
from hub.services.notices import feed_key, notices, replace_feed_key
from hub.services.post_pages import ListFilter, Page, queue_page
from hub.services.posts import approve, get_post
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)


def days(page: Page) -> Iterator[tuple[date, list[Any]]]:
    """The page's posts grouped by the (UTC) day they are due or were written."""
    keyed = [(page.keys[v.post.id], v) for v in page.views]
    for day, group in groupby(keyed, key=lambda kv: kv[0].date()):
        yield day, [v for _, v in group]


def filters(hub: Hub, request: Request, states: tuple[str, ...] = ("held", "scheduled")
            ) -> ListFilter:
    q = request.query_params
    return ListFilter.parse(hub, q=q.get("q", ""), state=q.get("state", ""),
                            audience=q.get("audience", ""), account=q.get("account", ""),
                            states=states)


def accounts(hub: Hub) -> list[str]:
    return sorted({t.account for t in hub.policies.current.targets.values()})


@router.get("/queue")
async def queue(request: Request, hub: HubDep, owner: Owner) -> Response:
    flt = filters(hub, request)
    cursor = request.query_params.get("cursor") or None
    page = await run_in_threadpool(queue_page, hub, flt, cursor)
    waiting = await run_in_threadpool(notices, hub, 5)
    return render(request, "queue/index.html", {
        "section": "queue", "page": page, "days": list(days(page)), "flt": flt,
        "states": ("held", "scheduled"), "audiences": sorted(hub.policies.current.audiences),
        "accounts": accounts(hub), "cursor": cursor, "notices": waiting, "action": "/queue",
        "owner_feed": f"/owner/feed.atom?key={feed_key(hub)}"})


@router.post("/queue/owner-feed/replace")
async def queue_owner_feed_replace(request: Request, hub: HubDep, owner: Owner,
                                   form: CsrfForm) -> Response:
    """A new secret link for the owner's notice feed; the old one stops working."""
    await run_in_threadpool(replace_feed_key, hub)
    return redirect(request, "/queue", flash="Your feed has a new link; the old one no longer "
                    "works. Subscribe to the new one in your reader.")


@router.post("/queue/posts/{post_id}/approve")
async def queue_approve(post_id: str, request: Request, hub: HubDep, owner: Owner,
                        form: CsrfForm) -> Response:
    try:
        view = await run_in_threadpool(lambda: approve(hub, post_id))
    except HubError as exc:
        return redirect(request, "/queue", flash=exc.message, kind="bad")
    released = sum(1 for d in view.deliveries if d.status is DeliveryStatus.PENDING)
    return redirect(request, "/queue", flash=f"Approved: {released} released (checked "
                                             "against the policy again as they go out).")


def _when(raw: str, tz: str) -> datetime:
    try:
        zone = ZoneInfo(tz or "UTC")
        when = datetime.fromisoformat(raw.strip())
    except (ValueError, ZoneInfoNotFoundError, OSError) as exc:   # OSError: a folder, too long
        raise InvalidInput(f"the new time is not a date and time like 2026-12-24T09:00 "
                           f"({exc})", field="schedule_at") from None
    return when.replace(tzinfo=zone) if when.tzinfo is None else when


@router.post("/queue/posts/{post_id}/reschedule")
async def queue_reschedule(post_id: str, request: Request, hub: HubDep, owner: Owner,
                           form: CsrfForm) -> Response:
    """Move the send-later time: an edit of the schedule only, judged by the policy again."""
    raw, tz = form.get("schedule_at"), form.get("tz")
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("choose the new date and time", field="schedule_at")
    change = EditInput(schedule_at=_when(raw, tz if isinstance(tz, str) else "UTC"))
    plan = await run_in_threadpool(plan_edit, hub, post_id, change, Author())
    await edit_post(hub, post_id, change, Author(), confirm=plan.digest)
    when = plan.post.schedule_at
    held = [c.target for c in plan.copies if c.action == "wait"]
    gone = [c.target for c in plan.copies if c.action == "cancel"]
    words = [f"Moved to {when:%d %b %Y, %H:%M} UTC." if when else "Moved."]
    if held:
        words.append("Now waiting for approval: " + ", ".join(held) + ".")
    if gone:
        words.append("Now denied, will not go out: " + ", ".join(gone) + ".")
    return redirect(request, "/queue", flash=" ".join(words), kind="warn" if gone else "ok")


@router.post("/queue/deliveries/{delivery_id}/cancel")
async def queue_cancel_one(delivery_id: str, request: Request, hub: HubDep, owner: Owner,
                           form: CsrfForm) -> Response:
    view = await run_in_threadpool(cancel_delivery, hub, delivery_id, Author())
    target = next((d.target for d in view.deliveries if d.id == delivery_id), delivery_id)
    return redirect(request, "/queue", flash=f"Cancelled {target} before it went out.")


def cancel_post(hub: Hub, post_id: str, author: Author) -> tuple[list[str], list[str]]:
    """Cancel every copy of a post not sent yet; the targets cancelled and those already out
    or going (which only deleting the post removes)."""
    view = get_post(hub, post_id)
    cancelled, out = [], []
    for d in view.deliveries:
        if d.status in (DeliveryStatus.PENDING, DeliveryStatus.HELD):
            try:
                cancel_delivery(hub, d.id, author)
                cancelled.append(d.target)
            except Conflict:           # it started going out meanwhile
                out.append(d.target)
        elif d.status in (DeliveryStatus.IN_FLIGHT, DeliveryStatus.PUBLISHED):
            out.append(d.target)
    return cancelled, out


@router.post("/queue/posts/{post_id}/cancel")
async def queue_cancel_post(post_id: str, request: Request, hub: HubDep, owner: Owner,
                            form: CsrfForm) -> Response:
    cancelled, out = await run_in_threadpool(cancel_post, hub, post_id, Author())
    if not cancelled:
        return redirect(request, "/queue", kind="bad",
                        flash="Nothing left to cancel: every copy has gone out or stopped.")
    message = "Cancelled " + ", ".join(cancelled) + "."
    if out:
        message += (" Already out or going: " + ", ".join(out) +
                    " (delete the post to remove those).")
    return redirect(request, "/queue", flash=message, kind="warn" if out else "ok")
