"""The owner-only feed: ``/owner/feed.atom?key=…`` lists what waits for approval when no email
account is connected (the secret link is on the queue page). Entries name the post and what
holds it, never its text. 404 for a wrong key."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.runtime import Hub
from hub.services.notices import check_feed_key, notices
from web.deps import HubDep
from web.routes.api import ErrorBody

router = APIRouter(tags=["feeds"])
_ATOM = "http://www.w3.org/2005/Atom"


@router.get("/owner/feed.atom", summary="The owner's own feed of posts waiting for approval",
            responses={200: {"content": {"application/atom+xml": {}}},
                       404: {"model": ErrorBody, "description": "Wrong or missing key"},
                       422: {"model": ErrorBody, "description": "Malformed query"}})
async def owner_feed(hub: HubDep, key: str = "") -> Response:
    check_feed_key(hub, key)
    xml = await run_in_threadpool(render, hub)
    return Response(xml, media_type="application/atom+xml; charset=utf-8",
                    headers={"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"})


def render(hub: Hub) -> bytes:
    base = hub.settings.base_url
    entries = notices(hub, 50, channel="feed")
    ET.register_namespace("", _ATOM)
    root = ET.Element(f"{{{_ATOM}}}feed")
    ET.SubElement(root, f"{{{_ATOM}}}id").text = f"{base}/owner/feed"
    ET.SubElement(root, f"{{{_ATOM}}}title").text = "Your hub: waiting for you"
    ET.SubElement(root, f"{{{_ATOM}}}updated").text = (
        entries[0].created if entries else hub.now()).isoformat()
    author = ET.SubElement(root, f"{{{_ATOM}}}author")
    ET.SubElement(author, f"{{{_ATOM}}}name").text = "hub"
    for n in entries:
        entry = ET.SubElement(root, f"{{{_ATOM}}}entry")
        ET.SubElement(entry, f"{{{_ATOM}}}id").text = f"{base}/owner/notices/{n.id}"
        ET.SubElement(entry, f"{{{_ATOM}}}title").text = n.title
        ET.SubElement(entry, f"{{{_ATOM}}}updated").text = n.created.isoformat()
        ET.SubElement(entry, f"{{{_ATOM}}}link", {"href": f"{base}/queue"})
        ET.SubElement(entry, f"{{{_ATOM}}}content", {"type": "text"}).text = (
            f"Post {n.post_id} waits for your approval: open the queue to read it and decide."
            + (f" ({n.detail})" if n.detail else ""))
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
