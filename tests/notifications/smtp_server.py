"""A real SMTP server on 127.0.0.1 for the tests (aiosmtpd), which keeps what it accepts and can be
told to answer the next recipients or messages with an error."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from shared.testing import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Handler:
    """Accepts everything, except that each entry of `rcpt_answers` / `data_answers` (such as
    "451 4.3.0 try again later") answers one RCPT / DATA command, in order."""

    received: list[Received] = field(default_factory=list)
    rcpt_answers: list[str] = field(default_factory=list)
    data_answers: list[str] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt_answers:
            return self.rcpt_answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_answers:
            return self.data_answers.pop(0)
        with self.arrived:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(
        self,
        count: int,
        timeout: float = 10.0,
        where: Callable[[Received], bool] = lambda received: True,
    ) -> list[Received]:
        """The mail received once `count` of it matches `where` (or the timeout passed)."""
        with self.arrived:
            self.arrived.wait_for(
                lambda: sum(1 for r in self.received if where(r)) >= count, timeout
            )
        return list(self.received)


@contextmanager
def smtp_server() -> Iterator[tuple[Handler, str]]:
    """A running server and its SMTP_URL."""
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()
