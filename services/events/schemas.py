"""The shapes of what people send the events service, shared by the JSON API and the forms.

Schemas check types and formats; the values are checked by the domain rules (model.build_event
and the use cases), so every bad field is named in one answer.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from marshmallow import Schema, fields, validate

from services.events.model import COMMUNITY_VISIBILITIES, LOCATION_MAX, ROLES
from shared.inputs import LocalDateTime

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _text(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Length(max=max_length, error=f"keep this to {max_length} characters"),
        **kwargs,
    )


def _choice(choices: tuple[str, ...], **kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.OneOf(choices, error=f"choose one of: {', '.join(choices)}"), **kwargs
    )


class LocalDateOrTime(LocalDateTime):
    """A wall-clock date-time like 2026-12-03T12:00 (as shared.inputs.LocalDateTime), or a date
    like 2027-05-01 (the days of an all-day event); the model says which an event takes."""

    default_error_messages = {
        "invalid": "give a local date and time like 2026-12-03T12:00, or a date like 2027-05-01 "
        "for an all-day event",
    }

    # Widens what it reads to dates too; nothing treats it as a LocalDateTime.
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> date | datetime:
        if isinstance(value, str) and DATE.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        return super()._deserialize(value, attr, data, **kwargs)


class CommunityInput(Schema):
    name = fields.String(required=True)
    slug = fields.String(load_default=None)
    timezone = fields.String(required=True)
    description = fields.String(load_default="")
    visibility = _choice(COMMUNITY_VISIBILITIES, load_default="private")


class MemberInput(Schema):
    email = fields.Email(
        required=True,
        validate=validate.Length(max=254, error="an email address has at most 254 characters"),
        error_messages={"invalid": "give a valid email address"},
    )
    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, error="give the member's name"),
            validate.Length(max=200, error="keep the name to 200 characters"),
        ],
    )
    phone = fields.String(load_default=None, allow_none=True)
    role = _choice(ROLES, load_default="member")


def _link() -> fields.URL:
    return fields.URL(
        load_default=None,
        allow_none=True,
        schemes={"https", "http"},
        validate=validate.Length(max=2000, error="keep the link to 2,000 characters"),
        error_messages={"invalid": "give a full link starting with https://"},
    )


class EventInput(Schema):
    kind = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(load_default=None, allow_none=True)
    # Local times; with all_day, dates: the first and the last day (inclusive).
    starts_at = LocalDateOrTime(required=True)
    ends_at = LocalDateOrTime(required=True)
    all_day = fields.Boolean(
        load_default=False, error_messages={"invalid": "all_day is true or false"}
    )
    timezone = _text(64, load_default=None, allow_none=True)
    rrule = _text(1000, load_default=None, allow_none=True)
    location = _text(LOCATION_MAX, load_default=None, allow_none=True)
    online_url = _link()
    capacity = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        error_messages={"invalid": "capacity must be a whole number"},
    )
    guest_limit = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        error_messages={"invalid": "the guest limit must be a whole number, like 1"},
    )
    rsvp_deadline = LocalDateTime(load_default=None, allow_none=True)
    visibility = fields.String(load_default="community")
    honoree_email = fields.Email(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=254, error="an email address has at most 254 characters"),
        error_messages={"invalid": "give the honoree's email address"},
    )
    surprise = fields.Boolean(load_default=False)
    ce_hours = fields.Float(load_default=None, allow_none=True)
    presenter = _text(200, load_default=None, allow_none=True)


class CancelInput(Schema):
    occurrence = LocalDateTime(load_default=None, allow_none=True)


class OccurrenceInput(Schema):
    """A change of one date of a series: what is left out stays, a text sent as null goes back
    to the series'. Times as the event's (dates for an all-day event); a new start without an
    end keeps the date's length."""

    starts_at = LocalDateOrTime()
    ends_at = LocalDateOrTime()
    title = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    location = _text(LOCATION_MAX, allow_none=True)
    online_url = _link()
