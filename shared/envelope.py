"""The JSON envelope every message on the bus travels in (see the contract's Messages section)."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema

TYPE_PATTERN = re.compile(r"^[a-z]+\.[a-z][a-z_]*$")


# What one service publishes: message type -> (version, payload schema).
Catalogue = Mapping[str, tuple[int, type[Schema]]]


class InvalidMessage(RuntimeError):
    """A message a service built does not match its own schema: a bug, never sent."""


def strict_envelope(
    catalogue: Catalogue, producer: str, type: str, payload: dict[str, Any], correlation_id: str
) -> Envelope:
    """A validated envelope for `type` from `producer`'s catalogue: strict on the way out."""
    version, schema = catalogue[type]
    errors = _validator(schema).validate(payload)
    if errors:
        raise InvalidMessage(f"{type} payload does not match its schema: {errors}")
    return Envelope(
        type=type,
        version=version,
        payload=payload,
        producer=producer,
        correlation_id=correlation_id,
    )


@functools.cache
def _validator(schema: type[Schema]) -> Schema:
    """One instance per payload schema: building one (with its nested schemas) costs more than
    validating a payload with it, and validating keeps no state between calls."""
    return schema()


class MalformedMessage(ValueError):
    """The body is not a Hearth envelope; retrying it can never help."""


@dataclass(frozen=True)
class Envelope:
    type: str
    payload: dict[str, Any]
    producer: str
    version: int = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if not TYPE_PATTERN.match(self.type) or not self.type.startswith(f"{self.producer}."):
            raise ValueError(f"message type {self.type!r} must be '{self.producer}.<past_fact>'")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "producer": self.producer,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, body: str | bytes) -> Envelope:
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MalformedMessage(f"body is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise MalformedMessage("body is not a JSON object")
        try:
            return cls(
                id=str(uuid.UUID(str(data["id"]))),
                type=_str(data, "type"),
                version=_int(data, "version"),
                occurred_at=datetime.fromisoformat(_str(data, "occurred_at")),
                producer=_str(data, "producer"),
                correlation_id=_str(data, "correlation_id"),
                payload=_object(data, "payload"),
            )
        except KeyError as missing:
            raise MalformedMessage(f"envelope has no {missing}") from None
        except ValueError as error:
            raise MalformedMessage(f"envelope is invalid: {error}") from None


def _str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be a positive integer")
    return value


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data[key]
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a JSON object")
    return value
