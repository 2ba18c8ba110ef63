"""Drafts through the API: save, read, change, delete, and send (which makes a post, judged by
the policy in force then). A draft is never routed or delivered before it is sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.services.drafts import MAX_ALT, MAX_IMAGES, MediaRef
from hub.services.saved_drafts import (
    DraftInput,
    delete_draft,
    get_draft,
    list_drafts,
    save_draft,
    send_draft,
    update_draft,
)
from hub.services.send_report import report_from_view
from hub.services.text_variants import MAX_PARTS, MAX_VARIANTS
from web.deps import HubDep, PostToken
from web.routes.api import _errors

router = APIRouter(prefix="/api/drafts", tags=["drafts"],
                   responses=_errors(400, 401, 403, 404, 413, 422))


class DraftMediaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(min_length=64, max_length=64, description="From POST /api/media")
    alt: str = Field(default="", max_length=MAX_ALT)


class DraftIn(BaseModel):
    """A draft: every field optional (a draft may be unfinished). Sending it checks it the way
    ``POST /api/posts`` checks a post."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(default="", max_length=50_000)
    audiences: list[str] = Field(default_factory=list, max_length=30)
    tags: list[str] = Field(default_factory=list, max_length=30)
    content_warning: str = Field(default="", max_length=500)
    language: str = Field(default="", max_length=16)
    schedule_at: datetime | None = Field(default=None, description="ISO 8601 with zone")
    media: list[DraftMediaIn] = Field(default_factory=list, max_length=MAX_IMAGES)
    thread: list[str] = Field(default_factory=list, max_length=MAX_PARTS,
                              description="The text as a thread, one string per part")
    variants: dict[str, str | list[str]] = Field(
        default_factory=dict, max_length=MAX_VARIANTS,
        description='Text for some networks or targets: {"bluesky": "a shorter text"} or a '
                    "thread's parts; judged per target when the draft is sent")

    def data(self) -> DraftInput:
        return DraftInput(self.text, self.audiences, self.tags, self.content_warning,
                          self.language, self.schedule_at,
                          tuple(MediaRef(m.sha256, m.alt) for m in self.media),
                          thread=self.thread, variants=self.variants)


@router.post("", status_code=201, summary="Save a draft (not routed, not delivered)")
async def create_draft(body: DraftIn, hub: HubDep, token: PostToken) -> JSONResponse:
    draft = await run_in_threadpool(save_draft, hub, body.data(), token.author)
    return JSONResponse(draft.as_json(), status_code=201,
                        headers={"Location": f"/api/drafts/{draft.id}"})


@router.get("", summary="Drafts, newest changed first")
async def drafts(hub: HubDep, token: PostToken) -> dict[str, Any]:
    found = await run_in_threadpool(list_drafts, hub, token.author)
    return {"drafts": [d.as_json() for d in found]}


@router.get("/{draft_id}", summary="One draft")
async def read_draft(draft_id: str, hub: HubDep, token: PostToken) -> dict[str, Any]:
    return (await run_in_threadpool(get_draft, hub, draft_id, token.author)).as_json()


@router.patch("/{draft_id}", summary="Replace a draft's fields (absent fields are kept)")
async def patch_draft(draft_id: str, body: DraftIn, hub: HubDep, token: PostToken
                      ) -> dict[str, Any]:
    def change() -> dict[str, Any]:
        old = get_draft(hub, draft_id, token.author).data
        given = body.model_fields_set
        merged = DraftIn(**{
            "text": body.text if "text" in given else old.text,
            "audiences": body.audiences if "audiences" in given else list(old.audiences),
            "tags": body.tags if "tags" in given else list(old.tags),
            "content_warning": body.content_warning if "content_warning" in given
            else old.content_warning,
            "language": body.language if "language" in given else old.language,
            "schedule_at": body.schedule_at if "schedule_at" in given else old.schedule_at,
            "media": [m.model_dump() for m in body.media] if "media" in given
            else [{"sha256": m.sha256, "alt": m.alt} for m in old.media],
            "thread": body.thread if "thread" in given else list(old.thread),
            "variants": body.variants if "variants" in given
            else {k: v if isinstance(v, str) else list(v) for k, v in old.variants.items()}})
        return update_draft(hub, draft_id, merged.data(), token.author).as_json()

    return await run_in_threadpool(change)


@router.delete("/{draft_id}", status_code=204, summary="Delete a draft")
async def remove_draft(draft_id: str, hub: HubDep, token: PostToken) -> Response:
    await run_in_threadpool(delete_draft, hub, draft_id, token.author)
    return Response(status_code=204)


@router.post("/{draft_id}/send", status_code=202,
             summary="Send a draft: it becomes a post, routed by the policy in force now")
async def send(draft_id: str, hub: HubDep, token: PostToken) -> JSONResponse:
    view = await run_in_threadpool(send_draft, hub, draft_id, token.author)
    answer = {**view.as_json(), **report_from_view(view).as_json(), "draft_id": draft_id}
    return JSONResponse(answer, status_code=202,
                        headers={"Location": f"/api/posts/{view.post.id}"})
