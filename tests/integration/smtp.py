"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the email tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port


@dataclass
class Received:
    envelope_to: list[str]
    message: Message


@dataclass
class Inbox:
    """Collects what the server accepted; ``refuse`` makes RCPT fail for chosen addresses."""

    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    stall: dict[str, float] = field(default_factory=dict)   # address -> seconds to hang in RCPT

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.stall:
            await asyncio.sleep(self.stall.pop(address))
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or envelope.content
        self.messages.append(Received(list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 Message accepted"

    def to(self, address: str) -> list[Message]:
        return [r.message for r in self.messages if address in r.envelope_to]


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def settings(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none",
                "from_addr": "me@example.org", "from_name": "Me", "timeout": 5}
