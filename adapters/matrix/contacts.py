"""Reads the members of a Matrix account's rooms as contacts, one room a page.

Matrix has no follows: the people in the rooms the account has joined are the ones who read
what it posts there, so they are recorded as "follows me" (``ContactDirection.FOLLOWERS``);
someone who leaves every room is a lost follower. The cursor is the id of the next room (in
sorted order), so a resumed sync carries on with the rooms it had not read, even if rooms
were joined or left in between. Uses ``GET /joined_rooms`` and
``GET /rooms/{id}/joined_members`` (display names included).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from adapters.matrix.client import API, Client
from adapters.matrix.entry import _http, _settings
from hub.domain.model import IdentityKind
from hub.errors import AccountNotConnected
from hub.ports import Connection, Contact, ContactDirection, ContactPage, CredentialStore


class MatrixContacts:
    """A :class:`hub.ports.ContactReader` over one account's rooms."""

    platform: ClassVar[str] = "matrix"
    directions: ClassVar[tuple[ContactDirection, ...]] = (ContactDirection.FOLLOWERS,)

    def __init__(self, client: Client, user_id: str) -> None:
        self._client = client
        self._me = user_id

    async def page(self, direction: ContactDirection, cursor: str | None) -> ContactPage:
        if direction is not ContactDirection.FOLLOWING and direction in self.directions:
            return await self._room_page(cursor)
        return ContactPage((), None)     # nobody is "followed" on Matrix

    async def _room_page(self, cursor: str | None) -> ContactPage:
        _, body = await self._client.call("GET", f"{API}/joined_rooms",
                                          action="list the joined rooms")
        rooms = sorted(str(r) for r in body.get("joined_rooms") or [])
        rooms = [r for r in rooms if cursor is None or r >= cursor]
        if not rooms:
            return ContactPage((), None)
        room, rest = rooms[0], rooms[1:]
        _, members = await self._client.call(
            "GET", f"{API}/rooms/{quote(room)}/joined_members",
            action=f"read the members of {room}")
        joined = members.get("joined") or {}
        contacts = tuple(
            Contact(IdentityKind.MATRIX, str(user), str(user),
                    str((info or {}).get("display_name") or "") if isinstance(info, dict)
                    else "")
            for user, info in sorted(joined.items()) if str(user) != self._me)
        return ContactPage(contacts, rest[0] if rest else None)

    async def aclose(self) -> None:
        await self._client.http.aclose()


def build(connection: Connection, credentials: CredentialStore | None = None
          ) -> MatrixContacts:
    """The contact reader for one connected Matrix account (its stored token)."""
    if not connection.secret:
        raise AccountNotConnected(f"{connection.account}: no access token stored")
    settings = _settings(connection.settings)
    if not settings.user_id:
        raise AccountNotConnected(f"{connection.account}: reconnect it (no user id stored)")
    return MatrixContacts(Client(_http(settings, connection.secret)), settings.user_id)
