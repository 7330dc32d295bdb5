"""The couriers of texts: through the SMS provider, recording what its answers teach about the
number, or into the dev mailbox in `hearth dev`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from services.notifications import sms, texts
from services.notifications import store as stored
from services.notifications.model import Delivery, TryLater, Undeliverable
from services.notifications.sending import Courier, Send, utc_now
from services.notifications.store import UnitOfWork
from shared.config import Config

log = logging.getLogger(__name__)


class Texting:
    """Sends texts through a Twilio-shaped Messages API. Quiet hours and consent are checked
    before (sending.hold_back); what the provider answers about the number (STOP sent to it
    directly, not a mobile) is committed with the attempt, so a later delivery to that number,
    even in the same batch, is dropped without asking the provider."""

    def __init__(self, client: sms.SmsClient, now: Callable[[], datetime] = utc_now) -> None:
        self.client = client
        self.now = now

    @contextmanager
    def session(self) -> Iterator[Send]:
        def send(uow: UnitOfWork, delivery: Delivery) -> None:
            phone = delivery.recipient
            result = self.client.send(
                phone, texts.body(delivery, self.now()), attempt=delivery.attempts + 1
            )
            if isinstance(result, sms.Sent):
                log.info("%s sent as %s (%d segments)", delivery.key, result.sid, result.segments)
            elif isinstance(result, sms.RetryLater):
                reason = result.reason
                if result.maybe_sent:
                    # The provider may have taken it before the answer was lost: a retry may
                    # send it twice, which is better than a reminder or a change never told.
                    reason += " (it may have been sent: a retry may send it twice)"
                    log.warning("%s: %s", delivery.key, reason)
                raise TryLater(reason, after=result.after)
            elif isinstance(result, sms.OptedOut):
                source = f"provider: {sms.OPTED_OUT}"
                stored.record_sms_state(uow, phone, stored.OPTED_OUT, source, self.now())
                raise Undeliverable(f"{sms.OPTED_OUT}: the number opted out with the provider")
            elif isinstance(result, sms.InvalidNumber):
                source = f"provider: {result.detail}" if sms.e164(phone) else result.detail
                stored.record_sms_state(uow, phone, stored.INVALID, source, self.now())
                raise Undeliverable(f"invalid number: {result.detail}")
            else:
                code = f" {result.code}" if result.code is not None else ""
                raise Undeliverable(f"{result.status}{code}: {result.detail}")

        yield send


class DevTexts:
    """Keeps texts in the dev mailbox instead of sending them (`hearth dev` without
    SMS_API_URL), after the same checks as real ones: consent, quiet hours, preferences."""

    def __init__(self, now: Callable[[], datetime] = utc_now) -> None:
        self.now = now

    @contextmanager
    def session(self) -> Iterator[Send]:
        def keep(uow: UnitOfWork, delivery: Delivery) -> None:
            now = self.now()
            content = texts.body(delivery, now)
            uow.store_in_mailbox(delivery, texts.preview(content), content, now)

        yield keep


def text_courier(config: Config) -> Courier | None:
    """The provider when SMS_API_URL is set (with SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM);
    the dev mailbox in `hearth dev` without it; otherwise nothing, and texts wait in the ledger
    until the provider is configured."""
    if config.sms_api_url:
        sid, token, sender = config.sms_account_sid, config.sms_auth_token, config.sms_from
        if not (sid and token and sender):
            needed = {"SMS_ACCOUNT_SID": sid, "SMS_AUTH_TOKEN": token, "SMS_FROM": sender}
            missing = ", ".join(name for name, value in needed.items() if not value)
            # Not fatal: the rest of the service (email, the inbound webhook) works without it.
            log.error("SMS_API_URL is set without %s: texts are queued but not sent", missing)
            return None
        return Texting(sms.SmsClient(config.sms_api_url, sid, token, sender))
    if config.dev:
        return DevTexts()
    log.warning("SMS_API_URL is not set: texts are queued but not sent")
    return None
