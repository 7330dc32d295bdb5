"""The events service's JSON API (see the contract's HTTP API section)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, request, url_for
from marshmallow import ValidationError

from services.events import calendar, operations
from services.events.auth import request_context
from services.events.model import (
    Community,
    Event,
    Invalid,
    Occurrence,
    can_manage,
    day_window,
    zone,
)
from services.events.operations import Conflict, Context, Forbidden, NotFound
from services.events.schemas import (
    CancelInput,
    CommunityInput,
    EventInput,
    LocalDateOrTime,
    MemberInput,
    OccurrenceInput,
)
from shared.inputs import LocalDateTime, phone_e164
from shared.openapi import Operation, document
from shared.web import ApiError, json_body, load

bp = Blueprint("events_api", __name__, url_prefix="/api")

# Counts of an occurrence nobody has answered yet. Counts are for anyone who may see the event;
# who is coming is for organizers only, and lives in the rsvps service.
NO_ANSWERS = {"confirmed_seats": 0, "waitlisted": 0, "maybe": 0}


def api_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the use cases' exceptions into the contract's problem+json answers."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Invalid as error:
            raise ApiError(422, "Some fields need fixing.", error.errors) from None
        except NotFound as error:
            raise ApiError(404, "Not found.", detail=str(error)) from None
        except Forbidden as error:
            status = 401 if g.get("member_id") is None else 403
            raise ApiError(status, "Not allowed.", detail=str(error)) from None
        except Conflict as error:
            errors = {error.field: str(error)} if error.field else None
            raise ApiError(409, str(error), errors) from None

    return wrapper


def context(*, signed_in: bool = False) -> Context:
    """Who is calling; `signed_in` refuses anonymous callers before anything is looked up."""
    ctx = request_context()
    g.member_id = ctx.member_id
    if signed_in and ctx.member_id is None:
        raise ApiError(401, "Sign in first.", detail="Send Authorization: Bearer <your API token>.")
    return ctx


def store():  # type: ignore[no-untyped-def]
    return current_app.extensions["hearth.store"]


def community_json(community: Community, role: str | None) -> dict[str, Any]:
    base_url = current_app.config["HEARTH_BASE_URL"]
    feed_path = calendar.community_feed_path(community, members=role is not None)
    return {
        "id": community.id,
        "slug": community.slug,
        "name": community.name,
        "timezone": community.timezone,
        "description": community.description,
        "visibility": community.visibility,
        "url": f"{base_url}/c/{community.slug}",
        **calendar.https_and_webcal(base_url, feed_path),
        "your_role": role,
    }


def attendance_json(uow: Any, event: Event) -> dict[str, int] | None:
    """A one-off event's seat counts; a series is counted per occurrence (see occurrences)."""
    if event.rrule:
        return None
    return uow.attendance_of([event.id]).get((event.id, ""), NO_ANSWERS)  # type: ignore[no-any-return]


def times_json(event: Event, starts: datetime, ends: datetime) -> dict[str, str]:
    """Local wall times (naive, in the event's zone) as answers give them: with their offset,
    or for an all-day event the first and the last day (inclusive), as they are sent."""
    if event.all_day:
        return {
            "starts_at": starts.date().isoformat(),
            "ends_at": (ends - ONE_DAY).date().isoformat(),
        }
    tz = event.tz
    return {
        "starts_at": starts.replace(tzinfo=tz).isoformat(),
        "ends_at": ends.replace(tzinfo=tz).isoformat(),
    }


ONE_DAY = timedelta(days=1)


def occurrence_json(event: Event, occurrence: Occurrence, role: str | None) -> dict[str, Any]:
    """One date as it takes place; `original_start` names it (in URLs and RSVPs) even once
    it has moved."""
    local = {
        name: getattr(occurrence, name).replace(tzinfo=None) for name in ("starts_at", "ends_at")
    }
    texts = {name: event.occurrence_text(occurrence, name) for name in ("title", "location")}
    return {
        "event_id": event.id,
        **texts,
        **times_json(event, local["starts_at"], local["ends_at"]),
        "all_day": event.all_day,
        "original_start": occurrence.original_start.isoformat(timespec="minutes"),
        "moved": occurrence.moved,
        "status": occurrence.status,
        "description": event.occurrence_text(occurrence, "description"),
        "online_url": event.occurrence_text(occurrence, "online_url") if role else None,
        "sequence": occurrence.override.sequence if occurrence.override else event.sequence,
    }


def event_json(event: Event, role: str | None, attendance: dict[str, int] | None) -> dict[str, Any]:
    """The event as the caller may see it: the video link is for members, and the honoree's
    address for organizers only, even on a public event."""
    tz = event.tz
    body: dict[str, Any] = {
        "id": event.id,
        "community_id": event.community_id,
        "kind": event.kind,
        "title": event.title,
        "description": event.description,
        **times_json(event, event.starts_at, event.ends_at),
        "all_day": event.all_day,
        "timezone": event.timezone,
        "rrule": event.rrule,
        "cancelled_occurrences": sorted(
            start.replace(tzinfo=tz).isoformat() for start in event.cancelled_occurrences
        ),
        "overrides": [
            {
                "original_start": start.isoformat(timespec="minutes"),
                **times_json(event, override.starts_at, override.ends_at),
                **override.texts(),
                "sequence": override.sequence,
            }
            for start, override in sorted(event.overrides.items())
        ],
        "location": event.location,
        "online_url": event.online_url,
        "capacity": event.capacity,
        "guest_limit": event.guests_allowed,
        "rsvp_deadline": (
            event.rsvp_deadline.replace(tzinfo=tz).isoformat() if event.rsvp_deadline else None
        ),
        "visibility": event.visibility,
        "honoree_email": event.honoree_email,
        "surprise": event.surprise,
        "ce_hours": event.ce_hours,
        "presenter": event.presenter,
        "status": event.status,
        "sequence": event.sequence,
        "url": f"{current_app.config['HEARTH_BASE_URL']}/events/{event.id}",
        "attendance": attendance,
    }
    if role is None:
        body["online_url"] = None
        for override in body["overrides"]:
            override["online_url"] = None
    if not can_manage(role):
        body["honoree_email"] = None
    return body


@bp.post("/communities")
@api_errors
def create_community() -> Any:
    ctx = context(signed_in=True)
    values = load(CommunityInput(), json_body())
    with store().begin() as uow:
        community = operations.create_community(uow, ctx, values)
    return community_json(community, "organizer"), 201


@bp.get("/communities/<slug>")
@api_errors
def get_community(slug: str) -> Any:
    ctx = context()
    with store().begin() as uow:
        community, role = operations.community_for(uow, slug, ctx)
    return community_json(community, role)


@bp.post("/communities/<slug>/members")
@api_errors
def add_member(slug: str) -> Any:
    ctx = context(signed_in=True)
    values = load(MemberInput(), json_body())
    try:
        values["phone"] = phone_e164(values.get("phone"))
    except ValidationError as error:
        raise ApiError(422, "Some fields need fixing.", {"phone": str(error.messages[0])}) from None
    with store().begin() as uow:
        community, _ = operations.community_for(uow, slug, ctx)
        member, role, created = operations.add_member(uow, ctx, community, values)
    body = {
        "id": member.id,
        "email": member.email,
        "name": member.name,
        "phone": member.phone,
        "role": role,
    }
    return body, 201 if created else 200


@bp.post("/communities/<slug>/events")
@api_errors
def schedule_event(slug: str) -> Any:
    ctx = context(signed_in=True)
    values = load(EventInput(), json_body())
    with store().begin() as uow:
        community, _ = operations.community_for(uow, slug, ctx)
        event = operations.schedule_event(uow, ctx, community, values)
    response = event_json(event, "organizer", None if event.rrule else NO_ANSWERS)
    return response, 201, {"Location": url_for(".get_event", event_id=event.id)}


@bp.get("/events/<event_id>")
@api_errors
def get_event(event_id: str) -> Any:
    ctx = context()
    with store().begin() as uow:
        event, _, role = operations.event_for(uow, ctx, event_id)
        return event_json(event, role, attendance_json(uow, event))


@bp.patch("/events/<event_id>")
@api_errors
def update_event(event_id: str) -> Any:
    ctx = context(signed_in=True)
    changes = load(EventInput(partial=True), json_body())
    provided = json_body().keys()
    changes = {key: value for key, value in changes.items() if key in provided}
    with store().begin() as uow:
        event, _, role = operations.event_for(uow, ctx, event_id, for_update=True)
        event, _ = operations.update_event(uow, ctx, event, changes)
        return event_json(event, role, attendance_json(uow, event))


@bp.post("/events/<event_id>/cancel")
@api_errors
def cancel_event(event_id: str) -> Any:
    ctx = context(signed_in=True)
    values = load(CancelInput(), json_body(optional=True))
    with store().begin() as uow:
        event, _, role = operations.event_for(uow, ctx, event_id, for_update=True)
        event = operations.cancel_event(uow, ctx, event, values["occurrence"])
        return event_json(event, role, attendance_json(uow, event))


@bp.patch("/events/<event_id>/occurrences/<occurrence>")
@api_errors
def update_occurrence(event_id: str, occurrence: str) -> Any:
    """Move or change one date of a series, named by its original local start."""
    ctx = context(signed_in=True)
    changes = load(OccurrenceInput(), json_body())
    provided = json_body().keys()
    changes = {key: value for key, value in changes.items() if key in provided}
    try:
        original = datetime.fromisoformat(occurrence)
    except ValueError:
        original = None
    with store().begin() as uow:
        event, community, role = operations.event_for(uow, ctx, event_id, for_update=True)
        if original is None or original.tzinfo is not None:
            operations.require_organizer(uow, community, ctx)
            raise NotFound(
                f"{occurrence!r} is not a date of this series: name it by its original local "
                "start, like 2027-01-14T12:00"
            )
        moved, _ = operations.update_occurrence(uow, ctx, event, original, changes)
    return occurrence_json(event, moved, role)


@bp.get("/communities/<slug>/occurrences")
@api_errors
def list_occurrences(slug: str) -> Any:
    ctx = context()
    errors = {}
    bounds: dict[str, date] = {}
    for name in ("start", "end"):
        raw = request.args.get(name, "")
        try:
            bounds[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = f"give {name} as a date like 2026-12-01"
    if errors:
        raise ApiError(422, "Some query parameters need fixing.", errors)
    with store().begin() as uow:
        community, role = operations.community_for(uow, slug, ctx)
        tz = zone(community.timezone)
        window = day_window(bounds["start"], bounds["end"], tz, datetime.now(tz).date())
        events = uow.events_between(community.id, *window)
        email = operations.email_of(uow, ctx)
        counts = uow.attendance_of([event.id for event in events])
    found = []
    for event in events:
        if not event.visible_to(role, community, email):
            continue
        for occurrence in event.occurrences(*window):
            item = {
                **occurrence_json(event, occurrence, role),
                "attendance": counts.get(
                    (
                        event.id,
                        event.key_of(occurrence.original_start).isoformat() if event.rrule else "",
                    ),
                    NO_ANSWERS,
                ),
            }
            found.append((occurrence.starts_at, event.id, item))
    found.sort(key=lambda entry: entry[:2])
    return [item for _, _, item in found]


OPERATIONS = [
    Operation(
        "post",
        "/api/communities",
        "Create a community; the caller becomes its organizer",
        201,
        CommunityInput,
        (400, 401, 409, 422),
    ),
    Operation(
        "get",
        "/api/communities/{slug}",
        "A community, with its feed and webcal URLs",
        errors=(404,),
    ),
    Operation(
        "post",
        "/api/communities/{slug}/members",
        "Invite a member or change their role (organizers only)",
        201,
        MemberInput,
        (400, 401, 403, 404, 422),
    ),
    Operation(
        "post",
        "/api/communities/{slug}/events",
        "Schedule an event or series "
        "(organizers only); times are local wall-clock times in `timezone`",
        201,
        EventInput,
        (400, 401, 403, 404, 422),
    ),
    Operation(
        "get",
        "/api/communities/{slug}/occurrences",
        "Occurrences in a date range, series expanded",
        errors=(404, 422),
        query={"start": "first local date", "end": "last local date (inclusive)"},
    ),
    Operation(
        "get", "/api/events/{event_id}", "An event, with its sequence and status", errors=(404,)
    ),
    Operation(
        "patch",
        "/api/events/{event_id}",
        "Change any fields of an event (organizers only)",
        200,
        EventInput,
        (400, 401, 403, 404, 409, 422),
    ),
    Operation(
        "post",
        "/api/events/{event_id}/cancel",
        "Cancel a whole event or series, or one occurrence by its original local start",
        200,
        CancelInput,
        (400, 401, 403, 404, 422),
    ),
    Operation(
        "patch",
        "/api/events/{event_id}/occurrences/{occurrence}",
        "Move or change one date of a series, named by its original local start "
        "(organizers only); the other dates stay as the series has them",
        200,
        OccurrenceInput,
        (400, 401, 403, 404, 409, 422),
    ),
]


def openapi_document() -> dict[str, Any]:
    return document(
        "Hearth events service",
        "/",
        OPERATIONS,
        {
            LocalDateTime: ("string", "local-date-time"),
            LocalDateOrTime: ("string", "local-date-time-or-date"),
        },
    )
