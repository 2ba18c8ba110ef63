"""Who may use the HTML pages: the owner's session cookie, and a CSRF token on every form.

The CSRF token is a MAC (keyed by the hub's secret) over a random per-browser cookie and the
session cookie, so a token copied from another browser or from before a login is refused.
Requests whose ``Origin`` names another site are refused too.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from hub.crypto import same
from hub.errors import Forbidden
from hub.services.owner import session_valid
from web.deps import HubDep

SESSION_COOKIE = "hub_session"
DEVICE_COOKIE = "hub_device"   # OWASP device cookie: this browser logged in before
CSRF_COOKIE = "hub_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_FILES = 8
MAX_FORM_FIELDS = 400


class LoginRequired(Exception):
    """No valid owner session: pages redirect to the login form, other requests get 401."""


def csrf_cookie(request: Request) -> str:
    """This browser's CSRF cookie value, minted (and set by ``render``) on first use."""
    value = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not value or len(value) > 100:
        value = secrets.token_urlsafe(24)
        request.state.new_csrf = value
    return value


def csrf_token(request: Request) -> str:
    hub = request.app.state.hub
    session = request.cookies.get(SESSION_COOKIE, "")
    return str(hub.box.sign("csrf", f"{csrf_cookie(request)}|{session}", length=43))


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:   # not sent by every browser on same-origin posts; the token decides
        return True
    return origin != "null" and origin.split("://", 1)[-1] == request.headers.get("host", "")


async def csrf_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token and origin are checked (403 otherwise)."""
    form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    sent = form.get(CSRF_FIELD) or request.headers.get("x-csrf-token") or ""
    if (not isinstance(sent, str) or CSRF_COOKIE not in request.cookies
            or not same(sent, csrf_token(request)) or not _same_origin(request)):
        raise Forbidden("this form has expired or did not come from this hub's own pages: "
                        "go back, reload the page and send it again")
    return form


async def require_owner(request: Request, hub: HubDep) -> str:
    """The owner's session token; raises ``LoginRequired`` without a live session."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not await run_in_threadpool(session_valid, hub, token):
        raise LoginRequired()
    request.state.owner = True
    return token


Owner = Annotated[str, Depends(require_owner)]
CsrfForm = Annotated[FormData, Depends(csrf_form)]
