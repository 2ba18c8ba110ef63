"""Changing posts through the API: edit (preview, then confirm), delete everywhere, approve
held edits, retry a failed delivery. Tokens with an audience allow-list act only on posts
wholly inside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.errors import NotFound
from hub.runtime import Hub
from hub.services import token_scope
from hub.services.cancel import cancel_delivery
from hub.services.deletion import delete_everywhere
from hub.services.edit_plan import check_author
from hub.services.edits import EditInput, approve_edits, copy_versions, edit_post, plan_edit
from hub.services.posts import retry
from hub.services.tokens import TokenIdentity
from hub.store.tables import DeliveryRow, PostRow
from web.deps import ApproveToken, HubDep, PostToken
from web.routes.api import _errors

router = APIRouter(prefix="/api", tags=["posts"], responses=_errors(400, 401, 403, 404, 409, 422))


class AltIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(min_length=64, max_length=64)
    alt: str = Field(max_length=1500)


class EditIn(BaseModel):
    """Fields to change (absent: kept). Without ``confirm`` the answer is a preview of what the
    edit would do to every copy, with the ``confirm`` value to send back to apply it."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    content_warning: str | None = Field(default=None, description='"" removes it')
    language: str | None = None
    tags: list[str] | None = None
    media: list[AltIn] = Field(default_factory=list, description="new alt text per image")
    audiences: list[str] | None = Field(default=None,
                                        description="must be the post's own: never widened")
    schedule_at: datetime | None = Field(default=None, description="only before it goes out")
    variants: dict[str, str | None] | None = Field(
        default=None, description='per network or target: a text sets its own text, null or '
        '"" removes it (that network then gets the main text); networks not named keep theirs')
    confirm: str | None = Field(default=None, description="the preview's confirm value")


@router.patch("/posts/{post_id}", summary="Edit a post: preview, then confirm",
              responses={200: {"description": "The preview: what the edit would do per copy"},
                         202: {"description": "Confirmed and recorded: the workers change the "
                                            "copies (``in_progress``); follow them on "
                                            "``GET /api/posts/{id}/copies``"}})
async def patch_post(post_id: str, body: EditIn, hub: HubDep, token: PostToken,
                     response: Response) -> dict[str, Any]:
    change = EditInput(text=body.text, content_warning=body.content_warning,
                       language=body.language, tags=body.tags,
                       alts={m.sha256: m.alt for m in body.media}, audiences=body.audiences,
                       schedule_at=body.schedule_at, variants=body.variants)
    if body.confirm is None:
        plan = await run_in_threadpool(plan_edit, hub, post_id, change, token.author)
        return {**plan.as_json(), "applied": False}
    result = await edit_post(hub, post_id, change, token.author, confirm=body.confirm)
    response.status_code = 202
    return result.as_json()


@router.delete("/posts/{post_id}", summary="Delete a post everywhere; says which copies stay")
async def delete_post(post_id: str, hub: HubDep, token: PostToken) -> dict[str, Any]:
    await run_in_threadpool(_may_change, hub, post_id, token)
    outcomes = await delete_everywhere(hub, post_id, actor=f"token:{token.name}")
    return {"post_id": post_id, "deleted": True,
            "copies": [{"target": o.target, "removed": o.removed, "reason": o.reason or None}
                       for o in outcomes],
            "still_live": [o.target for o in outcomes if not o.removed]}


@router.post("/posts/{post_id}/edits/approve", summary="Release held edits (re-checked)",
             status_code=202)
async def approve_post_edits(post_id: str, hub: HubDep, token: ApproveToken
                             ) -> dict[str, Any]:
    await run_in_threadpool(token_scope.require_post, hub, token.author, post_id)
    copies = await approve_edits(hub, post_id, approver=f"token:{token.name}",
                                 author=token.author)
    return {"post_id": post_id, "copies": copies}


@router.get("/posts/{post_id}/copies", summary="Which copy carries which version")
async def post_copies(post_id: str, hub: HubDep, token: PostToken) -> dict[str, Any]:
    await run_in_threadpool(token_scope.require_post, hub, token.author, post_id)   # or 404
    return {"post_id": post_id, "copies": await run_in_threadpool(copy_versions, hub, post_id)}


@router.post("/deliveries/{delivery_id}/cancel",
             summary="Cancel one target of a post before it goes out")
async def cancel_one(delivery_id: str, hub: HubDep, token: PostToken) -> dict[str, Any]:
    await run_in_threadpool(token_scope.require_delivery, hub, token.author, delivery_id)
    view = await run_in_threadpool(cancel_delivery, hub, delivery_id, token.author)
    return view.as_json()


@router.post("/deliveries/{delivery_id}/retry", summary="Send a failed delivery again")
async def retry_delivery(delivery_id: str, hub: HubDep, token: PostToken) -> dict[str, Any]:
    post_id = await run_in_threadpool(_delivery_post, hub, delivery_id)
    await run_in_threadpool(_may_change, hub, post_id, token)
    view = await run_in_threadpool(retry, hub, delivery_id, actor=f"token:{token.name}")
    return view.as_json()


def _may_change(hub: Hub, post_id: str, token: TokenIdentity) -> None:
    with hub.db.read() as s:
        row = s.get(PostRow, post_id)
        if row is None:
            raise NotFound(f"no post {post_id!r}")
        check_author(row, token.author)


def _delivery_post(hub: Hub, delivery_id: str) -> str:
    with hub.db.read() as s:
        d = s.get(DeliveryRow, delivery_id)
        if d is None:
            raise NotFound(f"no delivery {delivery_id!r}")
        return d.post_id
