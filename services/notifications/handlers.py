"""Reactions of the notifications service to the events service's messages: its read model of
communities and members, so it knows whom to write to, where, and in which time zone.

The handlers read only the fields they need and ignore the rest. Messages about a member carry
the community too, so a membership can be stored even if the community's own message is late.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.notifications.model import Community, Member
from services.notifications.store import UnitOfWork
from shared.envelope import Envelope


def record_community(uow: UnitOfWork, envelope: Envelope) -> None:
    uow.record_community(community_from_state(envelope.payload["community"]), envelope.occurred_at)


def record_member(uow: UnitOfWork, envelope: Envelope) -> None:
    """A member joined a community or changed role there; their contact details may be new."""
    payload = envelope.payload
    community = community_from_state(payload["community"])
    member = member_from_state(payload["member"])
    uow.record_community(community, envelope.occurred_at)
    uow.record_member(member, envelope.occurred_at)
    uow.record_membership(community.id, member.id, payload["role"], envelope.occurred_at)


def record_contact_details(uow: UnitOfWork, envelope: Envelope) -> None:
    """A member's name or phone changed, in every community they belong to."""
    uow.record_member(member_from_state(envelope.payload["member"]), envelope.occurred_at)


def community_from_state(state: Mapping[str, Any]) -> Community:
    return Community(
        id=state["id"], slug=state["slug"], name=state["name"], timezone=state["timezone"]
    )


def member_from_state(state: Mapping[str, Any]) -> Member:
    return Member(
        id=state["id"], email=state["email"], name=state["name"], phone=state.get("phone") or None
    )


HANDLERS = {
    "events.community_created": record_community,
    "events.member_added": record_member,
    "events.member_updated": record_contact_details,
}
