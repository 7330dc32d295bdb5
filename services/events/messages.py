"""The messages the events service publishes: types, versions and payload schemas.

Every event message carries the event's whole new state and its `sequence`, so consumers keep
their own read models without ever calling back; a consumer applies a state only if its sequence
is higher than the one it holds.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, fields, validate

from services.events.model import (
    COMMUNITY_VISIBILITIES,
    EVENT_VISIBILITIES,
    GUEST_LIMIT_MAX,
    KINDS,
    ROLES,
    Community,
    Event,
    Member,
    Override,
)
from shared.envelope import Envelope, strict_envelope

PRODUCER = "events"


class CommunityState(Schema):
    id = fields.String(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(COMMUNITY_VISIBILITIES))
    url = fields.String(required=True)


class MemberState(Schema):
    id = fields.String(required=True)
    email = fields.Email(required=True)
    name = fields.String(required=True)
    phone = fields.String(required=True, allow_none=True)


class OverrideState(Schema):
    """One occurrence of a series changed on its own. Its times are always given (where it
    takes place now, which may be where the series puts it); a text is null when the series'
    applies. `sequence` is never below the event's."""

    original_start = fields.String(required=True)  # local wall time: the occurrence's id
    local_start = fields.String(required=True)
    local_end = fields.String(required=True)
    starts_at = fields.String(required=True)
    ends_at = fields.String(required=True)
    title = fields.String(required=True, allow_none=True)
    description = fields.String(required=True, allow_none=True)
    location = fields.String(required=True, allow_none=True)
    online_url = fields.String(required=True, allow_none=True)
    sequence = fields.Integer(required=True, validate=validate.Range(min=0))


class EventState(Schema):
    id = fields.String(required=True)
    community = fields.Nested(CommunityState, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    title = fields.String(required=True)
    description = fields.String(required=True)
    # The first occurrence as the organizer chose it (local wall time, zone) and as instants.
    local_start = fields.String(required=True)
    local_end = fields.String(required=True)
    timezone = fields.String(required=True)
    starts_at = fields.String(required=True)
    ends_at = fields.String(required=True)
    # Whole days: the times above are local midnights, the end the one after the last day.
    all_day = fields.Boolean(required=True)
    rrule = fields.String(required=True, allow_none=True)
    cancelled_occurrences = fields.List(fields.String(), required=True)
    overrides = fields.List(fields.Nested(OverrideState), required=True)
    # How far, in seconds of local wall time, the whole series has moved since it was first
    # scheduled. A date's key (its original start then), by which answers name it, is its
    # original start now minus this; moving the series changes no key.
    series_shift_seconds = fields.Integer(required=True)
    location = fields.String(required=True, allow_none=True)
    online_url = fields.String(required=True, allow_none=True)
    capacity = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=1))
    # Always a number: the default is the events service's rule, not something to re-derive.
    guest_limit = fields.Integer(required=True, validate=validate.Range(min=0, max=GUEST_LIMIT_MAX))
    rsvp_deadline = fields.String(required=True, allow_none=True)
    visibility = fields.String(required=True, validate=validate.OneOf(EVENT_VISIBILITIES))
    honoree_email = fields.String(required=True, allow_none=True)
    surprise = fields.Boolean(required=True)
    ce_hours = fields.Float(required=True, allow_none=True)
    presenter = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(("scheduled", "cancelled")))
    sequence = fields.Integer(required=True, validate=validate.Range(min=0))
    url = fields.String(required=True)
    updated_at = fields.String(required=True)


class CommunityCreated(Schema):
    community = fields.Nested(CommunityState, required=True)


class MemberAdded(Schema):
    community = fields.Nested(CommunityState, required=True)
    member = fields.Nested(MemberState, required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class MemberUpdated(Schema):
    member = fields.Nested(MemberState, required=True)


class EventChanged(Schema):
    event = fields.Nested(EventState, required=True)


class EventUpdated(EventChanged):
    changed = fields.List(fields.String(), required=True)


class OccurrenceCancelled(EventChanged):
    occurrence = fields.String(required=True)


class OccurrenceUpdated(EventChanged):
    """One date of a series moved or changed; `event.overrides` has its new state."""

    occurrence = fields.String(required=True)  # its original local start
    changed = fields.List(fields.String(), required=True)


class SignInRequested(Schema):
    """The link is sent as its id: the deliverer makes the URL with shared.links and the
    deployment's secret key, so the bus never carries a usable secret."""

    member = fields.Nested(MemberState, required=True)
    link_id = fields.String(required=True)
    expires_at = fields.String(required=True)


class ApiTokenIssued(Schema):
    """A personal API token, as its SHA-256 digest (shared.tokens.digest): enough for a service
    to recognise the token when it is presented, useless for presenting it."""

    member_id = fields.String(required=True)
    token_hash = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


# type -> (version, payload schema): the catalogue of what this service publishes.
CATALOGUE: dict[str, tuple[int, type[Schema]]] = {
    "events.community_created": (1, CommunityCreated),
    "events.member_added": (1, MemberAdded),
    "events.member_updated": (1, MemberUpdated),
    "events.event_scheduled": (1, EventChanged),
    "events.event_updated": (1, EventUpdated),
    "events.event_cancelled": (1, EventChanged),
    "events.occurrence_cancelled": (1, OccurrenceCancelled),
    "events.occurrence_updated": (1, OccurrenceUpdated),
    "events.sign_in_requested": (1, SignInRequested),
    "events.api_token_issued": (1, ApiTokenIssued),
}


def message(type: str, payload: dict[str, Any], correlation_id: str) -> Envelope:
    """A validated envelope for `type`; strict on the way out."""
    return strict_envelope(CATALOGUE, PRODUCER, type, payload, correlation_id)


def community_state(community: Community, base_url: str) -> dict[str, Any]:
    return {
        "id": community.id,
        "slug": community.slug,
        "name": community.name,
        "timezone": community.timezone,
        "visibility": community.visibility,
        "url": f"{base_url}/c/{community.slug}",
    }


def member_state(member: Member) -> dict[str, Any]:
    return {"id": member.id, "email": member.email, "name": member.name, "phone": member.phone}


def override_state(override: Override, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "original_start": override.original_start.isoformat(),
        "local_start": override.starts_at.isoformat(),
        "local_end": override.ends_at.isoformat(),
        "starts_at": override.starts_at.replace(tzinfo=tz).isoformat(),
        "ends_at": override.ends_at.replace(tzinfo=tz).isoformat(),
        **override.texts(),
        "sequence": override.sequence,
    }


def event_state(event: Event, community: Community, base_url: str) -> dict[str, Any]:
    tz = event.tz
    deadline = event.rsvp_deadline
    return {
        "id": event.id,
        "community": community_state(community, base_url),
        "kind": event.kind,
        "title": event.title,
        "description": event.description,
        "local_start": event.starts_at.isoformat(),
        "local_end": event.ends_at.isoformat(),
        "timezone": event.timezone,
        "starts_at": event.starts_at.replace(tzinfo=tz).isoformat(),
        "ends_at": event.ends_at.replace(tzinfo=tz).isoformat(),
        "all_day": event.all_day,
        "rrule": event.rrule,
        "cancelled_occurrences": sorted(start.isoformat() for start in event.cancelled_occurrences),
        "overrides": [
            override_state(override, tz) for _, override in sorted(event.overrides.items())
        ],
        "series_shift_seconds": int(event.shift.total_seconds()),
        "location": event.location,
        "online_url": event.online_url,
        "capacity": event.capacity,
        "guest_limit": event.guests_allowed,
        "rsvp_deadline": deadline.replace(tzinfo=tz).isoformat() if deadline else None,
        "visibility": event.visibility,
        "honoree_email": event.honoree_email,
        "surprise": event.surprise,
        "ce_hours": event.ce_hours,
        "presenter": event.presenter,
        "status": event.status,
        "sequence": event.sequence,
        "url": f"{base_url}/events/{event.id}",
        "updated_at": (event.updated_at.astimezone(UTC).isoformat() if event.updated_at else ""),
    }
