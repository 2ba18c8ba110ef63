"""The few Matrix client-server calls the adapter makes, over one ``httpx.AsyncClient``, and the
one place where their failures become hub errors.

Transient: network errors, timeouts, 5xx, 429 ``M_LIMIT_EXCEEDED`` (``Retry-After`` or the
deprecated ``retry_after_ms``). Credentials: 401 (``M_UNKNOWN_TOKEN``, ``M_MISSING_TOKEN``).
Permanent: everything else, with the server's ``errcode`` and ``error``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from hub.errors import CredentialsRejected, PermanentDeliveryError, TransientDeliveryError

API = "/_matrix/client/v3"
MEDIA = "/_matrix/media/v3"


class MatrixError(PermanentDeliveryError):
    """A permanent refusal, with the Matrix ``errcode`` (``M_FORBIDDEN``, ``M_NOT_FOUND``…)."""

    def __init__(self, message: str, *, errcode: str, status_code: int) -> None:
        super().__init__(message, platform="matrix", status_code=status_code)
        self.errcode = errcode


def translate(answer: httpx.Response, *, action: str) -> None:
    """Raise the hub error a homeserver answer means; return for 2xx."""
    code = answer.status_code
    if 200 <= code < 300:
        return
    try:
        body = answer.json()
    except ValueError:
        body = {}
    errcode = str(body.get("errcode") or f"HTTP_{code}") if isinstance(body, dict) else \
        f"HTTP_{code}"
    error = str(body.get("error") or "").strip()[:300] if isinstance(body, dict) else ""
    said = f"{errcode}" + (f": {error}" if error else "")
    if code == 429 or code >= 500:
        wait: float | None = None
        header = answer.headers.get("retry-after", "")
        if header.isdigit():
            wait = float(header)
        elif isinstance(body, dict) and isinstance(body.get("retry_after_ms"), int):
            wait = body["retry_after_ms"] / 1000
        raise TransientDeliveryError(f"the homeserver answered {code} to {action} ({said})",
                                     platform="matrix", status_code=code, retry_after=wait)
    if code == 401:
        raise CredentialsRejected(f"the homeserver refused the access token ({said})",
                                  platform="matrix", status_code=code)
    raise MatrixError(f"the homeserver refused to {action} ({code} {said})", errcode=errcode,
                      status_code=code)


class Client:
    """Authenticated calls as the hub's Matrix user; the caller owns and closes ``http``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, method: str, path: str, *, action: str, json: Any = None,
                   params: dict[str, str] | None = None, content: bytes | None = None,
                   headers: dict[str, str] | None = None, allow: tuple[int, ...] = ()
                   ) -> tuple[int, Any]:
        try:
            answer = await self.http.request(method, path, json=json, params=params,
                                             content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"the homeserver did not answer in time ({action})",
                                         platform="matrix") from exc
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"cannot reach the homeserver ({action}: "
                                         f"{type(exc).__name__})", platform="matrix") from exc
        if answer.status_code in allow:
            return answer.status_code, None
        translate(answer, action=action)
        return answer.status_code, answer.json() if answer.content else {}

    async def whoami(self) -> dict[str, Any]:
        _, body = await self.call("GET", f"{API}/account/whoami", action="check the token")
        return dict(body)

    async def resolve(self, room: str) -> str:
        """A room id for an id or an alias."""
        if room.startswith("!"):
            return room
        _, body = await self.call("GET", f"{API}/directory/room/{quote(room, safe='')}",
                                  action=f"look up the room alias {room}")
        return str(body["room_id"])

    async def alias_room(self, alias: str) -> str | None:
        status, body = await self.call("GET", f"{API}/directory/room/{quote(alias, safe='')}",
                                       action=f"look up {alias}", allow=(404,))
        return None if status == 404 else str(body["room_id"])

    async def state(self, room_id: str, event_type: str) -> dict[str, Any] | None:
        status, body = await self.call(
            "GET", f"{API}/rooms/{quote(room_id)}/state/{event_type}",
            action=f"read {event_type} of {room_id}", allow=(404,))
        return None if status == 404 else dict(body)

    async def members(self, room_id: str) -> dict[str, str]:
        """user id -> membership (join, invite, leave, ban, knock) for the room."""
        _, body = await self.call("GET", f"{API}/rooms/{quote(room_id)}/members",
                                  action=f"read the members of {room_id}")
        return {str(e["state_key"]): str(e["content"].get("membership"))
                for e in body.get("chunk", []) if e.get("type") == "m.room.member"}

    async def join(self, room: str) -> str:
        _, body = await self.call("POST", f"{API}/join/{quote(room, safe='')}", json={},
                                  action=f"join {room}")
        return str(body["room_id"])

    async def send(self, room_id: str, txn_id: str, content: dict[str, Any],
                   event_type: str = "m.room.message") -> str:
        _, body = await self.call(
            "PUT", f"{API}/rooms/{quote(room_id)}/send/{event_type}/{quote(txn_id, safe='')}",
            json=content, action="send the message")
        return str(body["event_id"])

    async def redact(self, room_id: str, event_id: str, txn_id: str) -> None:
        await self.call("PUT", f"{API}/rooms/{quote(room_id)}/redact/{quote(event_id, safe='')}"
                        f"/{quote(txn_id, safe='')}", json={"reason": "deleted by the author"},
                        action="redact the message")

    async def upload(self, data: bytes, mime_type: str, filename: str) -> str:
        _, body = await self.call("POST", f"{MEDIA}/upload", content=data,
                                  params={"filename": filename},
                                  headers={"content-type": mime_type},
                                  action="upload the image")
        return str(body["content_uri"])
