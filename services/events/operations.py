"""Use cases of the events service, shared by the JSON API, the forms and the CLI.

Each runs inside a unit of work; the messages it causes go into the outbox in the same
transaction, so they leave only if the change committed.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.events import messages
from services.events.model import (
    CANCELLED,
    COMMUNITY_VISIBILITIES,
    OVERRIDE_TEXTS,
    ROLES,
    Community,
    Event,
    Invalid,
    Member,
    Occurrence,
    build_event,
    build_override,
    can_manage,
    check_slug,
    revised_event,
    slugify,
    zone,
)
from services.events.store import UnitOfWork
from shared.tokens import digest, new_token

SIGN_IN_LINK_LIFETIME = timedelta(minutes=15)
LIVE_SIGN_IN_LINKS_MAX = 3


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class Conflict(RuntimeError):
    """The request clashes with the current state; the message says how."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Context:
    """Who acts, and what ties their request to the messages it causes."""

    member_id: str | None
    correlation_id: str
    base_url: str


def community_for(uow: UnitOfWork, slug: str, ctx: Context) -> tuple[Community, str | None]:
    """The community and the caller's role in it; NotFound hides private communities from
    outsiders rather than confirming they exist."""
    community = uow.community_by_slug(slug)
    if community is None:
        raise NotFound(f"there is no community called {slug!r}")
    role = uow.role_of(community.id, ctx.member_id)
    if role is None and community.visibility != "public":
        raise NotFound(f"there is no community called {slug!r}")
    return community, role


def event_for(
    uow: UnitOfWork, ctx: Context, event_id: str, *, for_update: bool = False
) -> tuple[Event, Community, str | None]:
    """The event, its community and the caller's role there; NotFound unless the caller may see
    it. `for_update` locks the row, for changes that rewrite it from what was read."""
    event = uow.event(event_id, for_update=for_update)
    if event is None:
        raise NotFound("there is no such event")
    community = uow.community_by_id(event.community_id)
    assert community is not None
    role = uow.role_of(community.id, ctx.member_id)
    if not event.visible_to(role, community, email_of(uow, ctx)):
        raise NotFound("there is no such event")
    return event, community, role


def email_of(uow: UnitOfWork, ctx: Context) -> str | None:
    member = uow.member_by_id(ctx.member_id) if ctx.member_id else None
    return member.email if member else None


def require_organizer(uow: UnitOfWork, community: Community, ctx: Context) -> None:
    if ctx.member_id is None:
        raise Forbidden("sign in first")
    if not can_manage(uow.role_of(community.id, ctx.member_id)):
        raise Forbidden(f"only the organizers of {community.name} can do this")


def create_community(uow: UnitOfWork, ctx: Context, values: dict[str, Any]) -> Community:
    if ctx.member_id is None:
        raise Forbidden("sign in first")
    errors: dict[str, str] = {}
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = "give the community a name"
    elif len(name) > 200:
        errors["name"] = "keep the name to 200 characters"
    timezone = values.get("timezone") or ""
    try:
        zone(timezone)
    except ValueError as error:
        errors["timezone"] = str(error)
    visibility = values.get("visibility") or "private"
    if visibility not in COMMUNITY_VISIBILITIES:
        errors["visibility"] = f"choose one of: {', '.join(COMMUNITY_VISIBILITIES)}"
    description = (values.get("description") or "").strip()
    if len(description) > 10_000:
        errors["description"] = "keep the description to 10,000 characters"
    slug = values.get("slug")
    if slug:
        try:
            check_slug(slug)
        except ValueError as error:
            errors["slug"] = str(error)
    if errors:
        raise Invalid(errors)
    if slug:
        if uow.slug_taken(slug):
            raise Conflict(f"the address {slug!r} is taken; choose another", field="slug")
    else:
        slug = _free_slug(uow, slugify(name))
    community = Community(
        id=str(uuid.uuid4()),
        slug=slug,
        name=name,
        timezone=timezone,
        description=description,
        visibility=visibility,
        feed_token=secrets.token_urlsafe(24),
        created_at=datetime.now(UTC),
    )
    uow.add_community(community)
    uow.set_role(community.id, ctx.member_id, "organizer")
    state = messages.community_state(community, ctx.base_url)
    uow.publish(
        messages.message("events.community_created", {"community": state}, ctx.correlation_id)
    )
    creator = uow.member_by_id(ctx.member_id)
    assert creator is not None
    _announce_member(uow, ctx, community, creator, "organizer")
    return community


def _today() -> date:
    return datetime.now(UTC).date()


def _free_slug(uow: UnitOfWork, base: str) -> str:
    slug, n = base, 1
    while uow.slug_taken(slug):
        n += 1
        slug = f"{base[:55]}-{n}"
    return slug


def add_member(
    uow: UnitOfWork, ctx: Context, community: Community, values: dict[str, Any]
) -> tuple[Member, str, bool]:
    """Invite a person (by email) into a community, or change their role; True if new there."""
    require_organizer(uow, community, ctx)
    role = values.get("role") or "member"
    if role not in ROLES:
        raise Invalid({"role": f"choose one of: {', '.join(ROLES)}"})
    member = uow.member_by_email(values["email"])
    if member is None:
        member = Member(
            id=str(uuid.uuid4()),
            email=values["email"].lower(),
            name=values["name"],
            phone=values.get("phone"),
        )
        uow.add_member(member)
    elif values.get("phone") and values["phone"] != member.phone:
        member.phone = values["phone"]
        uow.update_member(member)
        payload = {"member": messages.member_state(member)}
        uow.publish(messages.message("events.member_updated", payload, ctx.correlation_id))
    previous = uow.role_of(community.id, member.id)
    if previous == role:
        return member, role, False
    uow.set_role(community.id, member.id, role)
    _announce_member(uow, ctx, community, member, role)
    return member, role, previous is None


def _announce_member(
    uow: UnitOfWork, ctx: Context, community: Community, member: Member, role: str
) -> None:
    payload = {
        "community": messages.community_state(community, ctx.base_url),
        "member": messages.member_state(member),
        "role": role,
    }
    uow.publish(messages.message("events.member_added", payload, ctx.correlation_id))


def schedule_event(
    uow: UnitOfWork, ctx: Context, community: Community, values: dict[str, Any]
) -> Event:
    require_organizer(uow, community, ctx)
    blank = Event(
        id=str(uuid.uuid4()),
        community_id=community.id,
        kind=values.get("kind", ""),
        title="",
        starts_at=values.get("starts_at") or datetime.min,
        ends_at=values.get("ends_at") or datetime.min,
        timezone=values.get("timezone") or community.timezone,
    )
    event = build_event(blank, values, community.timezone, today=_today())
    uow.add_event(event, created_by=ctx.member_id)
    _publish_event(uow, ctx, community, event, "events.event_scheduled")
    return event


def update_event(
    uow: UnitOfWork, ctx: Context, event: Event, changes: dict[str, Any]
) -> tuple[Event, list[str]]:
    community = uow.community_by_id(event.community_id)
    assert community is not None
    require_organizer(uow, community, ctx)
    if event.status == CANCELLED:
        raise Conflict("this event is cancelled and can no longer be changed")
    updated = revised_event(event, build_event(event, changes, community.timezone, today=_today()))
    changed = [name for name in changes if getattr(updated, name) != getattr(event, name)]
    if updated.guests_allowed != event.guests_allowed and "guest_limit" not in changed:
        # A default limit follows the kind and capacity: attendees see it change with them.
        changed.append("guest_limit")
    for name in ("starts_at", "ends_at"):
        if name not in changed and getattr(updated, name) != getattr(event, name):
            # Turning an event all-day (or back) moves its times to whole days.
            changed.append(name)
    if not changed:
        return event, []
    _raise_sequence(updated)
    uow.save_event(updated)
    if updated.cancelled_occurrences != event.cancelled_occurrences:
        uow.set_cancelled_occurrences(updated.id, updated.cancelled_occurrences)
    if updated.overrides or event.overrides:
        uow.set_overrides(updated.id, updated.overrides)
    _publish_event(uow, ctx, community, updated, "events.event_updated", changed=changed)
    return updated, changed


def _raise_sequence(event: Event) -> None:
    """Raise the event's sequence, and its overrides' with it: a calendar must never take a
    changed occurrence for older than its series. Save the overrides too if it has any."""
    event.sequence += 1
    event.overrides = {
        start: replace(override, sequence=event.sequence)
        for start, override in event.overrides.items()
    }


def update_occurrence(
    uow: UnitOfWork, ctx: Context, event: Event, original_start: datetime, changes: dict[str, Any]
) -> tuple[Occurrence, list[str]]:
    """Move or change one occurrence of a series, named by its original local start; the
    occurrence after the change, and the names of what changed (none: nothing to tell anyone).

    The change is kept as an override of that date, and raises the event's sequence, since
    attendees should notice it as they notice a change of the series.
    """
    community = uow.community_by_id(event.community_id)
    assert community is not None
    require_organizer(uow, community, ctx)
    if event.rrule is None:
        raise NotFound("this event does not repeat: change it with PATCH /api/events/<id>")
    if not event.is_occurrence(original_start):
        raise NotFound(f"{original_start:%Y-%m-%dT%H:%M} is not a date of this series")
    if event.status == CANCELLED:
        raise Conflict("this series is cancelled, so its dates can no longer be changed")
    if original_start in event.cancelled_occurrences:
        raise Conflict("this date is cancelled, so it can no longer be changed")
    before = event.occurrence(original_start)
    override = build_override(event, original_start, changes, today=_today())
    if override == event.overrides.get(original_start):
        return before, []
    overrides = dict(event.overrides)
    if override is None:
        del overrides[original_start]
    else:
        overrides[original_start] = replace(override, updated_at=datetime.now(UTC))
    event.overrides = overrides
    _raise_sequence(event)
    uow.save_event(event)
    uow.set_overrides(event.id, event.overrides)
    after = event.occurrence(original_start)
    changed = [
        name
        for name, was, now in (
            ("starts_at", before.starts_at, after.starts_at),
            ("ends_at", before.ends_at, after.ends_at),
            *(
                (name, event.occurrence_text(before, name), event.occurrence_text(after, name))
                for name in OVERRIDE_TEXTS
            ),
        )
        if was != now
    ]
    _publish_event(
        uow,
        ctx,
        community,
        event,
        "events.occurrence_updated",
        occurrence=original_start.isoformat(),
        changed=changed,
    )
    return after, changed


def cancel_event(uow: UnitOfWork, ctx: Context, event: Event, occurrence: datetime | None) -> Event:
    """Cancel the whole event or series, or one occurrence of a series; cancelling twice is a
    no-op, so a retried request tells nobody twice."""
    community = uow.community_by_id(event.community_id)
    assert community is not None
    require_organizer(uow, community, ctx)
    if occurrence is None:
        if event.status == CANCELLED:
            return event
        event.status = CANCELLED
        _raise_sequence(event)
        uow.save_event(event)
        if event.overrides:
            uow.set_overrides(event.id, event.overrides)
        _publish_event(uow, ctx, community, event, "events.event_cancelled")
        return event
    if event.rrule is None:
        raise Invalid({"occurrence": "this event does not repeat: cancel it without occurrence"})
    if not event.is_occurrence(occurrence):
        raise Invalid(
            {"occurrence": f"{occurrence:%Y-%m-%dT%H:%M} is not an occurrence of this series"}
        )
    if event.status == CANCELLED or occurrence in event.cancelled_occurrences:
        return event
    uow.cancel_occurrence(event.id, occurrence)
    event.cancelled_occurrences.add(occurrence)
    _raise_sequence(event)
    uow.save_event(event)
    if event.overrides:
        uow.set_overrides(event.id, event.overrides)
    _publish_event(
        uow,
        ctx,
        community,
        event,
        "events.occurrence_cancelled",
        occurrence=occurrence.isoformat(),
    )
    return event


def _publish_event(
    uow: UnitOfWork, ctx: Context, community: Community, event: Event, type: str, **extra: Any
) -> None:
    payload = {"event": messages.event_state(event, community, ctx.base_url), **extra}
    uow.publish(messages.message(type, payload, ctx.correlation_id))


def request_sign_in(
    uow: UnitOfWork, ctx: Context, email: str, next_url: str | None = None
) -> str | None:
    """Create a single-use link for a member and send it; the link's id, or None (and nothing
    sent) for an unknown address, which the caller must not reveal.

    A member with a few live links gets no more until one is used or expires, so the form
    cannot be used to flood someone's inbox.
    """
    member = uow.member_by_email(email)
    if member is None:
        return None
    now = datetime.now(UTC)
    if uow.recent_sign_in_links(member.id, now) >= LIVE_SIGN_IN_LINKS_MAX:
        return None
    link_id = str(uuid.uuid4())
    expires_at = now + SIGN_IN_LINK_LIFETIME
    uow.add_sign_in_link(link_id, member.id, expires_at, next_url)
    payload = {
        "member": messages.member_state(member),
        "link_id": link_id,
        "expires_at": expires_at.isoformat(),
    }
    uow.publish(messages.message("events.sign_in_requested", payload, ctx.correlation_id))
    return link_id


def ensure_member(uow: UnitOfWork, email: str, name: str | None = None) -> Member:
    member = uow.member_by_email(email)
    if member is None:
        member = Member(id=str(uuid.uuid4()), email=email.lower(), name=name or email.split("@")[0])
        uow.add_member(member)
    return member


def issue_api_token(
    uow: UnitOfWork, email: str, name: str | None = None, correlation_id: str | None = None
) -> tuple[Member, str]:
    """A new personal API token for `email`, creating the member if needed (operator bootstrap)."""
    member = ensure_member(uow, email, name)
    token = new_token()
    grant_api_token(uow, member, token, correlation_id or str(uuid.uuid4()))
    return member, token


def grant_api_token(uow: UnitOfWork, member: Member, token: str, correlation_id: str) -> None:
    """Make `token` one of the member's API tokens, and announce its digest (never the token) to
    the services that authenticate API callers themselves.

    Granting a token its owner already has stores nothing new but announces it again, so a
    service whose database is younger than the token learns it; another member's token is a
    Conflict.
    """
    owner = uow.member_for_api_token(token)
    if owner is None:
        uow.add_api_token(member.id, token)
    elif owner != member.id:
        raise Conflict("this token is already another member's; choose another")
    payload = {"member_id": member.id, "token_hash": digest(token)}
    uow.publish(messages.message("events.api_token_issued", payload, correlation_id))
