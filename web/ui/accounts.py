"""The accounts page: each account's health and token expiry, connect and reconnect (Mastodon
by OAuth or an access token, Bluesky with an app password, SMTP with a test mail), remove.
Connectors and the OAuth flow come from the composition root (``hub.bootstrap``)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from hub.bootstrap import OAuthFlow, connector, oauth_flow
from hub.errors import HubError, InvalidInput, PermanentDeliveryError
from hub.ports import JSON
from hub.runtime import Hub
from hub.services.account_admin import account_views, remove_account, send_test_email
from hub.services.accounts import connect_account
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)
OAUTH_MINUTES = 15
"""How long a started Mastodon authorisation waits for its code."""


@dataclass
class _Pending:
    flow: OAuthFlow
    name: str
    instance: str
    started: float


def _pending(request: Request) -> dict[str, _Pending]:
    found: dict[str, _Pending] | None = getattr(request.app.state, "oauth_pending", None)
    if found is None:
        found = request.app.state.oauth_pending = {}
    cutoff = time.monotonic() - OAUTH_MINUTES * 60
    for key in [k for k, p in found.items() if p.started < cutoff]:
        del found[key]
    return found


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _name(form: FormData) -> str:
    name = _text(form, "name")
    if not name or ":" in name or len(name) > 60 or not name.replace("-", "").replace(
            "_", "").isalnum():
        raise InvalidInput("name the account with letters, digits, - or _ (e.g. main); the "
                           "policy names it as <network>:<name>", field="name")
    return name


def _page_now(request: Request, hub: Hub, *, values: dict[str, Any] | None = None,
          error: str = "", status: int = 200, oauth: dict[str, str] | None = None) -> Response:
    return render(request, "accounts/index.html", {
        "section": "accounts", "accounts": account_views(hub), "values": values or {},
        "error": error, "oauth": oauth,
        "named": sorted(set(hub.policies.current.accounts))}, status=status)


async def _page(request: Request, hub: Hub, **kw: Any) -> Response:
    """The page, rendered on a thread (it reads the accounts from the database)."""
    return await run_in_threadpool(lambda: _page_now(request, hub, **kw))


@router.get("/accounts")
def accounts_page(request: Request, hub: HubDep, owner: Owner) -> Response:
    values: dict[str, Any] = {}
    again = request.query_params.get("reconnect", "")
    for view in account_views(hub):
        if view.name == again:   # reconnect: the form comes filled in (never the secret)
            values = {"platform": view.platform, "name": view.short_name,
                      **dict(view.shown)}
    return _page_now(request, hub, values=values)


async def _connect(request: Request, hub: Hub, account: str, settings: dict[str, JSON],
                   secret: str, values: dict[str, Any]) -> Response:
    platform = account.partition(":")[0]
    try:
        await connect_account(hub, account, settings, secret, connector(platform),
                              actor="owner:web")
    except HubError as exc:   # refused credentials are the owner's to fix: a 400, not a 502
        status = 400 if isinstance(exc, PermanentDeliveryError) else exc.status
        return await _page(request, hub, values=values, error=exc.message, status=status)
    return redirect(request, "/accounts", flash=f"Connected {account}.")


@router.post("/accounts/bluesky")
async def connect_bluesky(request: Request, hub: HubDep, owner: Owner,
                          form: CsrfForm) -> Response:
    values = {"platform": "bluesky", "name": _text(form, "name"),
              "handle": _text(form, "handle"), "service": _text(form, "service")}
    try:
        name = _name(form)
        if not values["handle"] or not _text(form, "app_password"):
            raise InvalidInput("give the handle and an app password (Settings → App "
                               "passwords)", field="handle")
    except HubError as exc:
        return await _page(request, hub, values=values, error=exc.message, status=exc.status)
    return await _connect(request, hub, f"bluesky:{name}", {
        "handle": values["handle"], "service": values["service"] or "https://bsky.social"},
        _text(form, "app_password"), values)


@router.post("/accounts/email")
async def connect_email(request: Request, hub: HubDep, owner: Owner,
                        form: CsrfForm) -> Response:
    values = {"platform": "email", "name": _text(form, "name"), "host": _text(form, "host"),
              "port": _text(form, "port") or "587",
              "security": _text(form, "security") or "starttls",
              "username": _text(form, "username"), "from_addr": _text(form, "from_addr")}
    try:
        name = _name(form)
        if not values["port"].isdigit():
            raise InvalidInput("the port is a number, e.g. 587", field="port")
    except HubError as exc:
        return await _page(request, hub, values=values, error=exc.message, status=exc.status)
    account = f"email:{name}"
    response = await _connect(request, hub, account, {
        "host": values["host"], "port": int(values["port"]), "security": values["security"],
        "username": values["username"] or None, "from_addr": values["from_addr"],
        "from_name": ""}, _text(form, "password"), values)
    if response.status_code >= 400 or form.get("test") != "yes":
        return response
    try:
        sent_to = await run_in_threadpool(send_test_email, hub, account)
    except HubError as exc:
        return await _page(request, hub, values=values, status=exc.status,
                           error=f"Connected {account}, but {exc.message}")
    return redirect(request, "/accounts",
                    flash=f"Connected {account}; a test mail went to {sent_to}.")


@router.post("/accounts/{name}/test")
def test_email(name: str, request: Request, hub: HubDep, owner: Owner,
               form: CsrfForm) -> Response:
    try:
        sent_to = send_test_email(hub, name)
    except HubError as exc:
        return _page_now(request, hub, error=exc.message, status=exc.status)
    return redirect(request, "/accounts", flash=f"A test mail went to {sent_to} through {name}.")


@router.post("/accounts/mastodon")
async def connect_mastodon(request: Request, hub: HubDep, owner: Owner,
                           form: CsrfForm) -> Response:
    """With an access token: connect now. Without: start the OAuth flow and show the page
    where the owner approves the hub, then asks for the code that page shows."""
    values = {"platform": "mastodon", "name": _text(form, "name"),
              "instance": _text(form, "instance")}
    try:
        name = _name(form)
        if not values["instance"]:
            raise InvalidInput("give the instance, e.g. https://mastodon.social",
                               field="instance")
        token = _text(form, "token")
        if token:
            return await _connect(request, hub, f"mastodon:{name}",
                                  {"instance": values["instance"]}, token, values)
        flow = oauth_flow("mastodon")
        url = await flow.begin(values["instance"])
    except HubError as exc:
        return await _page(request, hub, values=values, error=exc.message, status=exc.status)
    state = secrets.token_urlsafe(16)
    _pending(request)[state] = _Pending(flow, name, values["instance"], time.monotonic())
    return await _page(request, hub, values=values, oauth={"state": state, "url": url,
                                                     "account": f"mastodon:{name}"})


@router.post("/accounts/mastodon/code")
async def finish_mastodon(request: Request, hub: HubDep, owner: Owner,
                          form: CsrfForm) -> Response:
    pending = _pending(request).pop(_text(form, "state"), None)
    if pending is None:
        return await _page(request, hub, status=400, error="this authorisation has expired or "
                           "was already used: start again with the instance's address")
    values = {"platform": "mastodon", "name": pending.name, "instance": pending.instance}
    try:
        token = await pending.flow.finish(_text(form, "code"))
    except HubError as exc:
        status = 400 if isinstance(exc, PermanentDeliveryError) else exc.status
        return await _page(request, hub, values=values, error=exc.message, status=status)
    return await _connect(request, hub, f"mastodon:{pending.name}",
                          {"instance": pending.instance}, token, values)


@router.post("/accounts/{name}/remove")
async def remove(name: str, request: Request, hub: HubDep, owner: Owner,
                 form: CsrfForm) -> Response:
    if form.get("confirm") != "yes":
        return await _page(request, hub, status=400,
                           error=f"to remove {name}, tick the box that says you mean it")
    try:
        await remove_account(hub, name, actor="owner:web")
    except HubError as exc:
        return await _page(request, hub, error=exc.message, status=exc.status)
    return redirect(request, "/accounts", flash=f"Removed {name}: its credentials are gone. "
                    "Deliveries to it fail until it is connected again.")
