"""XRPC calls to the account's PDS, which proxies ``chat.bsky.*`` to the chat service
(``atproto-proxy``), with one session per publisher and the one place errors are translated.

Transient: network errors, timeouts, 5xx, 429 (``ratelimit-reset``, epoch seconds). Credentials:
a refused login. An expired access token logs in again once. Permanent: every other XRPC error,
named (``NotFollowedBySender``, ``UserForbidsGroups``, ``ConvoLocked``…).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from hub.errors import CredentialsRejected, PermanentDeliveryError, TransientDeliveryError

CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"


class XrpcError(PermanentDeliveryError):
    """A permanent XRPC refusal, with the lexicon's error name."""

    def __init__(self, message: str, *, error: str, status_code: int) -> None:
        super().__init__(message, platform="bluesky-chat", status_code=status_code)
        self.error = error


def translate(answer: httpx.Response, *, action: str) -> None:
    code = answer.status_code
    if 200 <= code < 300:
        return
    try:
        body = answer.json()
    except ValueError:
        body = {}
    name = str(body.get("error") or f"HTTP {code}") if isinstance(body, dict) else f"HTTP {code}"
    said = str(body.get("message") or "")[:300] if isinstance(body, dict) else ""
    why = name + (f": {said}" if said else "")
    if code == 429 or code >= 500:
        reset = answer.headers.get("ratelimit-reset", "")
        wait = max(float(reset) - time.time(), 0.0) if reset.isdigit() else None
        raise TransientDeliveryError(f"Bluesky answered {code} to {action} ({why})",
                                     platform="bluesky-chat", status_code=code,
                                     retry_after=wait)
    raise XrpcError(f"Bluesky refused to {action} ({code} {why})", error=name,
                    status_code=code)


class Xrpc:
    """One logged-in account; the caller owns ``http`` (closed by the publisher)."""

    def __init__(self, http: httpx.AsyncClient, *, identifier: str, password: str) -> None:
        self.http = http
        self._identifier = identifier
        self._password = password
        self._token: str | None = None
        self.did: str | None = None

    async def login(self) -> None:
        answer = await self._send("POST", "com.atproto.server.createSession", action="log in",
                                  json={"identifier": self._identifier,
                                        "password": self._password}, auth=False)
        if answer.status_code == 401:
            raise CredentialsRejected(f"Bluesky refused the app password for "
                                      f"{self._identifier}", platform="bluesky-chat",
                                      status_code=401)
        translate(answer, action="log in")
        body = answer.json()
        self._token, self.did = str(body["accessJwt"]), str(body["did"])

    async def query(self, nsid: str, *, action: str, **params: Any) -> dict[str, Any]:
        return await self._call("GET", nsid, action=action, params=params)

    async def procedure(self, nsid: str, body: dict[str, Any], *, action: str
                        ) -> dict[str, Any]:
        return await self._call("POST", nsid, action=action, json=body)

    async def _call(self, method: str, nsid: str, *, action: str, **kw: Any) -> dict[str, Any]:
        if self._token is None:
            await self.login()
        answer = await self._send(method, nsid, action=action, **kw)
        if answer.status_code in (400, 401) and _expired(answer):
            await self.login()
            answer = await self._send(method, nsid, action=action, **kw)
        translate(answer, action=action)
        body = answer.json() if answer.content else {}
        return dict(body)

    async def _send(self, method: str, nsid: str, *, action: str, auth: bool = True,
                    **kw: Any) -> httpx.Response:
        headers = {}
        if auth:
            headers["authorization"] = f"Bearer {self._token}"
        if nsid.startswith("chat.bsky."):
            headers["atproto-proxy"] = CHAT_PROXY
        try:
            return await self.http.request(method, f"/xrpc/{nsid}", headers=headers, **kw)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"Bluesky did not answer in time ({action})",
                                         platform="bluesky-chat") from exc
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"cannot reach Bluesky ({action}: "
                                         f"{type(exc).__name__})",
                                         platform="bluesky-chat") from exc


def _expired(answer: httpx.Response) -> bool:
    try:
        return answer.json().get("error") in ("ExpiredToken", "InvalidToken")
    except (ValueError, AttributeError):
        return False
