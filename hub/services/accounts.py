"""Connecting the owner's accounts: credentials checked once, then stored encrypted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from sqlmodel import select

from hub.domain.events import AccountConnected
from hub.errors import InvalidInput, NotFound
from hub.ports import JSON
from hub.runtime import Hub
from hub.store.tables import AccountRow

Connect = Callable[[Mapping[str, JSON], str], Awaitable[tuple[dict[str, JSON], str]]]


async def connect_account(hub: Hub, account: str, settings: Mapping[str, JSON], secret: str,
                          connect: Connect, *, actor: str = "owner") -> AccountRow:
    """Check the credentials with the platform (``connect``), then store them encrypted."""
    platform, sep, name = account.partition(":")
    if not sep or not name:
        raise InvalidInput(f"account {account!r} must look like platform:name")
    stored_settings, stored_secret = await connect(settings, secret)
    now = hub.now()
    with hub.db.transaction() as s:
        row = s.get(AccountRow, account) or AccountRow(name=account, platform=platform,
                                                       updated=now)
        row.settings = stored_settings
        row.secret_enc = hub.box.encrypt(stored_secret) if stored_secret else None
        row.status, row.status_reason, row.updated = "ok", "", now
        s.add(row)
        hub.audit.append(s, AccountConnected(actor=actor, subject=account, platform=platform),
                         now=now)
    await hub.publishers.forget(account)
    return row


def stored_credentials(hub: Hub, account: str) -> tuple[dict[str, JSON], str | None]:
    """(settings, decrypted secret) of a connected account, to change one part of its
    secret (a webhook target's own): never shown or logged."""
    with hub.db.read() as s:
        row = s.get(AccountRow, account)
        if row is None:
            raise NotFound(f"account {account} is not connected")
        return dict(row.settings), hub.box.decrypt(row.secret_enc) if row.secret_enc else None


def list_accounts(hub: Hub) -> list[AccountRow]:
    with hub.db.transaction() as s:
        return list(s.exec(select(AccountRow).order_by(AccountRow.name)))
