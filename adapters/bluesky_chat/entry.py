"""Bluesky group chats: ``build`` a publisher for a connected account, ``connect`` a new one.

Plain XRPC over httpx to the account's PDS, which proxies the chat API; the app password needs
access to direct messages (Settings → App passwords → "Allow access to your direct messages").
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.bluesky_chat.client import Xrpc
from adapters.bluesky_chat.publish import BlueskyChatPublisher
from hub.errors import AccountNotConnected, CredentialsRejected, DeliveryError, InvalidInput
from hub.ports import JSON, Connection, CredentialStore, MediaLoader

USER_AGENT = "crosspost-hub (bluesky-chat)"


class ChatSettings(BaseModel):
    """What ``hub accounts add bluesky-chat NAME --handle H`` stores (the password apart)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    handle: str = Field(min_length=1)
    service: str = "https://bsky.social"
    did: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=300)

    @field_validator("service")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the service must be an http:// or https:// address (your PDS)")
        return value.strip().rstrip("/")


def _settings(raw: Mapping[str, JSON]) -> ChatSettings:
    try:
        return ChatSettings.model_validate(dict(raw))
    except ValidationError as exc:
        why = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"bluesky-chat settings: {why}", field="service") from exc


def _xrpc(settings: ChatSettings, password: str) -> Xrpc:
    http = httpx.AsyncClient(base_url=settings.service, timeout=settings.timeout,
                             follow_redirects=False, headers={"user-agent": USER_AGENT})
    return Xrpc(http, identifier=settings.did or settings.handle, password=password)


def build(connection: Connection, credentials: CredentialStore, *,
          media_loader: MediaLoader | None = None) -> BlueskyChatPublisher:
    if not connection.secret:
        raise AccountNotConnected(f"{connection.account}: no app password stored")
    return BlueskyChatPublisher(connection.account,
                                _xrpc(_settings(connection.settings), connection.secret))


async def connect(settings: Mapping[str, JSON], secret: str) -> tuple[dict[str, JSON], str]:
    """Log in once, and check that the app password may use the chat API."""
    parsed = _settings(settings)
    password = secret.strip()
    if not password:
        raise InvalidInput("an app password is needed", field="password")
    xrpc = _xrpc(parsed, password)
    try:
        await xrpc.login()
        await xrpc.query("chat.bsky.convo.listConvos", limit=1, action="read your chats")
    except CredentialsRejected:
        raise
    except DeliveryError as exc:
        raise InvalidInput(f"{parsed.service}: {exc.message} (does the app password allow "
                           "direct messages?)", field="password") from exc
    finally:
        await xrpc.http.aclose()
    return parsed.model_copy(update={"did": xrpc.did}).model_dump(), password
