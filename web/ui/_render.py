"""Rendering pages: the Jinja2 environment (autoescaping on), shared context, flash messages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from hub.crypto import same
from hub.domain.model import Reach
from web.ui._guard import CSRF_COOKIE, SESSION_COOKIE, csrf_token

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FLASH_COOKIE = "hub_flash"
_KIND_MARK = "\x1f"    # between a flash message's kind and its text

STATUS_WORDS = {
    "pending": "waiting", "in_flight": "sending", "published": "published", "failed": "failed",
    "held": "awaiting approval", "denied": "stopped by policy", "rejected": "cannot carry it",
    "cancelled": "cancelled", "deleted": "deleted",
}


def make_templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
        enabled_extensions=("html",), default_for_string=True, default=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, short=short, safe_url=safe_url, web_url=web_url, plain=plain,
                       reach_plain=reach_plain,
                       status_word=status_word, excerpt=excerpt)
    return Jinja2Templates(env=env)


def when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def short(value: str | None, length: int = 12) -> str:
    return (value or "")[:length]


def safe_url(value: str | None) -> str:
    """Only web links and local paths become hrefs (never ``javascript:`` and the like)."""
    if value and (value.startswith(("https://", "http://")) or
                  (value.startswith("/") and not value.startswith("//"))):
        return value
    return ""


def web_url(value: str | None) -> str:
    """Links to a copy on a network: absolute http(s) only."""
    return value if value and value.startswith(("https://", "http://")) else ""


def plain(value: Any) -> str:
    """An audit payload value as words (lists joined, no Python reprs)."""
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items())
    return str(value)


def reach_plain(value: str) -> str:
    try:
        return Reach(value).plain
    except ValueError:
        return value


def status_word(value: str) -> str:
    return STATUS_WORDS.get(value, value.replace("_", " "))


def excerpt(text: str, length: int = 280) -> str:
    text = text.strip()
    return text if len(text) <= length else text[:length].rstrip() + "…"


def _reconnect(request: Request) -> list[str]:
    """Accounts a network refused, for the warning on every owner page."""
    if not getattr(request.state, "owner", False):
        return []
    from hub.services.account_admin import needing_reconnect

    return needing_reconnect(request.app.state.hub)


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *,
           status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.ui_templates
    flash = _read_flash(request)
    kind, _, message = (flash or "").rpartition(_KIND_MARK)
    ctx = {"csrf_token": csrf_token(request),
           "logged_in": bool(getattr(request.state, "owner", False)),
           "flash": message or None, "flash_kind": kind if kind in ("warn", "bad") else "ok",
           "section": "", "public_url_warning": request.app.state.hub.settings.public_url_warning,
           "reconnect_accounts": _reconnect(request),
           **(context or {})}
    response = templates.TemplateResponse(request, name, ctx, status_code=status,
                                          headers=dict(headers or {}))
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(CSRF_COOKIE, new_csrf, httponly=True, samesite="lax",
                            secure=secure(request), path="/")
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, *, flash: str | None = None,
             kind: str = "ok") -> RedirectResponse:
    """Post/redirect/get, with an optional one-time message (``ok``, ``warn`` or ``bad``) for
    the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        marked = (f"{kind}{_KIND_MARK}" if kind != "ok" else "") + flash[:500]
        encoded = base64.urlsafe_b64encode(marked.encode()).decode()
        sig = request.app.state.hub.box.sign("flash", encoded)
        response.set_cookie(FLASH_COOKIE, f"{encoded}.{sig}", httponly=True, samesite="lax",
                            secure=secure(request), path="/", max_age=120)
    return response


def _read_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    encoded, _, sig = raw.rpartition(".")
    if not same(sig, request.app.state.hub.box.sign("flash", encoded)):
        return None
    try:
        return base64.urlsafe_b64decode(encoded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def secure(request: Request) -> bool:
    """Mark cookies Secure when the hub is reached (or published) over HTTPS."""
    return request.url.scheme == "https" or str(
        request.app.state.hub.settings.public_url).startswith("https://")


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="/")


def session_cookie(response: HTMLResponse | RedirectResponse, request: Request,
                   token: str | None, *, max_age: int = 0) -> None:
    if token is None:
        response.delete_cookie(SESSION_COOKIE, path="/")
        return
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/",
                        secure=secure(request), max_age=max_age)
