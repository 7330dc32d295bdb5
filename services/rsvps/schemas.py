"""The shapes of what people send the rsvps service; values are checked by the use cases."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from services.rsvps.seats import RESPONSES
from shared.inputs import LocalDateTime


class RsvpInput(Schema):
    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, error="give your name, as the organizer will see it"),
            validate.Length(max=200, error="keep the name to 200 characters"),
        ],
    )
    email = fields.Email(
        required=True,
        validate=validate.Length(max=254, error="an email address has at most 254 characters"),
        error_messages={"invalid": "give a valid email address, like name@example.org"},
    )
    phone = fields.String(load_default=None, allow_none=True)
    response = fields.String(
        required=True,
        validate=validate.OneOf(RESPONSES, error="answer yes, no or maybe"),
    )
    guests = fields.Integer(
        load_default=0,
        strict=True,
        validate=validate.Range(min=0, error="guests cannot be negative"),
        error_messages={"invalid": "guests must be a whole number, like 1"},
    )
    occurrence = LocalDateTime(load_default=None, allow_none=True)
    # For a series: the same answer for every date that takes answers now (within a year), in
    # place of one `occurrence`.
    all_upcoming = fields.Boolean(
        load_default=False, error_messages={"invalid": "all_upcoming is true or false"}
    )


class CancelInput(Schema):
    # The token of the RSVP's manage link: whoever holds that link may cancel.
    token = fields.String(required=True)


class AttendeesQuery(Schema):
    """The query of an attendee list: one date of a series, or (left out) every date."""

    class Meta:
        unknown = EXCLUDE  # a query string may carry what links add; only `occurrence` counts

    occurrence = LocalDateTime(load_default=None)


# Built once: setting up a schema's fields costs more than loading an answer with it, and an
# answer is the service's busiest request.
RSVP_INPUT = RsvpInput()
