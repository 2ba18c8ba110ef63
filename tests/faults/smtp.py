"""A real SMTP server (aiosmtpd on 127.0.0.1) that misbehaves on request, for the fault suite.

Faults: ``tempfail(n)`` answers the next n RCPT with 451 (try again later); ``stall(n, s)``
hangs the next n RCPT for s seconds (the client times out); ``kill_window(n, hook)`` stores the
next n messages, then calls ``hook(message)`` — which kills the worker that sent it — before
answering 250: the network write happened, the database update did not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import free_port


@dataclass(frozen=True)
class Received:
    envelope_to: tuple[str, ...]
    message: Message

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        payload = self.message.get_payload(decode=True)
        return payload.decode(errors="replace") if isinstance(payload, bytes) else ""


class FaultyInbox:
    """The aiosmtpd handler: keeps what it accepted, and injects the faults asked for."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._tempfail = 0
        self._stall: list[float] = []
        self._window = 0
        self._hook: Callable[[Received], None] | None = None
        self.injected: dict[str, int] = {"tempfail": 0, "stall": 0, "kill_window": 0}

    def tempfail(self, n: int) -> None:
        with self._lock:
            self._tempfail += n

    def stall(self, n: int, seconds: float) -> None:
        with self._lock:
            self._stall += [seconds] * n

    def clear(self) -> None:
        """No more injected faults."""
        with self._lock:
            self._tempfail, self._stall, self._window = 0, [], 0

    def kill_window(self, n: int, hook: Callable[[Received], None]) -> None:
        with self._lock:
            self._window, self._hook = n, hook

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        with self._lock:
            stall = self._stall.pop(0) if self._stall else None
            tempfail = self._tempfail > 0 and stall is None
            if tempfail:
                self._tempfail -= 1
        if stall is not None:
            self.injected["stall"] += 1
            await asyncio.sleep(stall)
            return "451 4.4.2 timed out on purpose"
        if tempfail:
            self.injected["tempfail"] += 1
            return "451 4.3.0 try again later (injected)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or envelope.content
        received = Received(tuple(envelope.rcpt_tos), message_from_bytes(content))
        with self._lock:
            self.messages.append(received)
            hook = self._hook if self._window > 0 else None
            if hook is not None:
                self._window -= 1
        if hook is not None:
            self.injected["kill_window"] += 1
            await asyncio.get_running_loop().run_in_executor(None, hook, received)
            await asyncio.sleep(0.5)     # the sender is dead by now: nobody reads the 250
        return "250 Message accepted"

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)


class FaultySmtpServer:
    def __init__(self) -> None:
        self.inbox = FaultyInbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> FaultySmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def account_settings(self, *, timeout: float) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none",
                "from_addr": "me@example.org", "from_name": "Me", "timeout": timeout}
