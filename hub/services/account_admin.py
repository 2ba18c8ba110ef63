"""The owner's accounts as the accounts page shows them: health (a platform that refused the
credentials marks the account "needs reconnecting" until it is connected again), token expiry
with a warning ahead of it, the settings that are not secret; removing one (audited); a test
mail through an email account. Connecting is :func:`hub.services.accounts.connect_account`."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from sqlmodel import col, select

from hub.domain.events import AccountRemoved
from hub.errors import HubError, InvalidInput, NotFound
from hub.runtime import Hub
from hub.services.notices import SelfMailer
from hub.store.tables import AccountRow, DeliveryRow

EXPIRY_WARNING = timedelta(days=7)
"""How long before a token's expiry the page starts warning."""
_SHOWN = ("handle", "service", "instance", "username", "host", "port", "security", "from_addr",
          "homeserver", "url")
"""Settings safe to show (never a secret: those are stored apart, encrypted)."""


@dataclass(frozen=True)
class AccountView:
    name: str
    platform: str
    healthy: bool
    reason: str                 # why it needs reconnecting ("" when healthy)
    updated: datetime
    expires: datetime | None
    expiry_warning: str         # "" unless the token expires soon or has expired
    shown: tuple[tuple[str, str], ...]
    waiting: int                # deliveries of this account not sent yet

    @property
    def health(self) -> str:
        return "ok" if self.healthy else "needs reconnecting"

    @property
    def short_name(self) -> str:
        return self.name.partition(":")[2]

    def setting(self, key: str) -> str:
        return dict(self.shown).get(key, "")


def _expires(settings: dict[str, Any]) -> datetime | None:
    raw = settings.get("expires_at")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        return None


def _view(row: AccountRow, now: datetime, waiting: int) -> AccountView:
    expires = _expires(row.settings)
    warning = ""
    if expires is not None:
        if expires <= now:
            warning = f"its token expired {expires:%Y-%m-%d %H:%M} UTC: reconnect it"
        elif expires - now <= EXPIRY_WARNING:
            warning = f"its token expires {expires:%Y-%m-%d %H:%M} UTC: reconnect it before then"
    healthy = row.status == "ok" and not (expires is not None and expires <= now)
    shown = tuple((k, str(row.settings[k])) for k in _SHOWN
                  if row.settings.get(k) not in (None, ""))
    return AccountView(row.name, row.platform, healthy,
                       row.status_reason if row.status != "ok" else
                       (warning if not healthy else ""),
                       row.updated, expires, warning, shown, waiting)


def account_views(hub: Hub) -> list[AccountView]:
    """Every connected account, by name, with its health and waiting deliveries."""
    now = hub.now()
    with hub.db.read() as s:
        rows = list(s.exec(select(AccountRow).order_by(col(AccountRow.name))))
        waiting: dict[str, int] = {}
        for account in s.exec(select(DeliveryRow.account).where(
                col(DeliveryRow.status).in_(("pending", "held", "in_flight")))):
            waiting[account] = waiting.get(account, 0) + 1
    return [_view(r, now, waiting.get(r.name, 0)) for r in rows]


def needing_reconnect(hub: Hub) -> list[str]:
    """Names of the accounts a platform refused (shown on every page while there are any)."""
    with hub.db.read() as s:
        return list(s.exec(select(AccountRow.name).where(AccountRow.status != "ok")
                           .order_by(col(AccountRow.name))))


async def remove_account(hub: Hub, name: str, *, actor: str = "owner") -> None:
    """Forget an account's connection and credentials (audited). Deliveries to it then fail
    with "not connected" until it is connected again; the policy still names it."""
    def delete() -> None:   # on a thread: the write lock may be waited for
        with hub.db.transaction() as s:
            row = s.get(AccountRow, name)
            if row is None:
                raise NotFound(f"no account {name!r} is connected")
            s.delete(row)
            hub.audit.append(s, AccountRemoved(actor=actor, subject=name,
                                               platform=row.platform), now=hub.now())

    await asyncio.to_thread(delete)
    await hub.publishers.forget(name)


def send_test_email(hub: Hub, name: str) -> str:
    """Send a short test message through the email account ``name`` to its own address;
    returns the address. ``InvalidInput`` with the server's reason when it fails."""
    if not name.startswith("email:"):
        raise InvalidInput(f"{name} is not an email account")
    publisher = hub.publishers.get(name)
    if not isinstance(publisher, SelfMailer):
        raise InvalidInput(f"{name} cannot send mail to its own address")
    sender = str(publisher.settings.from_addr)
    msg = EmailMessage()
    msg["From"] = msg["To"] = sender
    msg["Subject"] = "Test from your hub"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid("test", parseaddr(sender)[1].rpartition("@")[2]
                                   or "hub.invalid")
    msg.set_content(f"This is a test message sent through {name}. It worked.\n")
    try:
        with publisher.smtp() as smtp:
            smtp.send_message(msg, to_addrs=[sender])
    except (smtplib.SMTPException, OSError, HubError) as exc:
        reason = exc.message if isinstance(exc, HubError) else f"{type(exc).__name__}: {exc}"
        raise InvalidInput(f"the test mail through {name} failed: {reason[:500]}") from exc
    return sender
