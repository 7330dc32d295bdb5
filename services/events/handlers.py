"""Reactions of the events service to the rsvps service's messages: the seat counts it shows.

Tolerant: only the event id, the occurrence and the counts are read; a count older than the one
kept (a lower revision, as when replicas deliver out of order) changes nothing.
"""

from __future__ import annotations

import logging

from services.events.store import UnitOfWork
from shared.envelope import Envelope

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
    event_id = envelope.payload["rsvp"]["event_id"]
    counts = envelope.payload["counts"]
    if uow.event(event_id) is None:
        log.warning("counts for unknown event %s ignored", event_id)
        return
    uow.record_attendance(event_id, counts.get("occurrence") or "", counts)


HANDLERS = dict.fromkeys(RSVP_MESSAGES, record_counts)
