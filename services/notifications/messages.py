"""The messages the notifications service publishes: that someone stopped wanting a kind of
message, so any service that writes to people on its own can honour it too."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields, validate

from services.notifications.model import CATEGORIES, CHANNELS
from shared.envelope import Envelope, strict_envelope

PRODUCER = "notifications"
UNSUBSCRIBED = "notifications.unsubscribed"


class Unsubscribed(Schema):
    """A person no longer wants `category` on `channel`: from a one-click unsubscribe, the
    unsubscribe page or a box unticked on the preferences page. When it happened is the
    envelope's `occurred_at`."""

    address = fields.Email(required=True)  # casefolded: the key preferences are kept under
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))


# type -> (version, payload schema): the catalogue of what this service publishes.
CATALOGUE: dict[str, tuple[int, type[Schema]]] = {
    UNSUBSCRIBED: (1, Unsubscribed),
}


def message(
    type: str, payload: dict[str, Any], correlation_id: str, occurred_at: datetime
) -> Envelope:
    """A validated envelope for `type`, dated when the change was made; strict on the way out."""
    envelope = strict_envelope(CATALOGUE, PRODUCER, type, payload, correlation_id)
    return dataclasses.replace(envelope, occurred_at=occurred_at)


def unsubscribed(
    address: str, channel: str, category: str, correlation_id: str, occurred_at: datetime
) -> Envelope:
    payload = {"address": address.casefold(), "channel": channel, "category": category}
    return message(UNSUBSCRIBED, payload, correlation_id, occurred_at)
