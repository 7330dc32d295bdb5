"""Form values: posted strings to the API's typed values, errors in form order, and back."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from marshmallow import ValidationError

from services.events.model import Community, Event, Invalid, build_event, revised_event
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
# With "All day" ticked the form takes dates in these instead of the times, and the model's
# words about the times belong next to them.
DAY_FIELDS = {"starts_at": "starts_on", "ends_at": "ends_on"}
DAY_HINTS = {"starts_on": "the first day", "ends_on": "the last day"}


def blank_to_none(value: str) -> str | None:
    value = value.strip()
    return value or None


def event_form(form: Mapping[str, str]) -> dict[str, Any]:
    """What the event form posted, as strings (and a flag), to show again after an error."""
    values: dict[str, Any] = {name: form.get(name, "") for name in EVENT_TEXT_FIELDS}
    values["surprise"] = bool(form.get("surprise"))
    values["all_day"] = bool(form.get("all_day"))
    for name in DAY_FIELDS.values():
        values[name] = form.get(name, "")
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
    data["all_day"] = form["all_day"]
    day_errors = {}
    if form["all_day"]:
        for name, day in DAY_FIELDS.items():
            data[name] = form[day].strip()
            if _date(data[name]) is None:
                day_errors[name] = f"give {DAY_HINTS[day]} as a date, like 2027-05-01"
                data[name] = ""
    start = local_datetime(form["starts_on"] if form["all_day"] else form["starts_at"])
    data["rrule"], errors = picker.rule(start.date() if start else None)
    try:
        values = EventInput().load(data)
    except ValidationError as error:
        errors = {**messages_by_field(error), **errors}
        values = dict(error.valid_data or {})  # type: ignore[call-overload]
    errors.update(day_errors)
    if errors:
        errors = {**_domain_errors(values, errors, picker, community, current), **errors}
    return values, form_errors(errors, form, picker)


def form_errors(errors: dict[str, str], form: dict[str, Any], picker: Picker) -> dict[str, str]:
    """The model's errors next to the inputs they are about, in the order of the form: the
    rule's next to the part of the picker it comes from, the times' next to the dates of an
    all-day event."""
    errors = picker.place(errors)
    if form["all_day"]:
        errors = {DAY_FIELDS.get(name, name): message for name, message in errors.items()}
    return in_form_order(errors)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


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
    try:
        build_event(current or _unsaved(community), changes, community.timezone, today=_today())
    except Invalid as error:
        return picker.place(error.errors)
    return {}


def planned_event(values: dict[str, Any], community: Community, current: Event | None) -> Event:
    """The event that saving `values` (from event_values, without errors) would store, built by
    the model as the use cases build it, so the form's preview of its dates is the series that
    saving gives. Nothing is saved. Raises Invalid as saving would."""
    built = build_event(current or _unsaved(community), values, community.timezone, today=_today())
    return revised_event(current, built) if current else built


def _unsaved(community: Community) -> Event:
    """An event with nothing in it yet, for build_event to fill from a new event's values."""
    return Event(
        id="",
        community_id=community.id,
        kind="",
        title="",
        starts_at=None,  # type: ignore[arg-type]
        ends_at=None,  # type: ignore[arg-type]
        timezone=community.timezone,
    )


def _today() -> date:
    return datetime.now(UTC).date()


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
    all_day = event.all_day
    return {
        "kind": event.kind,
        "title": event.title,
        "description": event.description,
        "all_day": all_day,
        "starts_on": event.starts_at.date().isoformat() if all_day else "",
        "ends_on": (event.ends_at - timedelta(days=1)).date().isoformat() if all_day else "",
        "starts_at": "" if all_day else minutes(event.starts_at),
        "ends_at": "" if all_day else minutes(event.ends_at),
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
