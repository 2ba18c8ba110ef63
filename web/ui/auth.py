"""Logging in and out, and setting the owner password on a fresh hub."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hub.errors import AuthError, InvalidInput
from hub.services.owner import (
    DEVICE_DAYS,
    MIN_PASSWORD,
    SESSION_DAYS,
    LoginThrottled,
    OwnerSession,
    check_setup_code,
    has_password,
    login,
    logout,
    set_password,
)
from web.deps import HubDep
from web.ui._guard import DEVICE_COOKIE, SESSION_COOKIE, CsrfForm
from web.ui._render import redirect, render, secure, session_cookie

router = APIRouter(include_in_schema=False)


def _next(value: object) -> str:
    """Only paths on this hub (never ``//other.site`` or a full URL) after logging in."""
    text = value if isinstance(value, str) else ""
    if text.startswith("/") and not text.startswith(("//", "/\\")) and "\n" not in text:
        return text
    return "/compose"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _local(request: Request) -> bool:
    try:
        return ipaddress.ip_address(_client(request)).is_loopback
    except ValueError:
        return False


@router.get("/login")
async def login_form(request: Request, hub: HubDep, next: str = "/compose") -> Response:
    if not await run_in_threadpool(has_password, hub):
        return redirect(request, "/setup")
    return render(request, "auth/login.html", {"next": _next(next), "error": ""})


@router.post("/login")
async def login_submit(request: Request, hub: HubDep, form: CsrfForm) -> Response:
    target = _next(form.get("next"))
    password = form.get("password")
    try:
        session = await run_in_threadpool(
            lambda: login(hub, password if isinstance(password, str) else "",
                          client=_client(request), device=request.cookies.get(DEVICE_COOKIE)))
    except LoginThrottled as exc:
        return render(request, "auth/login.html", {"next": target, "error": exc.message},
                      status=429, headers={"Retry-After": str(exc.retry_after)})
    except AuthError as exc:
        return render(request, "auth/login.html", {"next": target, "error": exc.message},
                      status=401)
    return _logged_in(request, session, redirect(request, target))


def _logged_in(request: Request, session: OwnerSession, response: RedirectResponse
               ) -> RedirectResponse:
    """``response`` carrying the new session's cookie and this browser's device cookie."""
    session_cookie(response, request, session.token,
                   max_age=int(timedelta(days=SESSION_DAYS).total_seconds()))
    response.set_cookie(DEVICE_COOKIE, session.device, httponly=True, samesite="strict",
                        secure=secure(request), path="/login",
                        max_age=int(timedelta(days=DEVICE_DAYS).total_seconds()))
    return response


@router.post("/logout")
async def logout_submit(request: Request, hub: HubDep, form: CsrfForm) -> Response:
    await run_in_threadpool(logout, hub, request.cookies.get(SESSION_COOKIE))
    response = redirect(request, "/login", flash="You are logged out.")
    session_cookie(response, request, None)
    return response


@router.get("/setup")
async def setup_form(request: Request, hub: HubDep, code: str = "") -> Response:
    if await run_in_threadpool(has_password, hub):
        return redirect(request, "/login")
    return render(request, "auth/setup.html", {"error": "", "local": _local(request),
                                               "min_length": MIN_PASSWORD,
                                               "code": code[:64]})


@router.post("/setup")
async def setup_submit(request: Request, hub: HubDep, form: CsrfForm) -> Response:
    """First visit only, from this machine, with the set-up code `hub init` printed."""
    code = form.get("code")
    context = {"local": _local(request), "min_length": MIN_PASSWORD,
               "code": code[:64] if isinstance(code, str) else ""}
    if not context["local"]:
        return render(request, "auth/setup.html", {**context, "error": (
            "for safety, the password can be set in the browser only from the machine the hub "
            "runs on; there, run `hub password`")}, status=403)
    password, again = form.get("password"), form.get("password_again")
    try:
        check_setup_code(hub, code)
        if not isinstance(password, str) or password != again:
            raise InvalidInput("the two passwords differ", field="password")
        await run_in_threadpool(lambda: set_password(hub, password, only_if_unset=True))
    except (InvalidInput, AuthError) as exc:
        return render(request, "auth/setup.html", {**context, "error": exc.message},
                      status=exc.status)
    # the owner just proved the code and chose the password: logged in, not asked again
    try:
        session = await run_in_threadpool(lambda: login(
            hub, password, client=_client(request), device=request.cookies.get(DEVICE_COOKIE)))
    except AuthError:        # e.g. this browser's login budget is locked: log in as usual
        return redirect(request, "/login", flash="Password set. Log in with it.")
    return _logged_in(request, session, redirect(
        request, "/compose", flash="Password set. You are logged in; next time, log in with it."))
