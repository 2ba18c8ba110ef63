"""Matrix adapter: ``build`` a publisher for a connected account, ``connect`` a new one.

A target is an existing room or a room the hub keeps for a list (see ``spec``). Plain HTTP
over httpx against the client-server API; end-to-end encrypted rooms are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adapters.matrix.client import Client
from adapters.matrix.publish import MatrixPublisher
from hub.errors import AccountNotConnected, CredentialsRejected, DeliveryError, InvalidInput
from hub.ports import JSON, Connection, CredentialStore, MediaLoader

USER_AGENT = "crosspost-hub (matrix)"


class MatrixSettings(BaseModel):
    """What ``hub accounts add matrix NAME --homeserver URL`` stores (the token apart)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    homeserver: str
    user_id: str | None = None
    device_id: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=300)

    @field_validator("homeserver")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the homeserver must be an http:// or https:// address")
        return value.strip().rstrip("/")


def _settings(raw: Mapping[str, JSON]) -> MatrixSettings:
    try:
        return MatrixSettings.model_validate(dict(raw))
    except ValidationError as exc:
        why = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"matrix settings: {why}", field="homeserver") from exc


def _http(settings: MatrixSettings, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=settings.homeserver, timeout=settings.timeout,
                             follow_redirects=False,
                             headers={"authorization": f"Bearer {token}",
                                      "user-agent": USER_AGENT})


def build(connection: Connection, credentials: CredentialStore, *,
          media_loader: MediaLoader | None = None) -> MatrixPublisher:
    if not connection.secret:
        raise AccountNotConnected(f"{connection.account}: no access token stored")
    settings = _settings(connection.settings)
    if not settings.user_id:
        raise AccountNotConnected(f"{connection.account}: reconnect it (no user id stored)")
    return MatrixPublisher(connection.account, user_id=settings.user_id,
                           client=Client(_http(settings, connection.secret)),
                           media_loader=media_loader)


async def connect(settings: Mapping[str, JSON], secret: str) -> tuple[dict[str, JSON], str]:
    """Check the access token with ``whoami`` and store the user and device it belongs to
    (transaction ids are scoped to that device)."""
    parsed = _settings(settings)
    token = secret.strip()
    if not token:
        raise InvalidInput("an access token is needed", field="token")
    async with _http(parsed, token) as http:
        try:
            me = await Client(http).whoami()
        except CredentialsRejected:
            raise
        except DeliveryError as exc:
            raise InvalidInput(f"{parsed.homeserver} did not answer as a Matrix homeserver: "
                               f"{exc.message}", field="homeserver") from exc
    stored = parsed.model_copy(update={"user_id": str(me["user_id"]),
                                       "device_id": me.get("device_id")})
    return stored.model_dump(), token
