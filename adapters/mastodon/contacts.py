"""Reads a Mastodon account's followers and following (``/api/v1/accounts/{id}/followers``,
``/following``), 80 a page, resuming from the ``max_id`` of the ``Link: rel="next"`` header.

A 429, or Mastodon.py seeing the budget spent (``ratelimit_method="throw"``), becomes
``TransientDeliveryError`` with ``retry_after``: the sync stops there and resumes later.
"""

from __future__ import annotations

import html
import re
from typing import Any, ClassVar

from mastodon import Mastodon

from adapters.mastodon.audience import full_acct
from adapters.mastodon.client import Client
from adapters.mastodon.limits import AccountSettings
from hub.domain.model import IdentityKind
from hub.errors import AccountNotConnected
from hub.ports import Connection, Contact, ContactDirection, ContactPage, CredentialStore

PAGE = 80
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


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
        links, verified = profile_links(account.get("fields") or [])
        return Contact(IdentityKind.MASTODON,
                       "@" + full_acct(str(account["acct"]), self._settings.domain),
                       str(account["id"]), str(account.get("display_name") or ""),
                       links=links, verified=verified)

    async def aclose(self) -> None:
        self._client.close()


def profile_links(fields: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What an account's profile fields point at: each ``href`` of a field's HTML value, or
    its plain text when it has none (a handle like ``@ana@example.social``); and those of
    fields the instance verified (``verified_at``: the page links back with rel=me)."""
    links: list[str] = []
    verified: list[str] = []
    for f in fields if isinstance(fields, list) else []:
        if not isinstance(f, dict):
            continue
        value = str(f.get("value") or "")
        found = _HREF.findall(value) or [html.unescape(_TAG.sub("", value)).strip()]
        for link in (html.unescape(x).strip() for x in found):
            if link and link not in links:
                links.append(link)
                if f.get("verified_at"):
                    verified.append(link)
    return tuple(links), tuple(verified)


def build(connection: Connection, credentials: CredentialStore | None = None
          ) -> MastodonContacts:
    """The contact reader for one connected account (its stored settings and token)."""
    if not connection.secret:
        raise AccountNotConnected(f"{connection.account}: no access token stored")
    settings = AccountSettings.from_settings(connection.settings)
    return MastodonContacts(settings, Client(settings, connection.secret))
