"""The JSON API: posts (JSON or form-encoded, for phone shortcut apps) and media; the audit
API is in ``web.routes.audit``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from hub.errors import InvalidInput
from hub.media import store_media
from hub.services import token_scope
from hub.services.drafts import MAX_ALT, MAX_IMAGES, MediaRef, PostInput, split_list
from hub.services.edits import copy_versions
from hub.services.post_pages import MAX_QUERY, ListFilter, Page, scoped_post_page
from hub.services.posts import approve, get_post, submit_post
from hub.services.send_report import report_from_view
from hub.services.text_variants import MAX_PARTS, MAX_VARIANTS
from web.deps import ApproveToken, HubDep, PostToken, ReadToken


class ErrorBody(BaseModel):
    """Every 4xx/5xx from the API: what kind of error, and a sentence saying what is wrong."""

    error: str = Field(description="Error class, e.g. InvalidInput, AuthError, NotFound")
    detail: str = Field(description="What went wrong, readable by a person")
    field: str | None = Field(default=None, description="The request field at fault, if any")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    words = {400: "Invalid request", 401: "Missing or bad token",
             403: "The token may not do this", 404: "Not found",
             409: "Conflict with the hub's state", 413: "Request too large",
             422: "Invalid post (the detail says what)",
             500: "Unexpected error (nothing was half-written)"}
    return {code: {"model": ErrorBody, "description": words[code]} for code in codes}


router = APIRouter(prefix="/api", responses=_errors(400, 401, 403, 404, 413, 422, 500))


class MediaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(min_length=64, max_length=64, description="From POST /api/media")
    alt: str = Field(default="", max_length=MAX_ALT, description="Alt text")


class PostIn(BaseModel):
    """A post, written once. Form-encoded bodies use the same names; list fields may be
    comma-separated or repeated."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(default="", description="The post's text (may be left out when "
                      "`thread` holds it)")
    audiences: list[str] = Field(min_length=1, description="Audiences from the policy")
    tags: list[str] = Field(default_factory=list)
    content_warning: str | None = None
    language: str | None = Field(default=None, description="e.g. en, pt-BR")
    schedule_at: datetime | None = Field(default=None, description="ISO 8601 with zone")
    media: list[MediaIn] = Field(default_factory=list, max_length=MAX_IMAGES)
    thread: list[str] = Field(
        default_factory=list, max_length=MAX_PARTS,
        description="The text as a thread, one string per part: a reply chain on networks "
                    "that have them, the parts joined by a blank line elsewhere")
    variants: dict[str, str | list[str]] = Field(
        default_factory=dict, max_length=MAX_VARIANTS,
        description='Text for some networks or targets instead of `text`: {"bluesky": "a '
                    'shorter text"}, or a thread: {"mastodon": ["part 1", "part 2"]}. The '
                    "policy judges each target on the text it receives.")


_FORM_LISTS = {"audiences", "audience", "tags", "tag"}


def _from_form(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        if key == "thread":              # repeated, one field per part
            data["thread"] = values
        elif key.startswith("variants[") and key.endswith("]"):   # variants[bluesky]=…
            data.setdefault("variants", {})[key[9:-1]] = values[-1] if values else ""
        elif key in _FORM_LISTS:
            name = key if key.endswith("s") else key + "s"
            data.setdefault(name, []).extend(split_list(values))
        elif values:
            data[key] = values[-1] if values[-1] != "" else None
    if data.get("text") is None:
        data["text"] = ""
    return data


_POST_BODY = {
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/PostIn"}},
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["text", "audiences"],
            "properties": {"text": {"type": "string"},
                           "audiences": {"type": "string", "description": "comma-separated"},
                           "tags": {"type": "string", "description": "comma-separated"},
                           "content_warning": {"type": "string"},
                           "language": {"type": "string"},
                           "schedule_at": {"type": "string", "format": "date-time"},
                           "thread": {"type": "array", "items": {"type": "string"},
                                      "description": "repeat the field once per part"}},
            "additionalProperties": {"type": "string", "description":
                                     "variants[<network or target>]: its text"}}},
    }}
}


async def _read_post(request: Request) -> PostIn:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raw = _from_form(await request.form())
        elif ctype in ("application/json", ""):
            try:
                raw = json.loads(await request.body() or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"the body is not valid JSON: {exc}") from exc
            if not isinstance(raw, dict):
                raise InvalidInput("the body must be a JSON object with text and audiences")
        else:
            raise InvalidInput(f"unsupported content type {ctype!r}: send JSON or a form")
        return PostIn.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput("; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors())) from exc


@router.post("/posts", status_code=202, openapi_extra=_POST_BODY, tags=["posts"],
             summary="Write a post once; the policy routes it",
             responses={202: {"description": "Accepted: decisions and deliveries"}})
async def create_post(request: Request, hub: HubDep, token: PostToken) -> JSONResponse:
    body = await _read_post(request)
    data = PostInput(text=body.text, audiences=body.audiences, tags=body.tags,
                     content_warning=body.content_warning, language=body.language,
                     schedule_at=body.schedule_at,
                     media=[MediaRef(m.sha256, m.alt) for m in body.media],
                     thread=body.thread, variants=body.variants)
    view = await run_in_threadpool(submit_post, hub, data, token.author)
    answer = {**view.as_json(), **report_from_view(view).as_json()}
    return JSONResponse(answer, status_code=202,
                        headers={"Location": f"/api/posts/{view.post.id}"})


@router.get("/posts/{post_id}", tags=["posts"], summary="A post's decisions and deliveries")
async def read_post(post_id: str, hub: HubDep, token: ReadToken) -> dict[str, Any]:
    await run_in_threadpool(token_scope.require_post, hub, token.author, post_id)
    body = (await run_in_threadpool(get_post, hub, post_id)).as_json()
    body["copies"] = await run_in_threadpool(copy_versions, hub, post_id)   # versions per copy
    return body


@router.get("/posts", tags=["posts"], summary="Posts, newest first, a page at a time",
            responses={200: {"description": "A page of posts. When older ones exist, the "
                             "`Link` header holds the next page (rel=\"next\") and "
                             "`X-Next-Cursor` its cursor."}})
async def recent_posts(
        request: Request, response: Response, hub: HubDep, token: ReadToken,
        limit: Annotated[int, Field(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Field(max_length=400, description=(
            "From the previous page's X-Next-Cursor"))] = None,
        q: Annotated[str, Field(max_length=MAX_QUERY, description="Text search")] = "",
        state: Annotated[str, Field(max_length=20, description=(
            "failed, held or scheduled"))] = "",
        audience: Annotated[str, Field(max_length=100)] = "",
        account: Annotated[str, Field(max_length=100)] = "") -> list[dict[str, Any]]:
    """Only posts inside the token's audiences; a page is full whenever there are enough."""
    def read() -> Page:
        flt = ListFilter.parse(hub, q=q, state=state, audience=audience, account=account)
        return scoped_post_page(hub, flt, token.author, cursor, limit)

    page = await run_in_threadpool(read)
    if page.next_cursor:
        nxt = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{nxt}>; rel="next"'
        response.headers["X-Next-Cursor"] = page.next_cursor
    return [v.as_json() for v in page.views]


@router.post("/posts/{post_id}/approve", tags=["posts"],
             summary="Release held deliveries (re-checked when sent)")
async def approve_post(post_id: str, hub: HubDep, token: ApproveToken) -> dict[str, Any]:
    await run_in_threadpool(token_scope.require_post, hub, token.author, post_id)
    view = await run_in_threadpool(approve, hub, post_id, approver=f"token:{token.name}")
    return view.as_json()


@router.post("/media", tags=["posts"], status_code=201,
             summary="Upload an image; use its sha256 in a post's media")
async def upload_media(file: UploadFile, hub: HubDep, token: PostToken) -> dict[str, Any]:
    data = await file.read()
    row = await run_in_threadpool(store_media, hub, data)
    return {"sha256": row.sha256, "mime_type": row.mime_type, "size": row.size}
