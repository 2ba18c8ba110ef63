"""Anchor sink: email each signed audit checkpoint to the owner, through one of the owner's
email accounts. A mailbox elsewhere keeps a copy the hub's database cannot take back; to check
the log against it later, save the message's checkpoint and pass it to ``hub audit verify
--against FILE``."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import ClassVar

from adapters.email import EmailPublisher
from hub.audit.anchors import AnchorError
from hub.errors import HubError
from hub.ports import Publisher

BODY = """\
Your hub signed this checkpoint of its audit log: {size} events so far.

Keep this message. If someone later cuts events off the end of the log, or rewrites it,
`hub audit verify --against checkpoint.txt` (with the lines between the markers saved as
checkpoint.txt) will say so.

-----BEGIN CHECKPOINT-----
{note}-----END CHECKPOINT-----
"""


class EmailAnchorSink:
    """Mails checkpoints to ``to`` with the account's SMTP settings. Write-only: ``notes``
    returns nothing (the owner hands the saved mail to verify)."""

    kind: ClassVar[str] = "email"

    def __init__(self, account: str, to: str, publisher: Callable[[], Publisher]) -> None:
        self.account = account
        self.to = to
        self._publisher = publisher

    @property
    def name(self) -> str:
        return f"email:{self.to}"

    def publish(self, note: str, *, tree_size: int, root_hex: str) -> str:
        try:
            publisher = self._publisher()
        except HubError as exc:
            raise AnchorError(f"email anchor: {exc.message}") from exc
        if not isinstance(publisher, EmailPublisher):
            raise AnchorError(f"email anchor: {self.account} is not an email account")
        sender = publisher.settings.from_addr
        domain = parseaddr(sender)[1].rpartition("@")[2] or "hub.invalid"
        msg = EmailMessage()
        msg["From"], msg["To"] = sender, self.to
        msg["Subject"] = f"Audit checkpoint: {tree_size} events"
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<checkpoint-{tree_size}-{root_hex[:16]}@{domain}>"
        msg.set_content(BODY.format(size=tree_size, note=note))
        try:
            with publisher.smtp() as smtp:
                smtp.send_message(msg, to_addrs=[self.to])
        except (smtplib.SMTPException, OSError, HubError) as exc:
            raise AnchorError(f"email anchor: could not send to {self.to}: {exc}") from exc
        return str(msg["Message-ID"])

    def notes(self) -> list[str]:
        return []
