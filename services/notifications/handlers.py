"""Reactions of the notifications service to the events and rsvps services' messages: its read
models of communities, members and events, so it knows whom to write to, where, in which time zone
and about what, and the deliveries the messages call for.

The handlers read only the fields they need and ignore the rest. Messages about a member carry
the community too, so a membership can be stored even if the community's own message is late.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from services.notifications import mail as letters
from services.notifications import store as stored
from services.notifications.model import (
    ANNOUNCEMENTS,
    CONFIRMED,
    EMAIL,
    SMS,
    TEXT_CANCELLED,
    TEXT_PROMOTED,
    TEXT_UPDATED,
    UPDATES,
    WAITLISTED,
    Attendee,
    Community,
    Event,
    Member,
    NewDelivery,
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
        NewDelivery(
            delivery_key(letters.SIGN_IN, payload["link_id"], member["id"], EMAIL),
            channel=EMAIL,
            kind=letters.SIGN_IN,
            recipient=member["email"],
            context={
                "name": member["name"],
                "email": member["email"],
                "link_id": payload["link_id"],
                "minutes": max(1, round(lifetime.total_seconds() / 60)),
            },
        ),
        datetime.now(UTC),
    )


def record_event(uow: UnitOfWork, envelope: Envelope) -> Event | None:
    """Every event message carries the event's whole new state; keep it if it is newer, and
    move its answers' start times (and so their reminders) with it. None if it was not newer."""
    event = event_from_state(envelope.payload["event"])
    if not uow.record_event(event):
        log.info("kept a newer state of event %s than sequence %d", event.id, event.sequence)
        return None
    uow.move_attendees(event)
    return event


def announce_event(uow: UnitOfWork, envelope: Envelope) -> None:
    """A new event: tell the community's members who want announcements by email, with links
    to answer. A surprise's honoree hears nothing."""
    event = record_event(uow, envelope)
    if event is None or event.status == "cancelled":
        return
    now = datetime.now(UTC)
    _, ends_at = event.bounds(None)
    members = [member for member, _role in uow.members_of(event.community_id)]
    choices = uow.choices_of([member.email for member in members], EMAIL)
    about = snapshot(event, event.occasion(None))
    uow.queue_deliveries(
        [
            NewDelivery(
                delivery_key("announce", event.id, member.id, EMAIL),
                channel=EMAIL,
                kind=letters.ANNOUNCED,
                recipient=member.email,
                address=member.email,
                category=ANNOUNCEMENTS,
                # Once the first date is over it is stale: the event page says the rest.
                expires_at=ends_at,
                context={
                    "name": member.name,
                    "email": member.email,
                    "event": about,
                    "repeats": event.rrule is not None,
                },
            )
            for member in members
            if not event.kept_from(member.email) and choices.wants(member.email, ANNOUNCEMENTS)
        ],
        now,
    )


def tell_about_change(uow: UnitOfWork, envelope: Envelope) -> None:
    """The time or place of an event (or of one date of a series) changed: tell everyone going,
    once each, with their invitation updated (same UID, higher SEQUENCE), and by text too when
    it starts within a day. Dates a changed rule left out are cancellations for those going.
    Changes nobody needs to act on (a description, a capacity) are left to the calendar feeds."""
    event = record_event(uow, envelope)
    changed = sorted(set(envelope.payload.get("changed") or ()) & NOTICEABLE)
    if event is None or not changed or event.status == "cancelled":
        return
    going = [
        answer
        for answer in _answers(uow, event, envelope, (CONFIRMED,))
        if answer.occurrence not in event.cancelled_occurrences  # told when it was cancelled
    ]
    # A series moved as a whole keeps its dates' keys: only dates a new rule leaves out go.
    dropped = [a for a in going if not event.is_date(a.occurrence)]
    kept = [a for a in going if a not in dropped]
    _tell(uow, event, kept, letters.UPDATED, TEXT_UPDATED, {"changed": changed})
    _tell(uow, event, dropped, letters.CANCELLED, TEXT_CANCELLED, {})


def tell_about_cancellation(uow: UnitOfWork, envelope: Envelope) -> None:
    """The event, or one date of a series, is cancelled: tell everyone going or waiting, once
    each; those going get an iMIP CANCEL that removes it from their calendar. Dates cancelled
    before were told then."""
    event = record_event(uow, envelope)
    if event is None:
        return
    affected = _answers(uow, event, envelope, (CONFIRMED, WAITLISTED))
    if envelope.payload.get("occurrence") is None:
        affected = [a for a in affected if a.occurrence not in event.cancelled_occurrences]
    _tell(uow, event, affected, letters.CANCELLED, TEXT_CANCELLED, {})


def _answers(
    uow: UnitOfWork, event: Event, envelope: Envelope, statuses: tuple[str, ...]
) -> list[Attendee]:
    """The answers a message about `event` concerns: of its one date if it names one (by its
    original start now), else all."""
    occurrence = envelope.payload.get("occurrence")
    key = event.key_of(datetime.fromisoformat(occurrence)) if occurrence else None
    return uow.attendees_of(event.id, statuses, key)


def _tell(
    uow: UnitOfWork,
    event: Event,
    attendees: list[Attendee],
    kind: str,
    text_kind: str,
    extra: dict[str, Any],
) -> None:
    """One mail per person about `event`'s latest change (`kind`), covering each of their dates
    still ahead, and a text about the first of them if it begins within a day."""
    now = datetime.now(UTC)
    told: list[NewDelivery] = []
    snapshots: dict[datetime | None, dict[str, Any]] = {}

    def snapshot_of(occurrence: datetime | None) -> dict[str, Any]:
        if occurrence not in snapshots:
            snapshots[occurrence] = snapshot(event, event.occasion(occurrence))
        return snapshots[occurrence]

    for email, theirs in _by_person(attendees).items():
        if event.kept_from(email):
            continue
        ahead = [(a, *event.bounds(a.occurrence)) for a in theirs]
        ahead = [(a, start, end) for a, start, end in ahead if end > now]
        if not ahead:
            continue
        ahead.sort(key=lambda item: item[1])
        first, first_start, first_end = ahead[0]
        who = _person_key(email)
        version = f"{event.id}:{event.sequence}"
        told.append(
            NewDelivery(
                delivery_key(kind, version, who, EMAIL),
                channel=EMAIL,
                kind=kind,
                recipient=first.email,
                address=first.email,
                category=UPDATES,
                expires_at=max(end for _, _, end in ahead),
                context={
                    "name": first.name,
                    "email": first.email,
                    "manage_url": first.manage_url,
                    # The dates they hold a seat for get the calendar part; those they wait for
                    # are only told.
                    "dates": [
                        {**snapshot_of(a.occurrence), "going": a.status == CONFIRMED}
                        for a, _, _ in ahead
                    ],
                    **extra,
                },
            )
        )
        phone = next((a.phone for a, _, _ in ahead if a.phone), None)
        if phone and first_start - now <= TEXT_WITHIN and stored.may_text(uow, phone):
            told.append(
                NewDelivery(
                    delivery_key(text_kind, version, who, SMS),
                    channel=SMS,
                    kind=text_kind,
                    recipient=phone,
                    address=first.email,
                    category=UPDATES,
                    expires_at=first_end,
                    context={
                        "name": first.name,
                        "event": snapshot_of(first.occurrence),
                        "timezone": event.timezone,
                        **extra,
                    },
                )
            )
    uow.queue_deliveries(told, now)


def _by_person(attendees: list[Attendee]) -> dict[str, list[Attendee]]:
    """Answers grouped by the address they were made with (without case): one person, one mail."""
    people: dict[str, list[Attendee]] = {}
    for attendee in attendees:
        people.setdefault(attendee.email.strip().casefold(), []).append(attendee)
    return people


def _person_key(email: str) -> str:
    """A short, stable stand-in for an address in delivery keys (addresses may be 320 long)."""
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:24]


def record_answer(uow: UnitOfWork, envelope: Envelope) -> None:
    """Keep the RSVP's new state, for telling its person about changes and reminding them,
    unless a newer state of it is stored already (the message is late)."""
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
    uow.record_attendee(attendee, starts_at, as_of)


def _event_to_tell(uow: UnitOfWork, rsvp: Mapping[str, Any]) -> Event | None:
    """The event an RSVP is for, if its person may hear about it (a surprise's honoree may not)."""
    event = uow.event(rsvp["event_id"])
    if event is None:
        # The event's own message is late (another publisher, another path): raising sends
        # this one back to be tried again, counted, rather than losing the mail.
        raise LookupError(f"event {rsvp['event_id']} is not known yet")
    if event.kept_from(rsvp["email"]):
        log.info("no mail about surprise %s to its honoree", event.id)
        return None
    return event


def tell_about_series_answer(
    uow: UnitOfWork, rsvp: Mapping[str, Any], series: Mapping[str, Any]
) -> None:
    """One date of an "all upcoming" answer (messages.SeriesAnswer of the rsvps service): kept
    until the last of its dates is in, then one mail tells its person about every date they are
    going to (with one invitation for all of them) or waiting for, instead of a mail a date."""
    dates = uow.keep_series_answer(series["id"], rsvp)
    if len(dates) < series["dates"]:
        return
    event = _event_to_tell(uow, rsvp)
    if event is None:
        return
    told = [d for d in dates if d.status in (CONFIRMED, WAITLISTED) and event.is_on(d.occurrence)]
    if not told:
        return  # "no" or "maybe" to every date: nothing to confirm
    uow.queue_delivery(
        NewDelivery(
            delivery_key("rsvp-series", series["id"], _person_key(rsvp["email"]), EMAIL),
            channel=EMAIL,
            kind=letters.SERIES_ANSWERED,
            recipient=rsvp["email"],
            context={
                "name": rsvp["name"],
                "email": rsvp["email"],
                "dates": [
                    {
                        **snapshot(event, event.occasion(date.occurrence)),
                        "going": date.status == CONFIRMED,
                        "waitlist_position": date.waitlist_position,
                        "manage_url": date.manage_url,
                    }
                    for date in told
                ],
            },
        ),
        datetime.now(UTC),
    )


def mail_about_rsvp(kind: str | None) -> MessageHandler:
    """Keep the RSVP's new state and queue the mail it calls for: `kind` is the letter (GOING,
    PROMOTED or WAITLISTED of mail.py; None for answers that get no mail), and a promotion is
    texted too. Its key names the RSVP's state and the event's sequence, so a redelivered or
    republished message queues nothing new, while a later answer (cancel, then yes again) does.
    The dates of an "all upcoming" answer are told together (tell_about_series_answer)."""

    def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        rsvp = envelope.payload["rsvp"]
        record_answer(uow, envelope)
        series = envelope.payload.get("series_answer")
        if series is not None:
            tell_about_series_answer(uow, rsvp, series)
            return
        if kind is None:
            return
        event = _event_to_tell(uow, rsvp)
        if event is None:
            return
        occurrence = rsvp.get("occurrence")
        when = datetime.fromisoformat(occurrence) if occurrence else None
        if not event.is_on(when):
            return
        occasion = event.occasion(when)
        version = f"{rsvp['status']}:{event.sequence}:{rsvp.get('updated_at') or ''}"
        now = datetime.now(UTC)
        if kind == letters.PROMOTED and rsvp.get("phone") and stored.may_text(uow, rsvp["phone"]):
            _, end = event.bounds(when)
            if end > now:
                uow.queue_delivery(
                    NewDelivery(
                        delivery_key("rsvp", version, rsvp["id"], SMS),
                        channel=SMS,
                        kind=TEXT_PROMOTED,
                        recipient=rsvp["phone"],
                        address=rsvp["email"],
                        category=UPDATES,
                        expires_at=end,
                        context={
                            "name": rsvp["name"],
                            "event": snapshot(event, occasion),
                            "timezone": event.timezone,
                            "manage_url": rsvp["manage_url"],
                        },
                    ),
                    now,
                )
        uow.queue_delivery(
            NewDelivery(
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
            ),
            now,
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
    """The notifications view of an `event` payload (docs/messages.md). The payload names dates
    by their original starts now; the view by their keys, as answers do."""
    shift = timedelta(seconds=state.get("series_shift_seconds") or 0)
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
            datetime.fromisoformat(moment) - shift
            for moment in state.get("cancelled_occurrences") or ()
        ),
        overrides=tuple(
            Override(
                key=datetime.fromisoformat(o["original_start"]) - shift,
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
        shift=shift,
    )


def community_from_state(state: Mapping[str, Any]) -> Community:
    return Community(
        id=state["id"], slug=state["slug"], name=state["name"], timezone=state["timezone"]
    )


def member_from_state(state: Mapping[str, Any]) -> Member:
    return Member(
        id=state["id"], email=state["email"], name=state["name"], phone=state.get("phone") or None
    )


# What in an event's change its attendees need to hear of: when and where it is.
NOTICEABLE = frozenset(
    {"starts_at", "ends_at", "timezone", "all_day", "rrule", "location", "online_url"}
)
# A change this close to the start is texted too: mail may not be read in time.
TEXT_WITHIN = timedelta(hours=24)

HANDLERS: dict[str, MessageHandler] = {
    "events.community_created": record_community,
    "events.member_added": record_member,
    "events.member_updated": record_contact_details,
    "events.sign_in_requested": mail_sign_in_link,
    "events.event_scheduled": announce_event,
    "events.event_updated": tell_about_change,
    "events.occurrence_updated": tell_about_change,
    "events.event_cancelled": tell_about_cancellation,
    "events.occurrence_cancelled": tell_about_cancellation,
    "rsvps.rsvp_confirmed": mail_about_rsvp(letters.GOING),
    "rsvps.rsvp_promoted": mail_about_rsvp(letters.PROMOTED),
    "rsvps.rsvp_waitlisted": mail_about_rsvp(letters.WAITLISTED),
    "rsvps.rsvp_declined": mail_about_rsvp(None),
    "rsvps.rsvp_marked_maybe": mail_about_rsvp(None),
    "rsvps.rsvp_cancelled": mail_about_rsvp(None),
}
