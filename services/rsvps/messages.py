"""The messages the rsvps service publishes: each carries the whole RSVP and the seat counts.

The events service turns them into the going and waitlist counts of event pages (and personal
feeds); the notifications service into confirmations, invitations and waitlist news.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from services.rsvps.seats import CANCELLED, CONFIRMED, DECLINED, MAYBE, RESPONSES, WAITLISTED, Rsvp
from shared.envelope import Envelope, strict_envelope

PRODUCER = "rsvps"


class RsvpState(Schema):
    id = fields.String(required=True)
    event_id = fields.String(required=True)
    # The occurrence's original local start, or None for a one-off event.
    occurrence = fields.String(required=True, allow_none=True)
    name = fields.String(required=True)
    email = fields.Email(required=True)
    phone = fields.String(required=True, allow_none=True)
    response = fields.String(required=True, validate=validate.OneOf(RESPONSES))
    guests = fields.Integer(required=True, validate=validate.Range(min=0))
    status = fields.String(
        required=True,
        validate=validate.OneOf((CONFIRMED, WAITLISTED, DECLINED, MAYBE, CANCELLED)),
    )
    waitlist_position = fields.Integer(required=True, allow_none=True)
    manage_url = fields.String(required=True)
    updated_at = fields.String(required=True)


class Counts(Schema):
    """The occurrence's seats after the change, for the events service's going counts.
    `revision` rises with every seat decision for the event: keep the highest seen."""

    occurrence = fields.String(required=True, allow_none=True)
    revision = fields.Integer(required=True, validate=validate.Range(min=1))
    capacity = fields.Integer(required=True, allow_none=True)
    confirmed_seats = fields.Integer(required=True)
    waitlisted = fields.Integer(required=True)
    maybe = fields.Integer(required=True)


class SeriesAnswer(Schema):
    """One answer for every upcoming date of a series ("all upcoming"), which changes one RSVP a
    date: each of their messages names it, and how many dates it changed, so the person can be
    told once about all of them."""

    id = fields.String(required=True)
    dates = fields.Integer(required=True, validate=validate.Range(min=1))


class RsvpChanged(Schema):
    rsvp = fields.Nested(RsvpState, required=True)
    counts = fields.Nested(Counts, required=True)
    # Only in the messages of the person's own RSVPs that one "all upcoming" answer changed.
    series_answer = fields.Nested(SeriesAnswer)


# status the RSVP reached -> the fact it announces
TYPE_OF_STATUS = {
    CONFIRMED: "rsvps.rsvp_confirmed",
    WAITLISTED: "rsvps.rsvp_waitlisted",
    DECLINED: "rsvps.rsvp_declined",
    MAYBE: "rsvps.rsvp_marked_maybe",
    CANCELLED: "rsvps.rsvp_cancelled",
}
PROMOTED = "rsvps.rsvp_promoted"

CATALOGUE: dict[str, tuple[int, type[Schema]]] = {
    type_: (1, RsvpChanged) for type_ in [*TYPE_OF_STATUS.values(), PROMOTED]
}


def message(type: str, payload: dict[str, Any], correlation_id: str) -> Envelope:
    """A validated envelope for `type`; strict on the way out."""
    return strict_envelope(CATALOGUE, PRODUCER, type, payload, correlation_id)


def rsvp_state(rsvp: Rsvp, waitlist_position: int | None, manage_url: str) -> dict[str, Any]:
    return {
        "id": rsvp.id,
        "event_id": rsvp.event_id,
        "occurrence": rsvp.occurrence.isoformat() if rsvp.occurrence else None,
        "name": rsvp.name,
        "email": rsvp.email,
        "phone": rsvp.phone,
        "response": rsvp.response,
        "guests": rsvp.guests,
        "status": rsvp.status,
        "waitlist_position": waitlist_position,
        "manage_url": manage_url,
        "updated_at": rsvp.updated_at.isoformat() if rsvp.updated_at else "",
    }
