"""``create_app(settings)``: the web entrypoint. Its lifespan asks the composition root for the
runtime of its mode (embedded workers, or the arq enqueuer in distributed mode), starts it,
records the policy it loaded, and reloads the policy on SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
from collections.abc import AsyncIterator, Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.bootstrap import Runtime, bootstrap, web_mode
from hub.config import Settings
from hub.errors import HubError, PolicyFileInvalid
from hub.logging import configure_logging
from hub.ports import Publisher
from hub.runtime import Hub
from hub.services.keys import install_secret_key
from hub.services.policy import record_policy, reload_policy
from web import middleware, ui
from web.routes import (
    api,
    audit,
    contacts,
    drafts,
    edits,
    feeds,
    health,
    jobs,
    metrics,
    micropub,
    owner_feed,
)

log = structlog.get_logger("hub.web")


class BodyLimit:
    """Refuse bodies over the limit with 413 before reading them: ``limit`` for JSON and
    forms, ``upload_limit`` for multipart bodies (image uploads)."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.default_limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.upload_limit if multipart else self.default_limit
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = JSONResponse({"error": "request too large",
                                     "detail": f"bodies are limited to {limit} bytes"},
                                    status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            response = JSONResponse({"error": "request too large",
                                     "detail": f"bodies are limited to {limit} bytes"},
                                    status_code=413)
            await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_app(settings: Settings, *, runtime: Runtime | None = None,
               publishers: Mapping[str, Publisher] | None = None) -> FastAPI:
    """Build the app. ``runtime`` (built by the caller, who disposes it) or ``publishers`` let
    tests inject fakes through the ports; otherwise the lifespan bootstraps its own."""
    configure_logging(settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        rt = runtime if runtime is not None else await asyncio.to_thread(
            functools.partial(bootstrap, settings, web_mode(settings), publishers=publishers))
        the_hub = rt.hub
        policy = the_hub.policies.current
        await asyncio.to_thread(record_policy, the_hub, policy, actor="hub serve")
        for line in (await asyncio.to_thread(install_secret_key, the_hub)).lines():
            log.warning("secret_key.report", message=line)
        await rt.start()
        loop = asyncio.get_running_loop()
        pidfile = settings.data_dir / "hub.pid"
        if runtime is None:
            pidfile.write_text(str(os.getpid()))
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGHUP, _reload, the_hub)
        app.state.hub = the_hub
        app.state.workers = rt.workers
        if rt.workers is not None:
            app.state.metrics = rt.workers.metrics   # attempts and latency for /metrics
        app.state.enqueuer = rt.enqueuer
        app.state.jobs = rt.jobs   # background jobs (hub.services.jobs)
        app.state.contact_sync = rt.contacts
        log.info("hub.started", policy=policy.digest[:12], workers=rt.workers is not None)
        try:
            yield {"hub": the_hub}
        finally:
            await rt.stop()
            if runtime is None:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signal.SIGHUP)
                with contextlib.suppress(FileNotFoundError):
                    if pidfile.read_text().strip() == str(os.getpid()):
                        pidfile.unlink()
                rt.dispose()

    app = FastAPI(title="Cross-posting hub", version="0.1.0", lifespan=lifespan,
                  description="Write once; publish only where your policy permits; audit "
                              "who could see what. Authenticate with "
                              "`Authorization: Bearer hub_…` (create one with "
                              "`hub token create`).")
    middleware.install(app, settings)   # Host allow-list and input checks, inside the limit
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes,
                       upload_limit=settings.max_upload_bytes)
    app.include_router(health.router)
    app.include_router(api.router)
    app.include_router(edits.router)
    app.include_router(drafts.router)
    app.include_router(audit.router)
    app.include_router(jobs.router)
    app.include_router(feeds.router)
    app.include_router(owner_feed.router)
    app.include_router(metrics.router)
    app.include_router(micropub.router)
    ui.install(app)   # the owner's HTML pages
    app.include_router(contacts.router)   # the Contacts pages (sync, people to sort)

    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> Response:
        if ui.wants_html(request):
            return ui.error_page(request, exc.status, exc.message)
        body: dict[str, Any] = {"error": type(exc).__name__, "detail": exc.message}
        if getattr(exc, "field", None):
            body["field"] = exc.field  # type: ignore[attr-defined]
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: "
                    f"{e['msg']}" for e in exc.errors()]
        if ui.wants_html(request):
            return ui.error_page(request, 422, "; ".join(problems))
        return JSONResponse({"error": "InvalidInput", "detail": "; ".join(problems)},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if ui.wants_html(request):
            return ui.error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"error": "HTTPError", "detail": exc.detail},
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("web.unhandled", path=request.url.path)
        if ui.wants_html(request):
            return ui.error_page(request, 500, "the hub hit an unexpected error; nothing was "
                                 "half-written, and the log has the details")
        return JSONResponse({"error": "InternalError",
                             "detail": "the hub hit an unexpected error; nothing was "
                                       "half-written, and the log has the details"},
                            status_code=500)

    return app


def _reload(hub: Hub) -> None:
    try:
        policy, changed = reload_policy(hub, actor="SIGHUP")
        log.info("policy.reloaded", digest=policy.digest[:12], changed=changed)
    except PolicyFileInvalid as exc:
        log.error("policy.rejected", file=exc.file, line=exc.line, reason=exc.reason)
