"""Micropub (W3C Recommendation, 2017): post from any Micropub client with a hub API token.

``POST /micropub`` creates a post from an h-entry (form-encoded, multipart or JSON): ``content``
(text, or HTML reduced to text), ``name`` (a first line), ``category`` as tags,
``mp-syndicate-to`` as the audiences, ``photo`` (uploaded, a URL from the media endpoint, or
another site's URL fetched safely,
with ``alt``), ``published`` in the future as the schedule, ``summary`` / ``content-warning`` as
the content warning, and ``visibility`` as a ceiling on the audiences' reach. Without
``mp-syndicate-to`` the token's single allowed audience is used (never a wider default).
``action=delete`` deletes everywhere; ``action=update`` (replace / add / delete of content,
category, summary, mp-lang) goes through the hub's edit service; ``undelete`` publishes a deleted
post again to its audiences, judged again by the policy (``hub.services.undelete``).
``GET /micropub?q=config|syndicate-to|source`` and ``POST /micropub/media``.

Errors are Micropub's: ``unauthorized`` (401), ``insufficient_scope`` (401, with ``scope``),
``forbidden`` (403), ``invalid_request`` (400); the token never appears in them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from hub.domain.model import Reach
from hub.errors import AuthError, Forbidden, HubError, InvalidInput
from hub.media import MAX_MEDIA_BYTES, store_media
from hub.runtime import Hub
from hub.services import token_scope
from hub.services.deletion import delete_everywhere
from hub.services.posts import MediaRef, PostInput, get_post, submit_post
from hub.services.tokens import TokenIdentity, authenticate
from hub.services.undelete import undelete_post
from web.deps import HubDep
from web.routes import _micropub_entry as entry
from web.routes._micropub_update import update


class MicropubErrorBody(BaseModel):
    """Micropub's error shape (W3C Micropub §3.7)."""

    error: str = Field(description="invalid_request, unauthorized, insufficient_scope or "
                                   "forbidden")
    error_description: str = Field(description="What went wrong, readable by a person")
    scope: str | None = Field(default=None, description="For insufficient_scope: the scope "
                                                        "needed")


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": MicropubErrorBody, "description": "invalid_request"},
    401: {"model": MicropubErrorBody, "description": "unauthorized or insufficient_scope"},
    403: {"model": MicropubErrorBody, "description": "forbidden"},
    413: {"description": "Request too large (the hub's body limit)"},
    422: {"description": "Crafted input refused by the hub's input checks, before Micropub"},
}
_CREATED = {"description": "Created; Location names the new post (or file)",
            "headers": {"Location": {"schema": {"type": "string"}}}}
_FORM_OR_JSON = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
        "h": {"type": "string"}, "content": {"type": "string"},
        "action": {"type": "string"}, "url": {"type": "string"}}}},
    "application/json": {"schema": {"type": "object"}}}}}
_FILE = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}}}}}}}

router = APIRouter(tags=["micropub"], responses=_ERRORS)

_CEILING = {"public": Reach.WORLD, "unlisted": Reach.WORLD_UNLISTED,
            "private": Reach.FOLLOWERS}
_POST_PATH = re.compile(r"^/posts/([A-Za-z0-9_-]{1,64})/?$")
_MEDIA_PATH = re.compile(r"^/micropub/media/([0-9a-f]{64})$")
_MAX_PHOTOS = 4


class _InsufficientScope(HubError):
    status = 401

    def __init__(self, scope: str, has: frozenset[str]) -> None:
        super().__init__(f"this token lacks the {scope!r} scope (it has: "
                         f"{', '.join(sorted(has)) or 'none'})")
        self.scope = scope


def _error(exc: HubError) -> JSONResponse:
    if isinstance(exc, _InsufficientScope):
        return JSONResponse({"error": "insufficient_scope", "scope": exc.scope,
                             "error_description": exc.message}, status_code=401)
    if isinstance(exc, Forbidden):
        return JSONResponse({"error": "forbidden", "error_description": exc.message},
                            status_code=403)
    if isinstance(exc, AuthError):
        return JSONResponse({"error": "unauthorized", "error_description": exc.message},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse({"error": "invalid_request", "error_description": exc.message},
                        status_code=400)


async def _token(hub: Hub, request: Request, form_token: str | None, scope: str
                 ) -> TokenIdentity:
    header = request.headers.get("authorization")
    if header and form_token:
        raise InvalidInput("send the token in the Authorization header or in access_token, "
                           "not both")
    if not header and form_token:
        header = f"Bearer {form_token}"
    if not header:
        raise AuthError("no access token: send 'Authorization: Bearer hub_…'")
    identity = await run_in_threadpool(authenticate, hub, header)
    if scope not in identity.scopes:
        raise _InsufficientScope(scope, identity.scopes)
    return identity


def _base(hub: Hub, request: Request) -> str:
    return (hub.settings.public_url or str(request.base_url)).rstrip("/")


def _allowed(hub: Hub, token: TokenIdentity) -> list[str]:
    """The audiences this token may post to, in the policy's order."""
    names = list(hub.policies.current.audiences)
    return [n for n in names if token.audiences is None or n in token.audiences]


def _targets(hub: Hub, token: TokenIdentity) -> list[dict[str, str]]:
    audiences = hub.policies.current.audiences
    return [{"uid": n, "name": audiences[n].description or f"{n} ({audiences[n].reach.plain})"}
            for n in _allowed(hub, token)]


@router.get("/micropub", summary="Micropub queries: q=config, q=syndicate-to, q=source",
            responses={200: {"description": "The query's answer (JSON)",
                             "content": {"application/json": {"schema": {"type": "object"}}}}})
async def query(request: Request, hub: HubDep, q: str | None = None, url: str | None = None
                ) -> Response:
    try:
        token = await _token(hub, request, None, "read" if q == "source" else "post")
        if q == "config":
            return JSONResponse({"media-endpoint": f"{_base(hub, request)}/micropub/media",
                                 "syndicate-to": _targets(hub, token),
                                 "q": ["config", "syndicate-to", "source"],
                                 "visibility": list(_CEILING),
                                 "post-types": [{"type": "note", "name": "Note"},
                                                {"type": "photo", "name": "Photo"}]})
        if q == "syndicate-to":
            return JSONResponse({"syndicate-to": _targets(hub, token)})
        if q == "source":
            wanted = request.query_params.getlist("properties[]") or \
                request.query_params.getlist("properties")
            return JSONResponse(await _source(hub, request, wanted, token))
        raise InvalidInput(f"unknown query q={q!r}: use config, syndicate-to or source")
    except HubError as exc:
        return _error(exc)


async def _source(hub: Hub, request: Request, wanted: list[str], token: TokenIdentity
                  ) -> dict[str, Any]:
    post_id = _post_id(hub, request, request.query_params.get("url"))
    await run_in_threadpool(token_scope.require_post, hub, token.author, post_id)
    view = await run_in_threadpool(get_post, hub, post_id)
    p = view.post
    base = _base(hub, request)
    props: dict[str, list[Any]] = {
        "content": [p.text], "category": list(p.tags), "mp-syndicate-to": list(p.audiences),
        "published": [(p.schedule_at or p.created).isoformat()],
        "photo": [{"value": f"{base}/micropub/media/{m.sha256}", "alt": m.alt}
                  for m in p.media]}
    if p.content_warning:
        props["summary"] = [p.content_warning]
    if wanted:
        return {"properties": {k: v for k, v in props.items() if k in wanted}}
    return {"type": ["h-entry"], "properties": props}


def _post_id(hub: Hub, request: Request, url: str | None) -> str:
    if not url:
        raise InvalidInput("give the post's url")
    parts = urlsplit(url)
    found = _POST_PATH.match(parts.path)
    if found is None or (parts.netloc and parts.netloc != urlsplit(_base(hub, request)).netloc):
        raise InvalidInput(f"{url!r} is not a post of this hub (…/posts/ID)")
    return found.group(1)


@router.post("/micropub", summary="Create (h-entry) or delete a post, Micropub style",
             openapi_extra=_FORM_OR_JSON, status_code=201, response_class=Response,
             responses={201: _CREATED, 204: {"description": "Deleted"},
                        200: {"description": "Updated: what the edit did to each copy",
                              "content": {"application/json": {"schema": {"type": "object"}}}}})
async def create(request: Request, hub: HubDep) -> Response:
    try:
        req = await _read(request)
        token = await _token(hub, request, req.access_token, "post")
        if req.action == "delete":
            return await _delete(hub, request, token, req)
        if req.action == "update":
            post_id = _post_id(hub, request, req.url)
            return JSONResponse(await update(hub, post_id, token, req))
        if req.action == "undelete":
            post_id = _post_id(hub, request, req.url)
            view = await run_in_threadpool(undelete_post, hub, post_id, token.author)
            return JSONResponse({"url": f"{_base(hub, request)}/posts/{post_id}",
                                 "deliveries": [{"target": d.target, "status": d.status}
                                                for d in view.deliveries
                                                if d.status != "deleted"]})
        if req.action != "create":
            raise InvalidInput(f"unknown action {req.action!r}")
        data = await _post_input(hub, request, token, req)
        view = await run_in_threadpool(submit_post, hub, data, token.author)
        location = f"{_base(hub, request)}/posts/{view.post.id}"
        return Response(status_code=201, headers={"Location": location})
    except HubError as exc:
        return _error(exc)


async def _read(request: Request) -> entry.Request:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return entry.from_json(await request.body())
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        items: list[tuple[str, Any]] = []
        for key, value in form.multi_items():
            items.append((key, await value.read() if isinstance(value, UploadFile) else value))
        return entry.from_form(items)
    raise InvalidInput(f"unsupported content type {ctype or '(none)'!r}: send a form, "
                       "multipart or JSON")


async def _post_input(hub: Hub, request: Request, token: TokenIdentity, req: entry.Request
                      ) -> PostInput:
    if req.type != "entry":
        raise InvalidInput(f"only h-entry posts can be created here, not h-{req.type}")
    text = f"{req.name}\n\n{req.content}".strip() if req.name and \
        not req.content.startswith(req.name) else req.content
    if not text.strip():
        raise InvalidInput("the post has no content")
    audiences = list(req.syndicate_to) or _default_audience(hub, token)
    unknown = [a for a in audiences if a not in hub.policies.current.audiences]
    if unknown:
        raise InvalidInput(f"unknown audience {unknown[0]!r} in mp-syndicate-to; this token's "
                           f"are: {', '.join(_allowed(hub, token)) or 'none'}")
    _check_visibility(hub, req.visibility, audiences)
    if len(req.photos) > _MAX_PHOTOS:
        raise InvalidInput(f"at most {_MAX_PHOTOS} photos per post")
    media = [await _photo(hub, request, photo) for photo in req.photos]
    return PostInput(text=text, audiences=audiences, tags=list(req.categories),
                     content_warning=req.summary, language=req.language,
                     schedule_at=_schedule(hub, req.published), media=media)


def _default_audience(hub: Hub, token: TokenIdentity) -> list[str]:
    allowed = _allowed(hub, token)
    if token.audiences is not None and len(allowed) == 1:
        return allowed
    raise InvalidInput("choose the audience with mp-syndicate-to (q=syndicate-to lists "
                       f"this token's: {', '.join(allowed) or 'none'})")


def _check_visibility(hub: Hub, visibility: str | None, audiences: list[str]) -> None:
    if visibility is None:
        return
    ceiling = _CEILING.get(visibility)
    if ceiling is None:
        raise InvalidInput(f"unknown visibility {visibility!r}: use public, unlisted or "
                           "private")
    known = hub.policies.current.audiences
    wider = [a for a in audiences if a in known and known[a].reach.wider_than(ceiling)]
    if wider:
        raise InvalidInput(f"visibility {visibility} does not allow {', '.join(wider)} "
                           f"(reach {known[wider[0]].reach.value})")


def _schedule(hub: Hub, published: str | None) -> datetime | None:
    if not published:
        return None
    try:
        when = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"published {published!r} is not an ISO 8601 date-time") from exc
    if when.tzinfo is None:
        raise InvalidInput("published needs a time zone (e.g. 2026-12-01T09:00:00+01:00)")
    return when if when > hub.now() else None   # the past: post now, the hub cannot backdate


async def _photo(hub: Hub, request: Request, photo: entry.Photo) -> MediaRef:
    if photo.data is not None:
        row = await run_in_threadpool(store_media, hub, photo.data)
        return MediaRef(row.sha256, photo.alt)
    parts = urlsplit(photo.url or "")
    found = _MEDIA_PATH.match(parts.path)
    if found is not None and parts.netloc == urlsplit(_base(hub, request)).netloc:
        return MediaRef(found.group(1), photo.alt)
    if hub.remote is None:
        raise InvalidInput(f"photo {photo.url!r}: upload it to the media endpoint first (this "
                           "hub does not fetch images from other sites)")
    # Someone else's URL: fetched with the link-card fetcher's rules (public addresses only,
    # pinned, every redirect checked, the upload's size cap), then checked as an upload.
    try:
        data = await hub.remote.fetch(photo.url or "", limit=MAX_MEDIA_BYTES, kind="image/")
        row = await run_in_threadpool(store_media, hub, data)
    except InvalidInput as exc:
        raise InvalidInput(f"photo {photo.url!r}: {exc.message}", field="photo") from exc
    return MediaRef(row.sha256, photo.alt)


async def _delete(hub: Hub, request: Request, token: TokenIdentity, req: entry.Request
                  ) -> Response:
    post_id = _post_id(hub, request, req.url)
    view = await run_in_threadpool(get_post, hub, post_id)
    if token.audiences is not None and not set(view.post.audiences) <= token.audiences:
        raise Forbidden("this token may only delete posts to its own audiences "
                        f"({', '.join(sorted(token.audiences))})")
    await delete_everywhere(hub, post_id, actor=f"token:{token.name}")
    return Response(status_code=204)


@router.post("/micropub/media", status_code=201, summary="Micropub media endpoint",
             openapi_extra=_FILE, response_class=Response, responses={201: _CREATED})
async def media(request: Request, hub: HubDep) -> Response:
    try:
        form = await request.form()
        file = form.get("file")
        token_field = form.get("access_token")
        await _token(hub, request, token_field if isinstance(token_field, str) else None,
                     "post")
        if not isinstance(file, UploadFile):
            raise InvalidInput("send the image as a multipart part named 'file'")
        row = await run_in_threadpool(store_media, hub, await file.read())
    except HubError as exc:
        return _error(exc)
    return Response(status_code=201, headers={
        "Location": f"{_base(hub, request)}/micropub/media/{row.sha256}"})

