"""The notifications domain: the communities and members it writes to, as plain records."""

from __future__ import annotations

from dataclasses import dataclass


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
