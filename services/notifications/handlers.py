"""Reactions of the notifications service to the events and rsvps services' messages: its read
models of communities, members and events, so it knows whom to write to, where, in which time zone
and about what, and the deliveries the messages call for.

The handlers read only the fields they need and ignore the rest. Messages about a member carry
the community too, so a membership can be stored even if the community's own message is late.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.notifications.mail import GOING, PROMOTED, SIGN_IN, WAITLISTED
from services.notifications.model import (
    CONFIRMED,
    EMAIL,
    Attendee,
    Community,
    Event,
    Member,
    Occasion,
    Override,
    delivery_key,
)
from services.notifications.store import UnitOfWork
from shared.envelope import Envelope
from shared.runtime import MessageHandler

log = logging.getLogger(__name__)


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


def record_event(uow: UnitOfWork, envelope: Envelope) -> None:
    """Every event message carries the event's whole new state; keep it if it is newer, and
    move its answers' start times (and so their reminders) with it."""
    event = event_from_state(envelope.payload["event"])
    if not uow.record_event(event):
        log.info("kept a newer state of event %s than sequence %d", event.id, event.sequence)
        return
    uow.move_attendees(event)


def record_answer(uow: UnitOfWork, envelope: Envelope) -> Attendee | None:
    """Keep the RSVP's new state, for telling its person about changes and reminding them;
    None if a newer state of it is stored already (the message is late)."""
    rsvp = envelope.payload["rsvp"]
    occurrence = rsvp.get("occurrence")
    as_of = datetime.fromisoformat(rsvp["updated_at"]) if rsvp.get("updated_at") else None
    as_of = as_of or envelope.occurred_at
    before = uow.attendee(rsvp["id"])
    confirmed = rsvp["status"] == CONFIRMED
    attendee = Attendee(
        rsvp_id=rsvp["id"],
        event_id=rsvp["event_id"],
        occurrence=datetime.fromisoformat(occurrence) if occurrence else None,
        name=rsvp["name"],
        email=rsvp["email"],
        phone=rsvp.get("phone") or None,
        status=rsvp["status"],
        manage_url=rsvp["manage_url"],
        # When the seat was taken: a reminder due before that is news they have just had.
        confirmed_at=(
            (before.confirmed_at if before and before.confirmed_at else as_of)
            if confirmed
            else None
        ),
    )
    event = uow.event(attendee.event_id)
    starts_at = event.bounds(attendee.occurrence)[0] if event else None
    if not uow.record_attendee(attendee, starts_at, as_of):
        return None
    return attendee


def mail_about_rsvp(kind: str | None) -> MessageHandler:
    """Keep the RSVP's new state and queue the mail it calls for: `kind` is the letter (GOING,
    PROMOTED or WAITLISTED; None for answers that get no mail). Its key names the RSVP's state and
    the event's sequence, so a redelivered or republished message queues nothing new, while a
    later answer (cancel, then yes again) does."""

    def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        rsvp = envelope.payload["rsvp"]
        record_answer(uow, envelope)
        if kind is None:
            return
        event = uow.event(rsvp["event_id"])
        if event is None:
            # The event's own message is late (another publisher, another path): raising
            # sends this one back to be tried again, counted, rather than losing the mail.
            raise LookupError(f"event {rsvp['event_id']} is not known yet")
        if event.kept_from(rsvp["email"]):
            log.info("no mail about surprise %s to its honoree", event.id)
            return
        if event.status == "cancelled":
            return
        occurrence = rsvp.get("occurrence")
        occasion = event.occasion(datetime.fromisoformat(occurrence) if occurrence else None)
        version = f"{rsvp['status']}:{event.sequence}:{rsvp.get('updated_at') or ''}"
        uow.queue_delivery(
            delivery_key("rsvp", version, rsvp["id"], EMAIL),
            channel=EMAIL,
            kind=kind,
            recipient=rsvp["email"],
            context={
                "name": rsvp["name"],
                "email": rsvp["email"],
                "manage_url": rsvp["manage_url"],
                "waitlist_position": rsvp.get("waitlist_position"),
                # What the event was when the RSVP changed: the mail tells that, however late
                # it goes out (a later change of the event is a mail of its own).
                "event": snapshot(event, occasion),
            },
            now=datetime.now(UTC),
        )

    return handle


def snapshot(event: Event, occasion: Occasion) -> dict[str, Any]:
    """What a delivery keeps of the event (or the date of it) it is about, to compose its message
    from however late it goes out."""
    return {
        "id": event.id,
        "community_name": event.community_name,
        "url": event.url,
        "timezone": event.timezone,
        "all_day": event.all_day,
        "discreet": event.discreet,
        "uid": occasion.uid,
        "sequence": occasion.sequence,
        "title": occasion.title,
        "description": occasion.description,
        "location": occasion.location,
        "online_url": occasion.online_url,
        "local_start": occasion.local_start.isoformat(),
        "local_end": occasion.local_end.isoformat(),
    }


def event_from_state(state: Mapping[str, Any]) -> Event:
    """The notifications view of an `event` payload (docs/messages.md)."""
    return Event(
        id=state["id"],
        community_id=state["community"]["id"],
        community_name=state["community"]["name"],
        kind=state["kind"],
        title=state["title"],
        description=state.get("description") or "",
        visibility=state["visibility"],
        timezone=state["timezone"],
        local_start=datetime.fromisoformat(state["local_start"]),
        local_end=datetime.fromisoformat(state["local_end"]),
        all_day=bool(state.get("all_day")),
        rrule=state.get("rrule") or None,
        location=state.get("location") or None,
        online_url=state.get("online_url") or None,
        url=state["url"],
        status=state["status"],
        sequence=int(state["sequence"]),
        surprise_honoree=state.get("honoree_email") if state.get("surprise") else None,
        cancelled_occurrences=tuple(
            datetime.fromisoformat(moment) for moment in state.get("cancelled_occurrences") or ()
        ),
        overrides=tuple(
            Override(
                original_start=datetime.fromisoformat(o["original_start"]),
                local_start=datetime.fromisoformat(o["local_start"]),
                local_end=datetime.fromisoformat(o["local_end"]),
                title=o.get("title"),
                description=o.get("description"),
                location=o.get("location"),
                online_url=o.get("online_url"),
                sequence=int(o.get("sequence") or 0),
            )
            for o in state.get("overrides") or ()
        ),
    )


def community_from_state(state: Mapping[str, Any]) -> Community:
    return Community(
        id=state["id"], slug=state["slug"], name=state["name"], timezone=state["timezone"]
    )


def member_from_state(state: Mapping[str, Any]) -> Member:
    return Member(
        id=state["id"], email=state["email"], name=state["name"], phone=state.get("phone") or None
    )


EVENT_MESSAGES = (
    "events.event_scheduled",
    "events.event_updated",
    "events.event_cancelled",
    "events.occurrence_cancelled",
    "events.occurrence_updated",
)

HANDLERS: dict[str, MessageHandler] = {
    "events.community_created": record_community,
    "events.member_added": record_member,
    "events.member_updated": record_contact_details,
    "events.sign_in_requested": mail_sign_in_link,
    **dict.fromkeys(EVENT_MESSAGES, record_event),
    "rsvps.rsvp_confirmed": mail_about_rsvp(GOING),
    "rsvps.rsvp_promoted": mail_about_rsvp(PROMOTED),
    "rsvps.rsvp_waitlisted": mail_about_rsvp(WAITLISTED),
    "rsvps.rsvp_declined": mail_about_rsvp(None),
    "rsvps.rsvp_marked_maybe": mail_about_rsvp(None),
    "rsvps.rsvp_cancelled": mail_about_rsvp(None),
}
