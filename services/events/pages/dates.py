"""The views of one date of a series: choose a date, then move it or give it its own texts.

A date is named in its URL as the API and the cancel form name it, by its original local start
(`2027-01-14T12:00`), which it keeps when it moves. Saving goes through the same use case as
`PATCH /api/events/<id>/occurrences/<original start>`, so the same messages tell attendees.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError

from services.events import operations
from services.events.auth import request_context
from services.events.model import (
    CANCELLED,
    ONE_DAY,
    Community,
    Event,
    Invalid,
    Occurrence,
    build_override,
)
from services.events.operations import Conflict
from services.events.pages import bp, store
from services.events.pages.errors import page_errors
from services.events.pages.events import CANCELLABLE_OCCURRENCES, next_dates
from services.events.pages.forms import minutes
from services.events.pages.labels import ALL_DAY_DATE_LABELS, DATE_LABELS
from services.events.pages.words import moved_from_words, occurrence_words, recurrence_words
from services.events.schemas import OccurrenceInput
from shared.inputs import messages_by_field, sentence
from shared.timewords import date_words

# The dates offered for changing: as many as the cancel form offers, from today.
DATES_SHOWN = CANCELLABLE_OCCURRENCES
DATE_IN_URL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
TEXTS = ("title", "location", "online_url", "description")
# What the flash message calls the texts that changed.
TEXT_WORDS = {
    "title": "title",
    "location": "place",
    "online_url": "online link",
    "description": "description",
}


def _original_start(text: str) -> datetime | None:
    """The original local start a URL names, or None if it names none."""
    if not DATE_IN_URL.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _organizer_event(ctx: operations.Context, event_id: str) -> tuple[Event, Community]:
    with store().begin() as uow:
        event, community, _ = operations.event_for(uow, ctx, event_id)
        operations.require_organizer(uow, community, ctx)
    return event, community


def _refusal(event: Event) -> Any:
    """Where to send an organizer when the event has no dates to change one by one, or None."""
    if event.status == CANCELLED:
        flash("This series is cancelled, so its dates can no longer be changed.")
        return redirect(url_for(".event_page", event_id=event.id))
    if event.rrule is None:
        flash("This event does not repeat: change it here.")
        return redirect(url_for(".edit_event", event_id=event.id))
    return None


def _day(occurrence: Occurrence) -> str:
    """The day a date takes place on, in short: "Thu 14 Jan"."""
    return date_words(occurrence.starts_at.date())


# --- choosing a date -------------------------------------------------------------------------


@bp.get("/events/<event_id>/dates")
@page_errors
def event_dates(event_id: str) -> Any:
    ctx = request_context()
    event, community = _organizer_event(ctx, event_id)
    refusal = _refusal(event)
    if refusal is not None:
        return refusal
    return _render_dates(event, community)


def _render_dates(
    event: Event, community: Community, notice: str | None = None, status: int = 200
) -> Any:
    return render_template(
        "date_list.html",
        event=event,
        community=community,
        dates=next_dates(event, most=DATES_SHOWN),
        repeats=recurrence_words(event),
        notice=notice,
    ), status


def _not_a_date(event: Event, community: Community, text: str) -> Any:
    start = _original_start(text)
    if start is None:
        notice = (
            f"“{text}” does not name a date. Choose one of the dates below; their links name "
            "each by its first start, like 2027-01-14T12:00."
        )
    else:
        on = date_words(start.date(), long=True)
        notice = (
            f"{event.title} has no date on {on} at {start:%H:%M}. Choose one of the dates below."
        )
    return _render_dates(event, community, notice, 404)


# --- changing one ----------------------------------------------------------------------------


def _form_of_date(event: Event, original: datetime) -> dict[str, str]:
    """One date's values as its form shows them: its times (days, for an all-day event) and
    its texts, its own or else the series'."""
    override = event.overrides.get(original)
    starts = override.starts_at if override else original
    ends = override.ends_at if override else original + event.duration
    occurrence = event.occurrence(original)
    form = {name: event.occurrence_text(occurrence, name) or "" for name in TEXTS}
    if event.all_day:
        form["starts_at"] = starts.date().isoformat()
        form["ends_at"] = (ends - ONE_DAY).date().isoformat()
    else:
        form["starts_at"], form["ends_at"] = minutes(starts), minutes(ends)
    form["sequence"] = str(event.sequence)
    return form


def _posted_date_form() -> dict[str, str]:
    names = ("starts_at", "ends_at", *TEXTS, "sequence")
    return {name: request.form.get(name, "") for name in names}


def _date_changes(
    event: Event, original: datetime, form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed changes the API's OccurrenceInput gives, and the fields that need fixing: the
    schema's words and the model's together, so a person sees every problem at once.

    Every text is sent, so the date says what the form says: one equal to the series' follows
    the series, and an emptied place, link or description is none on this date (when the
    series has one; otherwise there is nothing to differ from).
    """
    errors: dict[str, str] = {}
    data: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name in ("starts_at", "ends_at"):
        value = form[name].strip()
        if value:
            data[name] = value
        elif event.all_day:
            which = "first" if name == "starts_at" else "last"
            errors[name] = f"give the {which} day of this date, like 2027-05-01"
        else:
            which = "starts" if name == "starts_at" else "ends"
            errors[name] = f"give when this date {which}, like 2027-01-14 12:00"
    title = form["title"].strip()
    if title:
        data["title"] = title
    else:
        errors["title"] = f"give this date a title; the series is called “{event.title}”"
    for name in ("location", "online_url", "description"):
        value = form[name].replace("\r\n", "\n").strip()
        if value:
            data[name] = value
        else:
            changes[name] = "" if getattr(event, name) else None
    try:
        changes.update(OccurrenceInput().load(data))
    except ValidationError as error:
        errors = {**messages_by_field(error), **errors}
        changes.update(error.valid_data or {})  # type: ignore[call-overload]
    if errors:
        readable = {name: value for name, value in changes.items() if name not in errors}
        if errors.keys() & {"starts_at", "ends_at"}:
            # One time alone would be checked against the date's other time as it was.
            readable.pop("starts_at", None)
            readable.pop("ends_at", None)
        try:
            build_override(event, original, readable, today=datetime.now(UTC).date())
        except Invalid as error:
            errors = {**error.errors, **errors}
    return changes, _in_date_order(errors)


def _in_date_order(errors: dict[str, str]) -> dict[str, str]:
    order = list(DATE_LABELS)
    return dict(sorted(errors.items(), key=lambda item: order.index(item[0])))


def _render_date_form(
    event: Event,
    community: Community,
    original: datetime,
    form: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    notice: str | None = None,
) -> Any:
    occurrence = event.occurrence(original)
    return render_template(
        "date_form.html",
        event=event,
        community=community,
        original=minutes(original),
        form=form,
        errors=errors,
        labels=ALL_DAY_DATE_LABELS if event.all_day else DATE_LABELS,
        on=_day(occurrence),
        when=occurrence_words(occurrence),
        starts_at=occurrence.starts_at.date() if event.all_day else occurrence.starts_at,
        moved_from=moved_from_words(event, occurrence),
        notice=notice,
    ), status


@bp.route("/events/<event_id>/dates/<original>/edit", methods=["GET", "POST"])
@page_errors
def edit_date(event_id: str, original: str) -> Any:
    ctx = request_context()
    event, community = _organizer_event(ctx, event_id)
    refusal = _refusal(event)
    if refusal is not None:
        return refusal
    start = _original_start(original)
    if start is None or not event.is_occurrence(start):
        return _not_a_date(event, community, original)
    if start in event.cancelled_occurrences:
        flash("This date is cancelled, so it can no longer be changed.")
        return redirect(url_for(".event_page", event_id=event.id))
    if request.method == "GET":
        return _render_date_form(event, community, start, _form_of_date(event, start), {})
    form = _posted_date_form()
    changes, errors = _date_changes(event, start, form)
    if errors:
        return _render_date_form(event, community, start, form, errors, 422)
    try:
        with store().begin() as uow:
            current, _, _ = operations.event_for(uow, ctx, event_id, for_update=True)
            if current.rrule is None or not current.is_occurrence(start):
                # The series changed since the form was opened and this date is no longer one.
                return _not_a_date(current, community, original)
            # A cancelled date or series is refused by the use case, whatever the form says.
            gone = current.status == CANCELLED or start in current.cancelled_occurrences
            if form["sequence"] != str(current.sequence) and not gone:
                # Someone saved a change since this form was opened; saving now would undo it.
                form["sequence"] = str(current.sequence)
                notice = (
                    "Someone else changed this series since you opened this form. Check the "
                    "values below against the event page, then save again."
                )
                return _render_date_form(current, community, start, form, {}, 409, notice)
            before = current.occurrence(start)
            title = current.occurrence_text(before, "title")
            after, changed = operations.update_occurrence(uow, ctx, current, start, changes)
    except Invalid as error:
        return _render_date_form(event, community, start, form, _in_date_order(error.errors), 422)
    except Conflict as error:
        flash(sentence(str(error)))
        return redirect(url_for(".event_page", event_id=event.id))
    flash(_saved_words(title, before, after, changed))
    return redirect(url_for(".event_page", event_id=event.id))


def _saved_words(
    title: str | None, before: Occurrence, after: Occurrence, changed: list[str]
) -> str:
    """What the organizer just did, as the event page's notice says it: "Moved Thursday consult
    group on Thu 14 Jan to Fri 15 Jan, 18:00-19:00 EST." """
    if not changed:
        return "Nothing changed."
    texts = [TEXT_WORDS[name] for name in TEXTS if name in changed]
    if {"starts_at", "ends_at"} & set(changed):
        words = f"Moved {title} on {_day(before)} to {occurrence_words(after)}"
        if texts:
            words += f", with a new {_joined(texts)}"
    else:
        words = f"Changed the {_joined(texts)} of {title} on {_day(before)}"
    return words + "."


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
