"""Private Atom feeds: ``/feeds/{feed}.atom?token=…`` — 404 for any wrong or revoked token."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.errors import NotFound
from hub.services.feeds import FeedView, read_feed
from web.deps import HubDep
from web.routes.api import ErrorBody

router = APIRouter(tags=["feeds"])
_ATOM = "http://www.w3.org/2005/Atom"


@router.get("/feeds/{feed}.atom", summary="A member's private feed (personal token URL)",
            responses={200: {"content": {"application/atom+xml": {}}},
                       404: {"model": ErrorBody,
                             "description": "Unknown feed, or a wrong or revoked token"},
                       422: {"model": ErrorBody, "description": "Malformed query"}})
async def atom_feed(feed: str, hub: HubDep, token: str = "") -> Response:
    if not token:
        raise NotFound("no such feed")
    view = await run_in_threadpool(read_feed, hub, feed, token)
    xml = render_atom(view, base=hub.settings.base_url)
    return Response(xml, media_type="application/atom+xml; charset=utf-8",
                    headers={"Cache-Control": "private, no-store",
                             "X-Robots-Tag": "noindex"})


def render_atom(view: FeedView, *, base: str) -> bytes:
    """Atom 1.0; text is escaped by the XML writer, so nothing in a post becomes markup."""
    ET.register_namespace("", _ATOM)
    root = ET.Element(f"{{{_ATOM}}}feed")
    ET.SubElement(root, f"{{{_ATOM}}}id").text = f"{base}/feeds/{view.feed}"
    ET.SubElement(root, f"{{{_ATOM}}}title").text = f"{view.feed} (for {view.person_name})"
    ET.SubElement(root, f"{{{_ATOM}}}updated").text = view.updated.isoformat()
    author = ET.SubElement(root, f"{{{_ATOM}}}author")
    ET.SubElement(author, f"{{{_ATOM}}}name").text = "hub"
    for e in view.entries:
        entry = ET.SubElement(root, f"{{{_ATOM}}}entry")
        ET.SubElement(entry, f"{{{_ATOM}}}id").text = f"{base}/posts/{e.post_id}"
        title = e.content_warning or e.text.strip().splitlines()[0][:80]
        ET.SubElement(entry, f"{{{_ATOM}}}title").text = title
        ET.SubElement(entry, f"{{{_ATOM}}}updated").text = (e.updated or e.published).isoformat()
        ET.SubElement(entry, f"{{{_ATOM}}}published").text = e.published.isoformat()
        content = ET.SubElement(entry, f"{{{_ATOM}}}content", {"type": "text"})
        content.text = (f"CW: {e.content_warning}\n\n" if e.content_warning else "") + e.text
        if e.language:
            content.set("xml:lang", e.language)
        for tag in e.tags:
            ET.SubElement(entry, f"{{{_ATOM}}}category", {"term": tag})
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body
