"""The Host allow-list (``HUB_ALLOWED_HOSTS``): a request naming any other host gets 400.

A page on an attacker's site can point its own DNS name at 127.0.0.1 ("DNS rebinding") and
then talk to the hub as same-origin; the browser still sends the attacker's name as ``Host``,
which is how this refuses it. The set is read from the settings on each request, so a test (or
an operator) that sets ``public_url`` after start-up is honoured.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.config import Settings


def host_name(header: str) -> str:
    """``Host`` without its port, lower case; IPv6 literals without brackets."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class AllowedHosts:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        allowed = self.settings.host_names
        name = host_name(Headers(scope=scope).get("host", ""))
        if "*" in allowed or (name and name in allowed):
            return await self.app(scope, receive, send)
        response = PlainTextResponse(
            "this hub does not answer to that host name; if it is yours, add it to "
            "HUB_ALLOWED_HOSTS (or set HUB_PUBLIC_URL)", status_code=400)
        await response(scope, receive, send)
