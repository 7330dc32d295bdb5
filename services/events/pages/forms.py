"""Form values: posted strings to the API's typed values, errors in form order, and back."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError

from services.events.model import Community, Event, Invalid, build_event
from services.events.pages.labels import EVENT_LABELS
from services.events.pages.picker import PICKER_FIELDS, Picker
from services.events.schemas import EventInput
from shared.inputs import messages_by_field

EVENT_TEXT_FIELDS = (
    "kind", "title", "description", "starts_at", "ends_at", "timezone", "location", "online_url",
    "capacity", "guest_limit", "rsvp_deadline", "visibility", "honoree_email", "ce_hours",
    "presenter",
)  # fmt: skip
# Required by the schema: an empty one stays "" so its message says what to fill in.
EVENT_REQUIRED = ("kind", "title", "starts_at", "ends_at", "visibility")


def blank_to_none(value: str) -> str | None:
    value = value.strip()
    return value or None


def event_form(form: Mapping[str, str]) -> dict[str, Any]:
    """What the event form posted, as strings (and a flag), to show again after an error."""
    values: dict[str, Any] = {name: form.get(name, "") for name in EVENT_TEXT_FIELDS}
    values["surprise"] = bool(form.get("surprise"))
    values["sequence"] = form.get("sequence", "")
    return values


def event_values(
    form: dict[str, Any], picker: Picker, community: Community, current: Event | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed values the API's EventInput schema gives, and the fields that need fixing."""
    data: dict[str, Any] = {}
    for name in EVENT_TEXT_FIELDS:
        raw = form[name]
        data[name] = raw if name in EVENT_REQUIRED else blank_to_none(raw)
    if data["description"]:
        data["description"] = data["description"].replace("\r\n", "\n")
    for name in ("capacity", "guest_limit"):
        if data[name] is not None:
            # Left as text when it is not a number: the schema then says it must be a whole number.
            with contextlib.suppress(ValueError):
                data[name] = int(data[name])
    data["surprise"] = form["surprise"]
    start = local_datetime(form["starts_at"])
    data["rrule"], errors = picker.rule(start.date() if start else None)
    try:
        values = EventInput().load(data)
    except ValidationError as error:
        errors = {**messages_by_field(error), **errors}
        values = dict(error.valid_data or {})  # type: ignore[call-overload]
    if errors:
        errors = {**_domain_errors(values, errors, picker, community, current), **errors}
    return values, in_form_order(errors)


def _domain_errors(
    values: dict[str, Any],
    errors: dict[str, str],
    picker: Picker,
    community: Community,
    current: Event | None,
) -> dict[str, str]:
    """What the model's rules say about the fields that could be read, so that a person sees
    every problem at once rather than one round trip at a time. Nothing is saved here."""
    changes = {key: value for key, value in values.items() if key not in errors}
    for name in ("starts_at", "ends_at", "rsvp_deadline"):
        if name in errors or name not in values:
            changes[name] = None  # build_event skips a time it is not given
    if changes["starts_at"] is None or errors.keys() & PICKER_FIELDS:
        changes["rrule"] = None
    blank = current or Event(
        id="",
        community_id=community.id,
        kind="",
        title="",
        starts_at=None,  # type: ignore[arg-type]
        ends_at=None,  # type: ignore[arg-type]
        timezone=community.timezone,
    )
    try:
        build_event(blank, changes, community.timezone, today=datetime.now(UTC).date())
    except Invalid as error:
        return picker.place(error.errors)
    return {}


FORM_ORDER = [*EVENT_LABELS, "occurrence"]


def in_form_order(errors: dict[str, str]) -> dict[str, str]:
    """Errors in the order of the form, so the summary at the top reads like the page."""
    position = {name: index for index, name in enumerate(FORM_ORDER)}
    return dict(sorted(errors.items(), key=lambda item: position.get(item[0], len(position))))


def local_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def minutes(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else ""


def number(value: float | int | None) -> str:
    return "" if value is None else f"{value:g}"


def form_of_event(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "title": event.title,
        "description": event.description,
        "starts_at": minutes(event.starts_at),
        "ends_at": minutes(event.ends_at),
        "timezone": event.timezone,
        "location": event.location or "",
        "online_url": event.online_url or "",
        "capacity": number(event.capacity),
        "guest_limit": number(event.guest_limit),
        "rsvp_deadline": minutes(event.rsvp_deadline),
        "visibility": event.visibility,
        "honoree_email": event.honoree_email or "",
        "surprise": event.surprise,
        "ce_hours": number(event.ce_hours),
        "presenter": event.presenter or "",
        "sequence": str(event.sequence),
    }
