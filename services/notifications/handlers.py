"""Reactions of the notifications service to the events service's messages: its read model of
communities and members, so it knows whom to write to, where, and in which time zone, and the
deliveries the messages call for.

The handlers read only the fields they need and ignore the rest. Messages about a member carry
the community too, so a membership can be stored even if the community's own message is late.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.notifications.mail import SIGN_IN
from services.notifications.model import EMAIL, Community, Member, delivery_key
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


def mail_sign_in_link(uow: UnitOfWork, envelope: Envelope) -> None:
    """Queue the sign-in mail. Its key names the link, so a redelivery queues nothing new; the
    row keeps the link's id, never the link (the sender signs it when it composes the mail)."""
    payload = envelope.payload
    member = payload["member"]
    lifetime = datetime.fromisoformat(payload["expires_at"]) - envelope.occurred_at
    uow.queue_delivery(
        delivery_key(SIGN_IN, payload["link_id"], member["id"], EMAIL),
        channel=EMAIL,
        kind=SIGN_IN,
        recipient=member["email"],
        context={
            "name": member["name"],
            "email": member["email"],
            "link_id": payload["link_id"],
            "minutes": max(1, round(lifetime.total_seconds() / 60)),
        },
        now=datetime.now(UTC),
    )


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
    "events.sign_in_requested": mail_sign_in_link,
}
