"""API tokens: create (scopes, audience allow-list), show once, revoke; the phone request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from hub.errors import HubError
from hub.runtime import Hub
from hub.services.tokens import SCOPES, create_token, list_tokens, revoke_token
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)
SCOPE_WORDS = {"post": "write posts", "read": "read posts and their deliveries",
               "audit": "read the audit log", "approve": "approve held deliveries"}


def base_url(request: Request, hub: Hub) -> str:
    return (hub.settings.public_url or str(request.base_url)).rstrip("/")


def curl_example(base: str, token: str, audience: str) -> str:
    """The one request a phone shortcut app sends: form-encoded, a bearer token."""
    return (f"curl -X POST '{base}/api/posts' \\\n"
            f"  -H 'Authorization: Bearer {token}' \\\n"
            f"  --data-urlencode 'text=Hello from my phone' \\\n"
            f"  --data-urlencode 'audiences={audience}'")


def shortcut_fields(base: str, token: str, audience: str) -> list[tuple[str, str]]:
    """What iOS Shortcuts ("Get contents of URL") and Android HTTP Shortcuts ask for."""
    return [("URL", f"{base}/api/posts"), ("Method", "POST"),
            ("Header", f"Authorization: Bearer {token}"),
            ("Request body", "Form (application/x-www-form-urlencoded)"),
            ("Field text", "the text to post (ask each time)"), ("Field audiences", audience)]


def qr_svg(value: str) -> Markup:
    """The token as an inline SVG QR code, to scan it onto the phone instead of typing it."""
    import segno  # here, not at import: a checkout set up before segno was added still serves

    return Markup(segno.make(value, error="m").svg_inline(scale=4, border=2, dark="#000",
                                                          light="#fff"))


def _page(request: Request, hub: Hub, *, values: dict[str, Any] | None = None,
          error: str = "", status: int = 200) -> Response:
    audiences = list(hub.policies.current.audiences)
    return render(request, "tokens/index.html", {
        "section": "tokens", "tokens": list_tokens(hub), "scopes": SCOPES,
        "scope_words": SCOPE_WORDS, "audiences": audiences,
        "values": values or {"scopes": ["post"], "limit": True, "audiences": audiences[:1]},
        "error": error, "example": curl_example(base_url(request, hub), "hub_…",
                                                audiences[0] if audiences else "friends")},
        status=status)


@router.get("/tokens")
def tokens_index(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _page(request, hub)


@router.post("/tokens")
def tokens_create(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    raw_name = form.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    scopes = [v for v in form.getlist("scopes") if isinstance(v, str)]
    limited = form.get("limit") == "yes"
    audiences = [v for v in form.getlist("audiences") if isinstance(v, str)]
    values = {"name": name, "scopes": scopes, "limit": limited, "audiences": audiences}
    try:
        row, secret = create_token(hub, name, scopes, audiences if limited else None)
    except HubError as exc:
        return _page(request, hub, values=values, error=exc.message, status=exc.status)
    first = (row.audiences or list(hub.policies.current.audiences) or ["friends"])[0]
    base = base_url(request, hub)
    return render(request, "tokens/created.html", {
        "section": "tokens", "token": row, "secret": secret, "qr": qr_svg(secret),
        "fields": shortcut_fields(base, secret, first),
        "example": curl_example(base, secret, first)})


@router.post("/tokens/{token_id}/revoke")
def tokens_revoke(token_id: str, request: Request, hub: HubDep, owner: Owner,
                  form: CsrfForm) -> Response:
    row = revoke_token(hub, token_id)
    return redirect(request, "/tokens", flash=f"Token {row.name} revoked: it no longer works.")
