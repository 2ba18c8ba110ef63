"""Getting an access token with the OAuth flow, for ``hub accounts add mastodon NAME``.

1. ``app = await register_app(instance)`` registers the hub as an app with narrow scopes
   (``SCOPES``); store ``app`` (``app.to_json()``) if the owner may come back later.
2. Show ``authorization_url(app, state=...)``; the owner approves in the browser and copies the
   code (out-of-band redirect) or the redirect delivers it.
3. ``token = await exchange_code(app, code)``, then ``connect({"instance": ...}, token)``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from mastodon import Mastodon
from mastodon.errors import MastodonError

from adapters.mastodon.limits import normalise_instance
from hub.errors import CredentialsRejected, InvalidInput

SCOPES: tuple[str, ...] = ("write:statuses", "write:media", "read:accounts", "read:follows")
"""Post/edit/delete statuses, upload media, read the own account and look up recipients,
read the followers for the audit. Nothing else (Mastodon.py's default is read write follow push)."""
OOB = "urn:ietf:wg:oauth:2.0:oob"
CLIENT_NAME = "crosspost-hub"


@dataclass(frozen=True)
class OAuthApp:
    """An app registered on one instance; ``client_secret`` is a secret (store it encrypted)."""

    instance: str
    client_id: str
    client_secret: str
    redirect_uri: str = OOB
    scopes: tuple[str, ...] = SCOPES

    def to_json(self) -> str:
        return json.dumps({"instance": self.instance, "client_id": self.client_id,
                           "client_secret": self.client_secret,
                           "redirect_uri": self.redirect_uri, "scopes": list(self.scopes)})

    @classmethod
    def from_json(cls, raw: str) -> OAuthApp:
        data = json.loads(raw)
        return cls(data["instance"], data["client_id"], data["client_secret"],
                   data["redirect_uri"], tuple(data["scopes"]))


async def register_app(instance: str, *, redirect_uri: str = OOB, client_name: str = CLIENT_NAME,
                       website: str | None = None, timeout: float = 30.0) -> OAuthApp:
    """``POST /api/v1/apps`` with ``SCOPES``; raises ``InvalidInput`` naming the instance."""
    base = normalise_instance(instance)

    def create() -> tuple[str, str]:
        return Mastodon.create_app(client_name, scopes=list(SCOPES), redirect_uris=redirect_uri,
                                   website=website, api_base_url=base, request_timeout=timeout)

    try:
        client_id, client_secret = await asyncio.to_thread(create)
    except (MastodonError, KeyError, ValueError) as exc:
        raise InvalidInput(f"could not register the hub as an app on {base}: {exc}",
                           field="instance") from exc
    return OAuthApp(base, client_id, client_secret, redirect_uri, SCOPES)


def authorization_url(app: OAuthApp, *, state: str | None = None, force_login: bool = False
                      ) -> str:
    """Where the owner approves the app (pure: no request is made)."""
    api = Mastodon(client_id=app.client_id, client_secret=app.client_secret,
                   api_base_url=app.instance)
    return api.auth_request_url(redirect_uris=app.redirect_uri, scopes=list(app.scopes),
                                state=state, force_login=force_login, skip_server_info=True)


async def exchange_code(app: OAuthApp, code: str, *, timeout: float = 30.0) -> str:
    """``POST /oauth/token`` (authorization_code grant); returns the access token (a secret).

    Raises ``CredentialsRejected`` if the instance refuses the code or grants fewer scopes.
    (Done with httpx: Mastodon.py 2.3.3's ``log_in`` also posts its local ``oauth_info`` dict
    as form fields and then probes the deprecated ``/api/v1/instance``.)"""
    form = {"grant_type": "authorization_code", "code": code.strip(),
            "client_id": app.client_id, "client_secret": app.client_secret,
            "redirect_uri": app.redirect_uri, "scope": " ".join(app.scopes)}
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.post(f"{app.instance}/oauth/token", data=form)
    except httpx.HTTPError as exc:
        raise InvalidInput(f"could not reach {app.instance}: {exc}", field="instance") from exc
    body = _json(response)
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        reason = body.get("error_description") or body.get("error") or response.reason_phrase
        raise CredentialsRejected(f"{app.instance} did not accept the authorization code: "
                                  f"{reason}", platform="mastodon",
                                  status_code=response.status_code)
    granted = set(str(body.get("scope") or "").split())
    missing = [s for s in app.scopes if s not in granted and s.split(":")[0] not in granted]
    if missing:
        raise CredentialsRejected(f"{app.instance} granted {sorted(granted)}, without "
                                  f"{missing}", platform="mastodon")
    return str(body["access_token"])


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _loopback(url: str) -> bool:
    """Plain HTTP is only allowed for an instance on this machine (tests, local servers)."""
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
