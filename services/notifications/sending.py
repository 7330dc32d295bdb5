"""Sending what is due: the sender claims a batch of due deliveries of one channel from the
ledger, hands each to that channel's courier, and records each outcome (sent, retrying with
backoff, failed) in a transaction of its own, before the next delivery goes out.

A claim is a time (CLAIM) in the row, taken with SKIP LOCKED on PostgreSQL, so several worker
replicas share the work and never attempt one delivery at the same time; the claimant records or
releases every delivery it claimed before it claims more. The one duplicate left is a delivery the
other end accepted when the worker died before committing its outcome: one message, sent again by
the next sender once the claim has run out. Deliveries claimed but not attempted by a dead worker
wait that long too.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from services.notifications import store as stored
from services.notifications.mail import ON_THE_WIRE, Mail, subject_of
from services.notifications.model import (
    CONFIRMED,
    DROPPED,
    QUEUED,
    SMS,
    TEXT_OPT_IN,
    Choices,
    Delivery,
    Drop,
    Outcome,
    TryLater,
    Undeliverable,
    outcome,
    quiet_until,
)
from services.notifications.store import Store, UnitOfWork

log = logging.getLogger(__name__)

# How long a sender has the deliveries it claims. It attempts none once half of that has passed
# (a slow server: the rest go back), so none is attempted twice at once while an attempt lasts
# less than the other half (SMTP commands time out after 30 s, the SMS API after 10).
CLAIM = timedelta(minutes=2)

# What sends one delivery, given where its outcome is recorded (for what the other end's answer
# teaches, such as a number that opted out); it raises TryLater or Undeliverable if the other end
# refused it.
Send = Callable[[UnitOfWork, Delivery], None]


class Courier(Protocol):
    """Delivers on one channel. `session` opens what the sends of a batch share (an SMTP
    connection) and yields the function that sends one delivery; it raises itself when the other
    end cannot be reached at all, which leaves the deliveries to be tried again."""

    def session(self) -> AbstractContextManager[Send]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Sender:
    def __init__(
        self,
        store: Store,
        channel: str,
        courier: Courier,
        *,
        now: Callable[[], datetime] = utc_now,
        batch: int = 20,
    ) -> None:
        self.store = store
        self.channel = channel
        self.courier = courier
        self.now = now
        self.batch = batch

    def send_due(self) -> int:
        """Attempt one batch of due deliveries; how many were attempted."""
        with self.store.begin() as uow:
            claimed_at = self.now()
            due = uow.claim_due(self.channel, claimed_at, self.batch, claimed_at + CLAIM)
            # What the batch's people chose, read once for all of them.
            choices = uow.choices_of((d.address for d in due if d.address), self.channel)
        if not due:
            return 0
        left = deque(due)
        try:
            with self.store.autocommit() as uow, self.courier.session() as send:
                while left and self.now() < claimed_at + CLAIM / 2:
                    result, now = self._attempt(uow, send, left[0], choices)
                    # Committed before the next goes out: a crash resends at most this one.
                    uow.record_attempt(left[0], result, now)
                    left.popleft()
        finally:
            if left:
                with self.store.begin() as uow:
                    uow.release(left)
        return len(due) - len(left)

    def _attempt(
        self, uow: UnitOfWork, send: Send, delivery: Delivery, choices: Choices
    ) -> tuple[Outcome, datetime]:
        """Send one delivery unless it is held back; what became of it, and when. Nothing one
        delivery does stops the rest of the batch."""
        error: Exception | None = None
        try:
            now = self.now()
            held = hold_back(uow, delivery, now, choices)
            if held is not None:
                log.info("%s %s: %s", delivery.key, held.state, held.error)
                return held, now
            send(uow, delivery)
        except (TryLater, Undeliverable, Drop) as refusal:
            error = refusal
        except Exception as bug:
            # Not the other end's answer: a template or context that cannot make a message (or
            # an unknown time zone) will not make one on the next attempt either.
            log.exception("could not send %s", delivery.key)
            error = Undeliverable(f"{type(bug).__name__}: {bug}")
        now = self.now()
        result = outcome(delivery.attempts + 1, now, error)
        if error is not None:
            log.warning("%s %s: %s", delivery.key, result.state, error)
        return result, now

    def send_all(self, within: timedelta | None = None) -> int:
        """Attempt everything due now (retries wait for their time), or as much as the batches
        begun `within` that long attempt: a worker runs it so, to see between two runs whether it
        is being stopped, rather than after thousands of mails."""
        total = 0
        started = time.monotonic()
        while count := self.send_due():
            total += count
            if within is not None and time.monotonic() - started >= within.total_seconds():
                break
        return total


def hold_back(
    uow: UnitOfWork, delivery: Delivery, now: datetime, choices: Choices
) -> Outcome | None:
    """Why not to send `delivery` now, checked right before sending, since much can change
    between queuing and sending: DROPPED with the reason, QUEUED until quiet hours end, or None
    to send it. `choices`: its person's preferences, read when the batch was claimed."""
    if delivery.expires_at is not None and now >= delivery.expires_at:
        return Outcome(DROPPED, None, "the event is over")
    category, address = delivery.category, delivery.address
    if category and address and not choices.wants(address, category):
        return Outcome(DROPPED, None, f"unsubscribed from {category} by {delivery.channel}")
    reminder = delivery.context.get("reminder")
    if reminder is not None:
        reason = reminder_is_stale(uow, reminder)
        if reason is not None:
            return Outcome(DROPPED, None, reason)
    if delivery.channel == SMS:
        if not stored.may_text(uow, delivery.recipient):
            return Outcome(DROPPED, None, "the number has not opted in to texts, or opted out")
        if delivery.kind == TEXT_OPT_IN:
            return None  # the answer to what the person just did: never held
        zone = (delivery.address and uow.time_zone_of(delivery.address)) or delivery.context[
            "timezone"
        ]
        morning = quiet_until(now, zone)
        if morning is not None:
            if delivery.expires_at is not None and morning >= delivery.expires_at:
                return Outcome(DROPPED, None, "quiet hours last until the event is over")
            return Outcome(QUEUED, morning, f"quiet hours in {zone}")
    return None


def reminder_is_stale(uow: UnitOfWork, reminder: dict[str, str]) -> str | None:
    """Why a reminder no longer applies: the answer is no longer yes, the date is cancelled, or
    it moved (its reminder for the new time is a delivery of its own)."""
    attendee = uow.attendee(reminder["rsvp_id"])
    if attendee is None or attendee.status != CONFIRMED:
        return "the RSVP is no longer yes"
    event = uow.event(attendee.event_id)
    if event is None or not event.is_on(attendee.occurrence):
        return "the event is cancelled"
    if event.bounds(attendee.occurrence)[0] != datetime.fromisoformat(reminder["starts_at"]):
        return "the event moved"
    return None


class DevMailbox:
    """Keeps email in the dev mailbox instead of sending it (`hearth dev` without SMTP_URL)."""

    def __init__(self, mail: Mail, now: Callable[[], datetime] = utc_now) -> None:
        self.mail = mail
        self.now = now

    @contextmanager
    def session(self) -> Iterator[Send]:
        def keep(uow: UnitOfWork, delivery: Delivery) -> None:
            message = self.mail.compose(delivery)
            uow.store_in_mailbox(delivery, subject_of(message), message.as_string(), self.now())

        yield keep


class Smtp:
    """Sends email over SMTP, one recipient per message, on one connection per batch.

    `smtp_url`: smtp://user:pass@host:port, smtps:// for TLS from the start, ?starttls=1 to
    upgrade. 4xx answers are "try later", 5xx answers and refused recipients are final.
    """

    def __init__(self, mail: Mail, smtp_url: str, timeout: float = 30.0) -> None:
        self.mail = mail
        url = urlsplit(smtp_url)
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ValueError(f"SMTP_URL must look like smtp://user:pass@host:port, not {smtp_url}")
        self.tls = url.scheme == "smtps"
        self.host = url.hostname
        self.port = url.port or (465 if self.tls else 25)
        self.username = unquote(url.username) if url.username else None
        self.password = unquote(url.password) if url.password else ""
        self.starttls = parse_qs(url.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
        self.timeout = timeout

    def connect(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP
        if self.tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    @contextmanager
    def session(self) -> Iterator[Send]:
        connection: list[smtplib.SMTP] = [self.connect()]

        def send(_uow: UnitOfWork, delivery: Delivery) -> None:
            if not connection:
                try:
                    connection.append(self.connect())
                except (smtplib.SMTPException, OSError) as error:
                    raise TryLater(f"could not connect again: {error}") from error
            message = self.mail.compose(delivery).as_bytes(policy=ON_THE_WIRE)
            try:
                refused = connection[0].sendmail(
                    self.mail.envelope_from, [delivery.recipient], message
                )
            except smtplib.SMTPRecipientsRefused as error:
                refused = error.recipients
            except smtplib.SMTPResponseException as error:
                raise answer(error.smtp_code, error.smtp_error) from error
            except (smtplib.SMTPServerDisconnected, OSError) as error:
                # The server hung up mid-message: the next delivery gets a new connection.
                connection.pop().close()
                raise TryLater(f"connection lost: {error}") from error
            # sendmail returns, rather than raises, the recipients it refused if any was accepted.
            if refused:
                code, text = next(iter(refused.values()))
                raise answer(code, text)

        try:
            yield send
        finally:
            for smtp in connection:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()


def answer(code: int, text: bytes | str) -> TryLater | Undeliverable:
    """An SMTP reply as the outcome it means: 4xx is temporary, anything else final."""
    reason = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    return TryLater(reason) if 400 <= code < 500 else Undeliverable(reason)
