"""The rsvps service's JSON API (see the contract's HTTP API section). Answering needs no
account: the answer's own manage link is what lets a person change or cancel it later."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, request
from marshmallow import ValidationError

from services.rsvps import operations
from services.rsvps.auth import current_member_id
from services.rsvps.operations import (
    Answered,
    Attendees,
    Closed,
    Context,
    Forbidden,
    Invalid,
    NotFound,
    SignInRequired,
)
from services.rsvps.roster import SECTIONS, Entry, OccurrenceRoster
from services.rsvps.schemas import RSVP_INPUT, AttendeesQuery, CancelInput, RsvpInput
from shared.inputs import LocalDateTime, phone_e164
from shared.links import rsvp_id_of
from shared.openapi import Operation, Parameter, document
from shared.ratelimit import ANSWERS_PER_CLIENT
from shared.web import ApiError, correlation_id, json_body, load, rate_limit

bp = Blueprint("rsvps_api", __name__, url_prefix="/rsvps/api")


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
        except Closed as error:
            raise ApiError(409, str(error)) from None
        except SignInRequired as error:
            raise ApiError(401, "Sign in first.", detail=str(error)) from None
        except Forbidden as error:
            raise ApiError(403, "Not allowed.", detail=str(error)) from None

    return wrapper


def context() -> Context:
    return Context(
        correlation_id=correlation_id(),
        base_url=current_app.config["HEARTH_BASE_URL"],
        secret_key=current_app.config["SECRET_KEY"],
        now=datetime.now(UTC),
    )


def store():  # type: ignore[no-untyped-def]
    return current_app.extensions["hearth.store"]


def answered_json(answered: Answered) -> dict[str, Any]:
    """The answer's result. The manage link goes only to the request that created the RSVP:
    anyone can answer in a known email's name, but must not gain the power to change or cancel
    that person's RSVP later (the person gets their link by email)."""
    rsvp = answered.rsvp
    return {
        "id": rsvp.id,
        "event_id": rsvp.event_id,
        "occurrence": _local(answered.original_start),
        "response": rsvp.response,
        "guests": rsvp.guests,
        "status": rsvp.status,
        "waitlist_position": answered.waitlist_position,
        "manage_url": answered.manage_url if answered.created else None,
    }


@bp.post("/events/<event_id>/rsvps")
@api_errors
def answer(event_id: str) -> Any:
    rate_limit(ANSWERS_PER_CLIENT, "rsvp")
    values = load(RSVP_INPUT, json_body())
    try:
        values["phone"] = phone_e164(values.get("phone"))
    except ValidationError as error:
        raise ApiError(422, "Some fields need fixing.", {"phone": str(error.messages[0])}) from None
    if values.pop("all_upcoming"):
        if values.get("occurrence") is not None:
            raise ApiError(
                422,
                "Some fields need fixing.",
                {"occurrence": "leave occurrence out when answering for all upcoming dates"},
            )
        with store().begin() as uow:
            answers = operations.answer_all(uow, context(), event_id, values)
        created = any(answered.created for answered in answers)
        return {"rsvps": [answered_json(answered) for answered in answers]}, 201 if created else 200
    with store().begin() as uow:
        answered = operations.answer(uow, context(), event_id, values)
    return answered_json(answered), 201 if answered.created else 200


@bp.post("/rsvps/<rsvp_id>/cancel")
@api_errors
def cancel(rsvp_id: str) -> Any:
    values = load(CancelInput(), json_body())
    if rsvp_id_of(current_app.config["SECRET_KEY"], values["token"]) != rsvp_id:
        raise ApiError(
            403, "Not allowed.", detail="this token is not the manage link's of that RSVP"
        )
    with store().begin() as uow:
        answered = operations.cancel(uow, context(), rsvp_id)
    return answered_json(answered)


@bp.get("/events/<event_id>/rsvps")
@api_errors
def attendees(event_id: str) -> Any:
    member_id = current_member_id()
    if member_id is None:  # before reading the query: outsiders learn nothing from errors
        raise SignInRequired(
            "send a member's API token as Authorization: Bearer <token>, or sign in"
        )
    occurrence = load(AttendeesQuery(), request.args.to_dict())["occurrence"]
    with store().begin() as uow:
        found = operations.attendees(uow, member_id, event_id, occurrence)
    return attendees_json(found), 200, {"Cache-Control": "no-store"}


def attendees_json(found: Attendees) -> dict[str, Any]:
    event = found.event
    return {
        "event_id": event.id,
        "title": event.title,
        "timezone": event.timezone,
        "status": event.status,
        "occurrences": [occurrence_json(listed) for listed in found.occurrences],
    }


def occurrence_json(listed: OccurrenceRoster) -> dict[str, Any]:
    """One occurrence's lists: going, waiting (in order), maybe and not going, and its totals."""
    return {
        "occurrence": _local(listed.original_start),
        "starts_at": listed.starts_at.isoformat(),
        "cancelled": listed.cancelled,
        "totals": {
            "capacity": listed.capacity,
            "confirmed_seats": listed.confirmed_seats,
            "free_seats": listed.free_seats,
            "waitlisted_seats": sum(entry.seats for entry in listed.waitlisted),
            **{status: len(listed.section(status)) for status in SECTIONS},
        },
        **{status: [entry_json(entry) for entry in listed.section(status)] for status in SECTIONS},
    }


def entry_json(entry: Entry) -> dict[str, Any]:
    rsvp = entry.rsvp
    return {
        "id": rsvp.id,
        "name": rsvp.name,
        "email": rsvp.email,
        "phone": rsvp.phone,
        "response": rsvp.response,
        "status": rsvp.status,
        "guests": rsvp.guests,
        "seats": entry.seats,
        "waitlist_position": entry.waitlist_position,
        "answered_at": _instant(rsvp.created_at),
        "updated_at": _instant(rsvp.updated_at),
    }


def _local(occurrence: datetime | None) -> str | None:
    return occurrence.isoformat(timespec="minutes") if occurrence else None


def _instant(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


OPERATIONS = [
    Operation("post", "/rsvps/api/events/{event_id}/rsvps", "Answer yes, no or maybe (no account "
              "needed); the same email answering again changes its answer. With all_upcoming, "
              "every open date of a series is answered and the result is {rsvps: [...]}", 201,
              RsvpInput,
              (400, 404, 409, 422)),
    Operation("post", "/rsvps/api/rsvps/{rsvp_id}/cancel", "Cancel an RSVP with the token of "
              "its manage link; its seats go to the waitlist", 200, CancelInput,
              (400, 403, 404, 422)),
    Operation("get", "/rsvps/api/events/{event_id}/rsvps", "Who answered, per occurrence: "
              "confirmed, waitlisted (in order), maybe and declined, with guests, seats and "
              "totals (organizers of the event's community only)", 200, None,
              (401, 403, 404, 422),
              {"occurrence": Parameter("one date of a series, by its original local start "
                                       "(2026-12-03T12:00); every date with RSVPs if left out",
                                       required=False, format="local-date-time")}),
]  # fmt: skip


def openapi_document() -> dict[str, Any]:
    return document(
        "Hearth rsvps service",
        "/rsvps/",
        OPERATIONS,
        {LocalDateTime: ("string", "local-date-time")},
    )
