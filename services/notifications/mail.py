"""Composing email: each kind of delivery becomes a letter, and a letter becomes a MIME message in
the contract's format (one recipient, text and HTML, auto-generated, a stable Message-ID)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notifications.model import Delivery
from shared.links import sign_in_url

SIGN_IN = "sign-in"


@dataclass(frozen=True)
class Letter:
    """What one person is told: the subject, and the template and values of its text and HTML
    parts (`templates/mail/<template>.txt` and `.html`).

    Later kinds add what they need here and in `Mail.compose`: the thread they belong to
    (In-Reply-To/References), a one-click unsubscribe URL (transactional mail has none), a
    calendar part."""

    to_name: str
    to_address: str
    subject: str
    template: str
    values: Mapping[str, Any]


class Mail:
    """Turns deliveries into messages, with the deployment's sender, origin and link key."""

    def __init__(self, *, mail_from: str, base_url: str, secret_key: str) -> None:
        self.mail_from = mail_from
        self.envelope_from = parseaddr(mail_from)[1]
        self.domain = self.envelope_from.rpartition("@")[2] or "localhost"
        self.base_url = base_url
        self.secret_key = secret_key
        self.templates = Environment(
            loader=PackageLoader("services.notifications", "templates/mail"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.letters: dict[str, Callable[[Mapping[str, Any]], Letter]] = {
            SIGN_IN: self.sign_in,
        }

    def compose(self, delivery: Delivery) -> EmailMessage:
        letter = self.letters[delivery.kind](delivery.context)
        values = {**letter.values, "name": letter.to_name, "base_url": self.base_url}
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = Address(letter.to_name, addr_spec=letter.to_address)
        message["Subject"] = letter.subject
        # Composed, for the reader, when the delivery was queued, however late an attempt is.
        message["Date"] = format_datetime(delivery.created_at)
        message["Message-ID"] = self.message_id(delivery.key)
        # Out-of-office replies and vacation notices must not answer machine mail.
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(self._render(f"{letter.template}.txt", values))
        message.add_alternative(self._render(f"{letter.template}.html", values), subtype="html")
        return message

    def message_id(self, key: str) -> str:
        """The same for every attempt of a delivery, so a resent message is recognisably one."""
        return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{self.domain}>"

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        return self.templates.get_template(name).render(values)

    # The kinds of letter

    def sign_in(self, context: Mapping[str, Any]) -> Letter:
        """The magic link a member asked for: transactional, so no unsubscribe."""
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject="Your sign-in link for Hearth",
            template="sign_in",
            values={
                "url": sign_in_url(self.secret_key, self.base_url, context["link_id"]),
                "minutes": context["minutes"],
            },
        )
