"""Reads a Mastodon account's followers and following (``/api/v1/accounts/{id}/followers``,
``/following``), 80 a page, resuming from the ``max_id`` of the ``Link: rel="next"`` header.

A 429, or Mastodon.py seeing the budget spent (``ratelimit_method="throw"``), becomes
``TransientDeliveryError`` with ``retry_after``: the sync stops there and resumes later.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mastodon import Mastodon

from adapters.mastodon.audience import full_acct
from adapters.mastodon.client import Client
from adapters.mastodon.limits import AccountSettings
from hub.domain.model import IdentityKind
from hub.errors import AccountNotConnected
from hub.ports import Connection, Contact, ContactDirection, ContactPage, CredentialStore

PAGE = 80


class MastodonContacts:
    """A :class:`hub.ports.ContactReader` over one account's Mastodon.py client."""

    platform: ClassVar[str] = "mastodon"

    def __init__(self, settings: AccountSettings, client: Client) -> None:
        self._settings = settings
        self._client = client
        self._me = settings.account_id

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        def read(api: Mastodon) -> ContactPage:
            if not self._me:
                self._me = str(api.account_verify_credentials()["id"])
            fetch = (api.account_followers if direction is ContactDirection.FOLLOWERS
                     else api.account_following)
            rows: Any = fetch(self._me, limit=PAGE, max_id=cursor)
            following = getattr(rows, "_pagination_next", None)
            nxt = following.get("max_id") if following else None
            contacts = tuple(self._contact(a) for a in rows)
            return ContactPage(contacts, str(nxt) if nxt is not None and contacts else None)

        return await self._client.call(f"read the {direction.value}", read)

    def _contact(self, account: Any) -> Contact:
        return Contact(IdentityKind.MASTODON,
                       "@" + full_acct(str(account["acct"]), self._settings.domain),
                       str(account["id"]), str(account.get("display_name") or ""))

    async def aclose(self) -> None:
        self._client.close()


def build(connection: Connection, credentials: CredentialStore | None = None
          ) -> MastodonContacts:
    """The contact reader for one connected account (its stored settings and token)."""
    if not connection.secret:
        raise AccountNotConnected(f"{connection.account}: no access token stored")
    settings = AccountSettings.from_settings(connection.settings)
    return MastodonContacts(settings, Client(settings, connection.secret))
