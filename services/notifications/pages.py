"""The notifications service's pages: the dev mailbox, where `hearth dev` keeps the mail it would
have sent, so every journey (sign-in included) can be followed without a mail server."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from flask import Blueprint, abort, current_app, render_template


def dev_mailbox(prefix: str, *, smtp_url: str | None) -> Blueprint:
    bp = Blueprint("dev_mailbox", __name__, url_prefix=f"{prefix.rstrip('/')}/dev/mailbox")

    @bp.get("")
    def mailbox() -> str:
        with current_app.extensions["hearth.store"].begin() as uow:
            messages = uow.mailbox()
        return render_template("mailbox.html", messages=messages, smtp_url=smtp_url)

    @bp.get("/<int:message_id>")
    def message(message_id: int) -> str:
        with current_app.extensions["hearth.store"].begin() as uow:
            stored = uow.mailbox_message(message_id)
        if stored is None:
            abort(404)
        parts = mime_parts(stored["content"]) if stored["channel"] == "email" else None
        return render_template("mailbox_message.html", stored=stored, parts=parts)

    return bp


def mime_parts(content: str) -> dict[str, Any]:
    """The headers and the text, HTML and calendar parts of a stored message."""
    parsed = email.message_from_string(content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    found: dict[str, Any] = {"headers": list(parsed.items()), "text": None, "html": None}
    found["calendars"] = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        body = part.get_content()  # type: ignore[attr-defined]
        if kind == "text/plain" and found["text"] is None:
            found["text"] = body
        elif kind == "text/html" and found["html"] is None:
            found["html"] = body
        elif kind == "text/calendar":
            found["calendars"].append((part.get_param("method") or "", body))
    return found
