"""Mastodon adapter: ``build`` a publisher for a connected account, ``connect`` a new one.

Visibility maps one to one (public, unlisted, private = followers, direct = the mentioned members
of a hub list). Mastodon.py does the HTTP; its types never leave this package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from mastodon import Mastodon
from mastodon.errors import MastodonError

from adapters.mastodon._errors import translate
from adapters.mastodon.client import USER_AGENT, Client
from adapters.mastodon.limits import (
    AccountSettings,
    allowed_mentions_supported,
    limits_from_instance,
    normalise_instance,
)
from adapters.mastodon.media import MediaLoader
from adapters.mastodon.oauth import SCOPES, OAuthApp, authorization_url, exchange_code, register_app
from adapters.mastodon.publish import MastodonPublisher
from hub.errors import (
    AccountNotConnected,
    CredentialsRejected,
    DeliveryError,
    InvalidInput,
    NotFound,
)
from hub.ports import JSON, Connection, CredentialStore

__all__ = ["SCOPES", "MastodonPublisher", "OAuthApp", "authorization_url", "build", "connect",
           "exchange_code", "register_app"]


def build(connection: Connection, credentials: CredentialStore, *,
          media_loader: MediaLoader | None = None) -> MastodonPublisher:
    """A publisher for one connected account. ``media_loader(sha256) -> bytes`` reads attached
    files from the hub's media store (needed only for posts with media)."""
    if not connection.secret:
        raise AccountNotConnected(f"{connection.account}: no access token stored")
    settings = AccountSettings.from_settings(connection.settings)
    return MastodonPublisher(settings, Client(settings, connection.secret), media_loader)


async def connect(settings: Mapping[str, JSON], secret: str) -> tuple[dict[str, JSON], str]:
    """Check the token with the instance and return the settings to store (account id, acct,
    locked, version, cached limits) and the secret (the token, unchanged).

    ``settings``: ``{"instance": URL}`` plus optional client knobs (``request_timeout``...)."""
    account = AccountSettings.from_settings(settings)
    token = secret.strip()
    if not token:
        raise InvalidInput("an access token is needed", field="token")

    def read() -> tuple[Any, Any]:
        api = Mastodon(access_token=token, api_base_url=account.instance,
                       ratelimit_method="throw", request_timeout=account.request_timeout,
                       user_agent=USER_AGENT, version_check_mode="none")
        try:
            return api.account_verify_credentials(), api.instance_v2()
        except MastodonError as exc:
            raise translate(exc, action=f"connect to {account.instance}",
                            ratelimit_reset=api.ratelimit_reset) from exc

    try:
        me, instance = await asyncio.to_thread(read)
    except CredentialsRejected:
        raise
    except (DeliveryError, NotFound) as exc:
        raise InvalidInput(f"{account.instance} did not answer as a Mastodon server: "
                           f"{exc.message}", field="instance") from exc
    limits, mimes = limits_from_instance(instance)
    version = str(instance.get("version") or "")
    stored: dict[str, JSON] = {
        **{k: v for k, v in settings.items() if k != "instance"},
        "instance": normalise_instance(account.instance),
        "account_id": str(me["id"]),
        "username": str(me["username"]),
        "domain": str(instance.get("domain") or "").casefold(),
        "acct": f"@{me['username']}@{str(instance.get('domain') or '').casefold()}",
        "locked": bool(me["locked"]),
        "version": version,
        "api_version": int((instance.get("api_versions") or {}).get("mastodon") or 0),
        "supports_allowed_mentions": allowed_mentions_supported(version),
        "limits": dict(limits),
        "supported_mime_types": list(mimes),
    }
    return stored, token


