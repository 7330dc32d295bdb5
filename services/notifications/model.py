"""The notifications domain: the communities and members it writes to, and the deliveries it
makes to them with their retry rule, as plain records and functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Community:
    id: str
    slug: str
    name: str
    timezone: str  # IANA zone: the default for times in this community's messages


@dataclass(frozen=True)
class Member:
    """How to reach a person: their address and, if they gave one, an E.164 phone number."""

    id: str
    email: str
    name: str
    phone: str | None = None


# --- Deliveries: one message to one person on one channel, and what became of it ---------------

QUEUED, SENT, RETRYING, FAILED = "queued", "sent", "retrying", "failed"
EMAIL = "email"

# How long to wait after each temporary failure; after the last one the delivery has failed.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
)


def delivery_key(what: str, version: str, who: str, channel: str) -> str:
    """The identity of a delivery: the same fact, told to the same person on the same channel,
    is one delivery however often the message about it arrives."""
    return f"{what}:{version}:{who}:{channel}"


@dataclass(frozen=True)
class Delivery:
    """A message waiting to go out: its kind and context are enough to compose it."""

    id: int
    key: str
    channel: str
    kind: str
    recipient: str
    context: Mapping[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Outcome:
    """What an attempt changed: the delivery's next state, when to try again, and why."""

    state: str
    due_at: datetime | None = None
    error: str | None = None


class TryLater(Exception):
    """The receiving end answered "not now" (an SMTP 4xx): try again after a while."""


class Undeliverable(Exception):
    """The receiving end refused for good (an SMTP 5xx, a refused recipient): do not retry."""


def outcome(attempts: int, now: datetime, error: Exception | None) -> Outcome:
    """The state after attempt number `attempts` (counting from 1) ended with `error`, if any."""
    if error is None:
        return Outcome(SENT)
    if isinstance(error, TryLater) and attempts <= len(RETRY_DELAYS):
        return Outcome(RETRYING, now + RETRY_DELAYS[attempts - 1], str(error))
    return Outcome(FAILED, None, str(error))
