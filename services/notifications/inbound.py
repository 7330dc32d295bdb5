"""The webhook the SMS provider calls with texts people send us: STOP, START and HELP, answered
in TwiML with the replies carriers require."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, current_app, request

from services.notifications import sms
from services.notifications import store as stored

log = logging.getLogger(__name__)

PATH = "/notifications/sms/inbound"

OPTED_OUT_REPLY = "You're unsubscribed from Hearth texts. Reply START to resubscribe."
OPTED_IN_REPLY = (
    "You're subscribed to Hearth texts: event reminders and changes. Msg&data rates may apply. "
    "Reply HELP for help, STOP to unsubscribe."
)


def help_reply(base_url: str) -> str:
    return (
        "Hearth: texts about your community's events. To reach your organizer, reply to any "
        f"Hearth email or visit {base_url} . Reply STOP to unsubscribe."
    )


def twiml(message: str | None) -> Response:
    body = f"<Message>{escape(message)}</Message>" if message else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    return Response(xml, mimetype="text/xml")


def blueprint(
    auth_token: str | None,
    base_url: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Blueprint:
    """The webhook, verifying requests with `auth_token` (without one, every request is refused:
    an unverifiable request must not change anyone's consent)."""
    bp = Blueprint("notifications_sms_inbound", __name__)

    @bp.post(PATH)
    def inbound() -> Response:
        # The provider signs the URL it called, which is the public one: behind a proxy that ends
        # TLS, the URL this process sees (http://10.0.0.5:8000/...) differs from it, and
        # X-Forwarded-* headers are whatever the caller says. So rebuild it from HEARTH_BASE_URL.
        url = base_url + request.full_path.rstrip("?")
        given = request.headers.get("X-Twilio-Signature", "")
        params = list(request.form.items(multi=True))
        if (
            not auth_token
            or not given
            or not sms.signature_is_valid(auth_token, url, params, given)
        ):
            log.warning("refused an inbound text with a missing or wrong signature")
            abort(403)
        phone = sms.e164(request.form.get("From", ""))
        if phone is None:
            log.warning("an inbound text came from something other than a phone number")
            return twiml(None)
        word = sms.keyword(request.form.get("Body", ""))
        if word == "help":
            return twiml(help_reply(base_url))
        if word is None:
            # No reply to other texts: this number is not read by anyone, and an answer to every
            # text could loop forever with an auto-responder; HELP says how to reach people.
            return twiml(None)
        state, reply = (
            (stored.OPTED_OUT, OPTED_OUT_REPLY)
            if word == "stop"
            else (stored.OPTED_IN, OPTED_IN_REPLY)
        )
        store: stored.Store = current_app.extensions["hearth.store"]
        with store.begin() as uow:
            stored.record_sms_state(uow, phone, state, f"text: {word.upper()}", clock())
        return twiml(reply)

    return bp
