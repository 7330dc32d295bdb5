"""Reminders: an email the day before and a text two hours before, for every confirmed answer,
queued from the answers and events the service holds.

Each run looks only at answers whose date begins within the reminder's lead time and that have no
reminder queued for that start (`attendees.day_reminder_for` / `text_reminder_for`), so it is cheap
to run often. A reminder's delivery key names the RSVP and the start it is for: two worker replicas
queueing the same reminder make one delivery, and a date that moves gets a reminder for its new
start. Whether the event is still on and the answer still yes is checked again right before
sending (sending.hold_back), since either may change after the reminder is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.notifications import store as stored
from services.notifications.handlers import snapshot
from services.notifications.mail import REMINDER
from services.notifications.model import (
    EMAIL,
    REMINDERS,
    SMS,
    TEXT_REMINDER,
    Attendee,
    NewDelivery,
    delivery_key,
)
from services.notifications.store import Store, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lead:
    """One kind of reminder: how long before the start it is due, on which channel, of which
    kind, and which column of `attendees` records that it was queued."""

    before: timedelta
    channel: str
    kind: str
    column: str


DAY_BEFORE = Lead(timedelta(hours=24), EMAIL, REMINDER, "day_reminder_for")
TWO_HOURS_BEFORE = Lead(timedelta(hours=2), SMS, TEXT_REMINDER, "text_reminder_for")
LEADS = (DAY_BEFORE, TWO_HOURS_BEFORE)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Reminders:
    def __init__(
        self, store: Store, *, now: Callable[[], datetime] = utc_now, batch: int = 200
    ) -> None:
        self.store = store
        self.now = now
        self.batch = batch

    def queue_due(self, ahead: timedelta = timedelta(0)) -> int:
        """Queue every reminder that is due now, or within `ahead` (the dev mailbox's way to
        show them without waiting); how many were queued."""
        queued = 0
        for lead in LEADS:
            while True:
                with self.store.begin() as uow:
                    now = self.now()
                    latest = now + lead.before + ahead
                    due = uow.to_remind(lead.column, now, latest, self.batch)
                    for attendee, starts_at in due:
                        queued += self._queue(uow, lead, attendee, starts_at, now)
                        uow.mark_reminded(lead.column, attendee.rsvp_id, starts_at)
                if len(due) < self.batch:
                    break
        return queued

    def _queue(
        self, uow: UnitOfWork, lead: Lead, attendee: Attendee, starts_at: datetime, now: datetime
    ) -> bool:
        """Queue one reminder unless it is pointless: the seat was taken after it was due (their
        confirmation is fresh news), the event is off, the honoree of a surprise, or no wish
        (and for a text, no number that opted in)."""
        due_at = starts_at - lead.before
        if attendee.confirmed_at is None or attendee.confirmed_at > due_at:
            return False
        event = uow.event(attendee.event_id)
        if event is None or not event.is_on(attendee.occurrence) or event.kept_from(attendee.email):
            return False
        if not uow.wants(attendee.email, lead.channel, REMINDERS):
            return False
        recipient = attendee.email
        if lead.channel == SMS:
            if not attendee.phone or not stored.may_text(uow, attendee.phone):
                return False
            recipient = attendee.phone
        _, ends_at = event.bounds(attendee.occurrence)
        return uow.queue_delivery(
            NewDelivery(
                delivery_key(lead.kind, starts_at.isoformat(), attendee.rsvp_id, lead.channel),
                channel=lead.channel,
                kind=lead.kind,
                recipient=recipient,
                address=attendee.email,
                category=REMINDERS,
                # The day-before mail is pointless once the event began; a text held back by quiet
                # hours may still go out while it runs.
                expires_at=starts_at if lead.channel == EMAIL else ends_at,
                context={
                    "name": attendee.name,
                    "email": attendee.email,
                    "manage_url": attendee.manage_url,
                    "event": snapshot(event, event.occasion(attendee.occurrence)),
                    "timezone": event.timezone,
                    "reminder": {"rsvp_id": attendee.rsvp_id, "starts_at": starts_at.isoformat()},
                },
            ),
            now,
        )
