"""The notifications service's pages: the dev mailbox, where `hearth dev` keeps the mail and texts
it would have sent, so every journey (sign-in included) can be followed without a mail server or
an SMS provider."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from services.notifications import sms
from services.notifications.model import EMAIL, SMS
from services.notifications.reminders import Reminders
from shared.web import CONTENT_SECURITY_POLICY

# How far ahead the dev mailbox may queue reminders: two weeks covers every demo event.
MOST_HOURS_AHEAD = 14 * 24


def dev_mailbox(
    prefix: str, *, smtp_url: str | None, wake: Callable[[], None] = lambda: None
) -> Blueprint:
    """The dev mailbox's pages; `wake`: what makes the worker's senders look for work at once."""
    bp = Blueprint("dev_mailbox", __name__, url_prefix=f"{prefix.rstrip('/')}/dev/mailbox")

    @bp.get("")
    def mailbox() -> str:
        with current_app.extensions["hearth.store"].begin() as uow:
            messages = uow.mailbox()
        return render_template(
            "mailbox.html", messages=messages, smtp_url=smtp_url, most_hours=MOST_HOURS_AHEAD
        )

    @bp.post("/reminders")
    def remind_ahead() -> Response:
        """Queue now the reminders that will be due some hours from now, as the worker will then
        (and so will not again): a day-before mail is otherwise seen only by waiting a day."""
        hours = request.form.get("hours", type=int)
        if hours is None or not 1 <= hours <= MOST_HOURS_AHEAD:
            flash(f"Hours from now must be a whole number from 1 to {MOST_HOURS_AHEAD}.")
            return redirect(url_for(".mailbox"))
        ahead = timedelta(hours=hours)
        queued = Reminders(current_app.extensions["hearth.store"]).queue_due(ahead)
        wake()
        later = datetime.now(UTC) + ahead
        flash(
            f"Queued {queued} reminder{'' if queued == 1 else 's'} due by {later:%Y-%m-%d %H:%M}"
            " UTC; each appears here once it is sent (texts wait out quiet hours)."
        )
        return redirect(url_for(".mailbox"))

    @bp.get("/<int:message_id>")
    def message(message_id: int) -> Response:
        with current_app.extensions["hearth.store"].begin() as uow:
            stored = uow.mailbox_message(message_id)
        if stored is None:
            abort(404)
        parts = mime_parts(stored["content"]) if stored["channel"] == EMAIL else None
        text = text_facts(stored["content"]) if stored["channel"] == SMS else None
        page = make_response(
            render_template("mailbox_message.html", stored=stored, parts=parts, text=text)
        )
        # A mail's HTML part styles itself inline, as mail programs expect; its preview is a
        # sandboxed frame (no scripts) of this page, so this page allows inline styles.
        page.headers["Content-Security-Policy"] = (
            CONTENT_SECURITY_POLICY + "; style-src 'self' 'unsafe-inline'"
        )
        return page

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


def text_facts(body: str) -> dict[str, Any]:
    """What a text costs: carriers bill by the segment, and one character outside GSM-7 makes
    the whole text UCS-2, with less than half the room."""
    return {
        "segments": sms.segment_count(body),
        "encoding": sms.encoding_of(body),
        "characters": len(body),
        "outside_gsm7": sorted({c for c in body if sms.encoding_of(c) == "UCS-2"}),
    }
