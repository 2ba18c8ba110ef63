"""Bluesky (AT Protocol) adapter: ``build`` a publisher for a connected account, ``connect`` one.

World-readable whatever the options: threadgates and postgates control replies and quotes only.
Settings stored per account: ``handle``, ``service`` (PDS or entryway URL), ``did``, and
optionally ``image_max_bytes`` (default 1,000,000; 2,000,000 on current PDSes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx
from atproto import AsyncClient
from atproto_client.request import AsyncRequest
from atproto_core.exceptions import AtProtocolError

from adapters.bluesky import _errors
from adapters.bluesky.linkcard import CardFetcher
from adapters.bluesky.media import DEFAULT_MAX_BYTES
from adapters.bluesky.publish import BlueskyPublisher
from adapters.bluesky.repo import Repo
from adapters.bluesky.session import SessionKeeper, StoredSecret, create_session
from hub.errors import InvalidInput
from hub.ports import JSON, Connection, CredentialStore, MediaLoader

DEFAULT_SERVICE = "https://bsky.social"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)     # the SDK's 5 s is too short for image uploads

__all__ = ["BlueskyPublisher", "build", "connect"]


def _client(service: str, transport: httpx.AsyncBaseTransport | None) -> AsyncClient:
    request = AsyncRequest(timeout=TIMEOUT, **({"transport": transport} if transport else {}))
    return AsyncClient(service, request=request)


def _text(settings: Mapping[str, JSON], name: str, default: str | None = None) -> str:
    value = settings.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"Bluesky account setting {name!r} is required", field=name)
    return value.strip()


def build(connection: Connection, credentials: CredentialStore, *,
          media_loader: MediaLoader | None = None, cards: CardFetcher | None = None,
          transport: httpx.AsyncBaseTransport | None = None,
          clock: Callable[[], float] = time.time) -> BlueskyPublisher:
    """A publisher for one connected account. The caller closes it with ``aclose()``.

    ``media_loader`` reads stored media by sha256; ``cards`` fetches link cards (default: public
    addresses only, 5 s); ``transport`` and ``clock`` (epoch seconds, for token expiry) are
    seams for tests."""
    settings = connection.settings
    service = _text(settings, "service", DEFAULT_SERVICE)
    client = _client(service, transport)
    keeper = SessionKeeper(account=connection.account, handle=_text(settings, "handle"),
                           client=client, secret=connection.secret, credentials=credentials,
                           clock=clock)
    limit = settings.get("image_max_bytes")
    return BlueskyPublisher(
        account=connection.account, repo=Repo(keeper), media_loader=media_loader, cards=cards,
        image_max_bytes=limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_BYTES)


async def connect(settings: Mapping[str, JSON], secret: str, *,
                  transport: httpx.AsyncBaseTransport | None = None
                  ) -> tuple[dict[str, JSON], str]:
    """Log in once with an app password; return the settings and the secret to store.

    The secret is JSON holding the session string and, unless ``keep_app_password`` is false,
    the app password, used only to log in again when the session dies (see ``session.py``).
    The account's main password is refused. Nothing here logs the password."""
    handle = _text(settings, "handle").lstrip("@")
    service = _text(settings, "service", DEFAULT_SERVICE)
    if not service.startswith(("https://", "http://")):
        raise InvalidInput("service must be an http(s) URL", field="service")
    client = _client(service, transport)
    try:
        session = await create_session(client, handle, secret)
    except AtProtocolError as exc:
        error = _errors.translate(exc, doing=f"log in to {service}")
        raise InvalidInput(error.message, field="service") from exc
    except httpx.HTTPError as exc:
        raise InvalidInput(f"cannot reach {service}: {exc}", field="service") from exc
    finally:
        await client.request.close()
    keep = settings.get("keep_app_password", True) is not False
    stored = StoredSecret(session=session.encode(), app_password=secret if keep else None)
    result: dict[str, JSON] = {"handle": session.handle, "service": service, "did": session.did}
    for name in ("image_max_bytes", "keep_app_password"):
        if name in settings:
            result[name] = settings[name]
    return result, stored.dump()
