"""Reactions of the events service to messages: the rsvps service's (the seat counts it shows,
and who is going, for personal feeds), and its own event changes (each event's calendar text).

Tolerant: only the event id, the occurrence, the counts and the answer are read; a count older
than the one kept (a lower revision, as when replicas deliver out of order) or an answer older
than the one kept changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from services.events import feeds
from services.events.store import UnitOfWork
from shared.envelope import Envelope
from shared.runtime import MessageHandler

log = logging.getLogger(__name__)

RSVP_MESSAGES = (
    "rsvps.rsvp_confirmed",
    "rsvps.rsvp_waitlisted",
    "rsvps.rsvp_declined",
    "rsvps.rsvp_marked_maybe",
    "rsvps.rsvp_cancelled",
    "rsvps.rsvp_promoted",
)


def record_counts(uow: UnitOfWork, envelope: Envelope) -> None:
    rsvp = envelope.payload["rsvp"]
    event_id = rsvp["event_id"]
    counts = envelope.payload["counts"]
    if uow.event(event_id) is None:
        log.warning("counts for unknown event %s ignored", event_id)
        return
    uow.record_attendance(event_id, counts.get("occurrence") or "", counts)
    changed_at = rsvp.get("updated_at")
    uow.record_answer(
        rsvp["email"].lower(),
        event_id,
        rsvp.get("occurrence") or "",
        rsvp["status"],
        datetime.fromisoformat(changed_at) if changed_at else envelope.occurred_at,
    )


HANDLERS = dict.fromkeys(RSVP_MESSAGES, record_counts)

# The events service's own messages that change an event's calendar text.
EVENT_MESSAGES = (
    "events.event_scheduled",
    "events.event_updated",
    "events.event_cancelled",
    "events.occurrence_cancelled",
    "events.occurrence_updated",
)


def calendar_handlers(base_url: str) -> dict[str, MessageHandler]:
    """Render an event's calendar text again when it changed; the message says which event,
    the database says what it is now (so a late message renders the latest state)."""

    def render(uow: UnitOfWork, envelope: Envelope) -> None:
        feeds.render_event(uow, envelope.payload["event"]["id"], base_url)

    return dict.fromkeys(EVENT_MESSAGES, render)
