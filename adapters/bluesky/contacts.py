"""Reads a Bluesky account's follows and followers, a page (cursor) at a time.

* following: the ``app.bsky.graph.follow`` records in the account's own repository
  (``com.atproto.repo.listRecords``), which every PDS serves; the record's ``createdAt`` says
  since when.
* followers: only an AppView knows who follows an account (``app.bsky.graph.getFollowers``);
  a PDS with no AppView configured (a bare self-hosted or test PDS) answers 400, and this
  reader then says so plainly instead of pretending the account has no followers.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from adapters.bluesky.entry import DEFAULT_SERVICE, _client, _text
from adapters.bluesky.repo import Repo
from adapters.bluesky.session import SessionKeeper
from hub.domain.model import IdentityKind
from hub.errors import PermanentDeliveryError
from hub.ports import Connection, Contact, ContactDirection, ContactPage, CredentialStore

FOLLOW = "app.bsky.graph.follow"


class BlueskyContacts:
    """A :class:`hub.ports.ContactReader` over one account's PDS session."""

    platform: ClassVar[str] = "bluesky"

    def __init__(self, repo: Repo, *, page_size: int = 100) -> None:
        self._repo = repo
        self._size = page_size

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        did = await self._repo.ready()
        params: dict[str, Any] = {"limit": self._size}
        if cursor:
            params["cursor"] = cursor
        if direction is ContactDirection.FOLLOWING:
            body = await self._repo.query("com.atproto.repo.listRecords",
                                          {**params, "repo": did, "collection": FOLLOW},
                                          "list the follows")
            records = body.get("records") or []
            contacts = tuple(Contact(IdentityKind.BLUESKY, str(r["value"]["subject"]),
                                     str(r["value"]["subject"]))
                             for r in records if isinstance(r.get("value"), dict)
                             and isinstance(r["value"].get("subject"), str))
            nxt = body.get("cursor") if records else None
            return ContactPage(contacts, str(nxt) if nxt else None)
        try:
            body = await self._repo.query("app.bsky.graph.getFollowers",
                                          {**params, "actor": did}, "read the followers")
        except PermanentDeliveryError as exc:
            if exc.status_code == 400:
                raise PermanentDeliveryError(
                    "reading Bluesky followers needs an AppView (app.bsky.graph.getFollowers); "
                    "this PDS has none configured, so only follows can be synced",
                    platform="bluesky", status_code=400) from exc
            raise
        people = body.get("followers") or []
        contacts = tuple(Contact(IdentityKind.BLUESKY, str(p["did"]), str(p["did"]),
                                 str(p.get("displayName") or ""), str(p.get("handle") or ""))
                         for p in people if isinstance(p.get("did"), str))
        nxt = body.get("cursor") if people else None
        return ContactPage(contacts, str(nxt) if nxt else None)

    async def aclose(self) -> None:
        await self._repo.keeper.client.request.close()


def build(connection: Connection, credentials: CredentialStore, *,
          page_size: int = 100) -> BlueskyContacts:
    """The contact reader of one connected account (its stored session, refreshed through
    ``credentials`` like the publisher's)."""
    settings = connection.settings
    client = _client(_text(settings, "service", DEFAULT_SERVICE), None)
    keeper = SessionKeeper(account=connection.account, handle=_text(settings, "handle"),
                           client=client, secret=connection.secret, credentials=credentials,
                           clock=time.time)
    return BlueskyContacts(Repo(keeper), page_size=page_size)
