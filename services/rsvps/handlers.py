"""Reactions of the rsvps service to the events service's messages: its read model of events.

Every event message carries the event's whole new state, so one handler serves them all. It reads
only the fields this service needs and ignores the rest, and it keeps a state only if its
`sequence` is higher than the one stored, so redelivered or reordered messages never roll an
event back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.rsvps import operations
from services.rsvps.model import Community, Event
from services.rsvps.store import UnitOfWork
from shared.envelope import Envelope
from shared.runtime import MessageHandler

log = logging.getLogger(__name__)

EVENT_MESSAGES = (
    "events.event_scheduled",
    "events.event_updated",
    "events.event_cancelled",
    "events.occurrence_cancelled",
    "events.occurrence_updated",
)


def record_event(uow: UnitOfWork, envelope: Envelope) -> Event | None:
    """Keep the event's new state; the event if it was newer than what we held, else None."""
    event = event_from_state(envelope.payload["event"], envelope.occurred_at)
    if not uow.record_event(event):
        log.info(
            "kept the newer state of event %s: %s carries sequence %d",
            event.id,
            envelope.type,
            event.sequence,
        )
        return None
    return event


def handlers(context: Callable[[Envelope], operations.Context]) -> dict[str, MessageHandler]:
    """The reactions to event messages: keep the new state, then seat whoever now fits (a raised
    capacity promotes; a lowered one changes nobody). `context` gives the links' origin and key."""

    def event_changed(uow: UnitOfWork, envelope: Envelope) -> None:
        event = record_event(uow, envelope)
        if event is not None and not event.cancelled:
            operations.seat_waitlists(uow, context(envelope), event)

    return dict.fromkeys(EVENT_MESSAGES, event_changed)


def event_from_state(state: Mapping[str, Any], occurred_at: datetime) -> Event:
    """The rsvps view of an `event` payload; `occurred_at` stands in for a missing `updated_at`."""
    deadline = state.get("rsvp_deadline")
    updated_at = state.get("updated_at")
    # The message names dates by their original starts now; this service by their keys.
    shift = timedelta(seconds=state.get("series_shift_seconds") or 0)
    return Event(
        id=state["id"],
        community_id=state["community"]["id"],
        kind=state["kind"],
        title=state["title"],
        capacity=state.get("capacity"),
        status=state["status"],
        visibility=state["visibility"],
        timezone=state["timezone"],
        local_start=_local(state["local_start"]),
        local_end=_local(state["local_end"]),
        starts_at=_instant(state["starts_at"]),
        ends_at=_instant(state["ends_at"]),
        rrule=state.get("rrule") or None,
        rsvp_deadline=_instant(deadline) if deadline else None,
        guest_limit=state.get("guest_limit"),
        sequence=int(state["sequence"]),
        updated_at=_instant(updated_at) if updated_at else occurred_at,
        cancelled_occurrences=frozenset(
            _local(start) - shift for start in state.get("cancelled_occurrences") or ()
        ),
        all_day=bool(state.get("all_day")),
        moved_occurrences=_moved(
            state.get("overrides") or (),
            _local(state["local_end"]) - _local(state["local_start"]),
            shift,
        ),
        shift=shift,
    )


def _moved(
    overrides: Any, duration: timedelta, shift: timedelta
) -> dict[datetime, tuple[datetime, datetime]]:
    """The dates, by key, whose times an override changed; one that changes only texts (a
    title for one date) moves nothing this service needs to know."""
    moved = {}
    for override in overrides:
        original = _local(override["original_start"])
        starts, ends = _local(override["local_start"]), _local(override["local_end"])
        if (starts, ends) != (original, original + duration):
            moved[original - shift] = (starts, ends)
    return moved


def _local(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        raise ValueError(f"expected a local wall time without offset, got {text!r}")
    return value


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"expected an instant with a UTC offset, got {text!r}")
    return value


# Who may see attendee lists. Members' messages carry their community, so a membership is
# stored even if the community's own message is late; both are kept only if newer than what we
# hold. Token messages carry only a digest; the same token announced again changes nothing.
ORGANIZER_MESSAGES = ("events.member_added", "events.api_token_issued")


def record_membership(uow: UnitOfWork, envelope: Envelope) -> None:
    """A member joined a community or changed role there."""
    payload = envelope.payload
    state = payload["community"]
    community = Community(id=state["id"], slug=state["slug"], name=state["name"])
    uow.record_community(community, envelope.occurred_at)
    uow.record_membership(
        community.id, payload["member"]["id"], payload["role"], envelope.occurred_at
    )


def record_api_token(uow: UnitOfWork, envelope: Envelope) -> None:
    payload = envelope.payload
    uow.record_api_token(payload["token_hash"], payload["member_id"], envelope.occurred_at)


ORGANIZER_HANDLERS: dict[str, MessageHandler] = {
    "events.member_added": record_membership,
    "events.api_token_issued": record_api_token,
}
