"""The views of events: schedule, show, edit and cancel one, or one date of a series."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError

from services.events import operations
from services.events.auth import request_context
from services.events.model import CANCELLED, KINDS, Community, Event, Invalid, Member, can_manage
from services.events.operations import Conflict, Context
from services.events.pages import bp, store
from services.events.pages.errors import page_errors
from services.events.pages.forms import (
    event_form,
    event_values,
    form_errors,
    form_of_event,
    local_datetime,
    minutes,
    number,
    planned_event,
)
from services.events.pages.labels import EVENT_LABELS, EVENT_VISIBILITY_CHOICES, KIND_LABELS
from services.events.pages.mine import answered_date
from services.events.pages.picker import Picker
from services.events.pages.words import (
    event_words,
    going_words,
    moved_from_words,
    occurrence_words,
    recurrence_words,
)
from services.events.pages.zones import zone_groups
from services.events.schemas import CancelInput
from shared.inputs import messages_by_field, sentence
from shared.timewords import when

CANCELLABLE_OCCURRENCES = 12
# How far ahead the answer form offers dates of a series, as the rsvps service's "all upcoming".
ANSWER_AHEAD = timedelta(days=366)
SERIES_PREVIEW = 6


def _organizer_community(uow: Any, ctx: Context, slug: str) -> Community:
    community, _ = operations.community_for(uow, slug, ctx)
    operations.require_organizer(uow, community, ctx)
    return community  # type: ignore[no-any-return]


def _render_event_form(
    community: Community,
    form: dict[str, Any],
    picker: Picker,
    errors: dict[str, str],
    status: int = 200,
    event: Event | None = None,
    notice: str | None = None,
    preview: dict[str, Any] | None = None,
) -> Any:
    start = local_datetime(form["starts_on"] if form["all_day"] else form["starts_at"])
    return render_template(
        "event_form.html",
        community=community,
        event=event,
        form=form,
        picker=picker,
        repeat_choices=picker.choices(start.date() if start else None),
        errors=errors,
        labels=EVENT_LABELS,
        kinds=[(kind, KIND_LABELS[kind]) for kind in KINDS],
        zones=zone_groups(form["timezone"]),
        visibilities=EVENT_VISIBILITY_CHOICES,
        notice=notice,
        preview=preview,
    ), status


def _preview_of(event: Event) -> dict[str, Any]:
    """What the event form's preview says of the event as saving it gives it: its rule in words
    and its next dates (or its one date), in its zone and in the event page's words."""
    tz = event.tz
    first = event.starts_at.date() if event.all_day else event.starts_at.replace(tzinfo=tz)
    preview: dict[str, Any] = {
        "timezone": event.timezone,
        "repeats": recurrence_words(event),
        "first": first,
        "when": event_words(event, long=True),
        "dates": [],
        "most": SERIES_PREVIEW,
    }
    if event.rrule:
        preview["dates"] = next_dates(event)
    return preview


def next_dates(
    event: Event,
    counts: dict[tuple[str, str], dict[str, int]] | None = None,
    most: int = SERIES_PREVIEW,
) -> list[dict[str, Any]]:
    """A series' next `most` dates as the pages list them (dates.html), in the event's zone:
    moved and cancelled ones marked, and with `counts` (attendance_of) who is going."""
    now = datetime.now(UTC)
    # From now, or from the first date if it is later: a series planned far ahead still shows
    # its first dates.
    horizon = max(now, event.first_start) + timedelta(days=2 * 366)
    dates = []
    for occurrence in event.occurrences(now, horizon)[:most]:
        original = occurrence.original_start
        title = event.occurrence_text(occurrence, "title")
        dates.append(
            {
                "when": occurrence_words(occurrence),
                "starts_at": occurrence.starts_at.date() if event.all_day else occurrence.starts_at,
                # Whole days are the same days everywhere: only timed dates name their zone.
                "zone": None if event.all_day else event.timezone,
                "cancelled": occurrence.status == CANCELLED,
                # Where a moved date was, so people who noted it see it is not then.
                "moved_from": moved_from_words(event, occurrence),
                "title": title if title != event.title else None,
                # How the date is named in its address (pages.edit_date).
                "original": minutes(original),
                "going": (
                    going_words(counts.get((event.id, event.key_of(original).isoformat())))
                    if counts is not None
                    else None
                ),
            }
        )
    return dates


def _previewed(
    community: Community,
    form: dict[str, Any],
    picker: Picker,
    values: dict[str, Any],
    errors: dict[str, str],
    event: Event | None = None,
) -> Any:
    """The form again as it was typed, with the dates the event would have if it were saved
    now, or what to fix first. Nothing is saved."""
    if not errors:
        try:
            planned = planned_event(values, community, event)
        except Invalid as error:
            errors = form_errors(error.errors, form, picker)
    if errors:
        return _render_event_form(
            community, form, picker, errors, 422, event=event, preview={"problems": True}
        )
    preview = {**_preview_of(planned), "unsaved": True}
    return _render_event_form(community, form, picker, {}, event=event, preview=preview)


@bp.route("/c/<slug>/events/new", methods=["GET", "POST"])
@page_errors
def new_event(slug: str) -> Any:
    ctx = request_context()
    with store().begin() as uow:
        community = _organizer_community(uow, ctx, slug)
    if request.method == "GET":
        form = event_form({"timezone": community.timezone, "visibility": "community"})
        return _render_event_form(community, form, Picker(), {})
    form = event_form(request.form)
    picker = Picker.from_form(request.form)
    values, errors = event_values(form, picker, community)
    if "preview" in request.form:
        return _previewed(community, form, picker, values, errors)
    if not errors:
        try:
            with store().begin() as uow:
                community = _organizer_community(uow, ctx, slug)
                event = operations.schedule_event(uow, ctx, community, values)
        except Invalid as error:
            errors = form_errors(error.errors, form, picker)
    if errors:
        return _render_event_form(community, form, picker, errors, 422)
    flash(f"Scheduled {event.title}.")
    return redirect(url_for(".event_page", event_id=event.id))


@bp.get("/events/<event_id>")
@page_errors
def event_page(event_id: str) -> Any:
    ctx = request_context()
    with store().begin() as uow:
        event, community, role = operations.event_for(uow, ctx, event_id)
        counts = uow.attendance_of([event.id])
        member = uow.member_by_id(ctx.member_id) if ctx.member_id else None
        answers = uow.answers_to(member.email, event.id) if member else {}
    tz = event.tz
    first = event.starts_at.date() if event.all_day else event.starts_at.replace(tzinfo=tz)
    upcoming = next_dates(event, counts) if event.rrule else []
    deadline = event.rsvp_deadline.replace(tzinfo=tz) if event.rsvp_deadline else None
    return render_template(
        "event.html",
        event=event,
        community=community,
        role=role,
        organizer=can_manage(role),
        first=first,
        when=event_words(event, long=True),
        repeats=recurrence_words(event),
        upcoming=upcoming,
        deadline=when(deadline, long=True) if deadline else None,
        ce_hours=number(event.ce_hours),
        guests=guest_words(event.guests_allowed),
        going=None if event.rrule else going_words(counts.get((event.id, ""))),
        answer=answer_form(event, member),
        yours=your_answer(event, answers),
    )


def answer_form(event: Event, member: Member | None) -> dict[str, Any]:
    """What the event page's answer form needs: the dates open to answers (for a series), why
    none is if so, and the signed-in member's details to start from. The rsvps service, which
    takes the form, checks all of it again."""
    now = datetime.now(UTC)
    form = (
        {"name": member.name, "email": member.email, "phone": member.phone or ""} if member else {}
    )
    dates = []
    closed = None
    if event.status == CANCELLED:
        closed = "cancelled"
    elif event.rsvp_deadline and event.rsvp_deadline.replace(tzinfo=event.tz) < now:
        closed = "The RSVP deadline has passed; ask the organizer if there is still room."
    elif event.rrule:
        for occurrence in event.occurrences(now, now + ANSWER_AHEAD):
            if occurrence.status != CANCELLED and occurrence.starts_at > now:
                value = occurrence.original_start.isoformat(timespec="minutes")
                dates.append((value, occurrence_words(occurrence)))
        if len(dates) > 1:
            dates.append(("all", "All upcoming dates"))
        if not dates:
            closed = "No date of this series takes answers now."
    elif event.starts_at.replace(tzinfo=event.tz) <= now:
        closed = "This event has started, so it takes no more answers."
    return {"form": form, "occurrences": dates, "closed": closed}


# What a person answered, as the event page tells them; a withdrawn answer is no answer.
YOUR_ANSWER = {
    "confirmed": "You're going.",
    "waitlisted": "You're on the waitlist.",
    "maybe": "You said maybe.",
    "declined": "You said you can't come.",
}
YOUR_DATES = {
    "confirmed": "going to {}",
    "waitlisted": "on the waitlist for {}",
    "maybe": "maybe for {}",
    "declined": "not going to {}",
}


def your_answer(event: Event, answers: dict[str, str]) -> str | None:
    """The signed-in member's answer in words, from what the rsvps service announced: for a
    series, how many of its dates still to come they answered, and how."""
    now = datetime.now(UTC)
    standing = Counter(
        status
        for key, status in answers.items()
        if status in YOUR_ANSWER
        and (date := answered_date(event, key)) is not None
        and date.ends_at > now
    )
    if not standing:
        return None
    if not event.rrule:
        return YOUR_ANSWER[next(iter(standing))]
    total = sum(standing.values())
    parts = [YOUR_DATES[status].format(count) for status, count in standing.items()]
    dates = "date" if total == 1 else "dates"
    return f"You answered for {total} coming {dates}: {', '.join(parts)}."


def guest_words(limit: int) -> str:
    if limit == 0:
        return "No guests"
    return f"Up to {limit} guest{'s' if limit > 1 else ''} each"


@bp.route("/events/<event_id>/edit", methods=["GET", "POST"])
@page_errors
def edit_event(event_id: str) -> Any:
    ctx = request_context()
    with store().begin() as uow:
        event, community, _ = operations.event_for(uow, ctx, event_id)
        operations.require_organizer(uow, community, ctx)
    if event.status == CANCELLED:
        flash("This event is cancelled, so it can no longer be changed.")
        return redirect(url_for(".event_page", event_id=event.id))
    if request.method == "GET":
        # A series shows its next dates from the start, as the preview would.
        preview = _preview_of(event) if event.rrule else None
        return _render_event_form(
            community,
            form_of_event(event),
            Picker.for_event(event),
            {},
            event=event,
            preview=preview,
        )
    form = event_form(request.form)
    picker = Picker.from_form(request.form)
    values, errors = event_values(form, picker, community, event)
    if "preview" in request.form:
        return _previewed(community, form, picker, values, errors, event)
    if errors:
        return _render_event_form(community, form, picker, errors, 422, event=event)
    try:
        with store().begin() as uow:
            current, _, _ = operations.event_for(uow, ctx, event_id, for_update=True)
            if form["sequence"] != str(current.sequence):
                # Someone saved a change since this form was opened; saving now would undo it.
                form["sequence"] = str(current.sequence)
                notice = (
                    "Someone else changed this event since you opened this form. Check the "
                    "values below against the event page, then save again."
                )
                return _render_event_form(
                    community, form, picker, {}, 409, event=current, notice=notice
                )
            updated, changed = operations.update_event(uow, ctx, current, values)
    except Invalid as error:
        return _render_event_form(
            community, form, picker, form_errors(error.errors, form, picker), 422, event=event
        )
    except Conflict as error:
        flash(sentence(str(error)))
        return redirect(url_for(".event_page", event_id=event.id))
    flash(f"Saved {updated.title}." if changed else "Nothing changed.")
    return redirect(url_for(".event_page", event_id=event.id))


def _cancellable(event: Event) -> list[tuple[str, str]]:
    """The next occurrences still on, as (original local start, words) for the select."""
    now = datetime.now(UTC)
    options = []
    for occurrence in event.occurrences(now, now + timedelta(days=2 * 366)):
        if occurrence.status == CANCELLED:
            continue
        options.append(
            (minutes(occurrence.original_start), occurrence_words(occurrence, end=False))
        )
        if len(options) == CANCELLABLE_OCCURRENCES:
            break
    return options


@bp.route("/events/<event_id>/cancel", methods=["GET", "POST"])
@page_errors
def cancel_event(event_id: str) -> Any:
    ctx = request_context()
    with store().begin() as uow:
        event, community, _ = operations.event_for(uow, ctx, event_id)
        operations.require_organizer(uow, community, ctx)
    if event.status == CANCELLED:
        flash("This event is already cancelled.")
        return redirect(url_for(".event_page", event_id=event.id))
    occurrences = _cancellable(event) if event.rrule else []
    # Nothing is preselected: cancelling is not undone, so the organizer says what they mean.
    form = {"scope": "", "occurrence": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {
            "scope": request.form.get("scope", ""),
            "occurrence": request.form.get("occurrence", ""),
        }
        raw = None
        if event.rrule:
            if form["scope"] not in ("series", "occurrence"):
                errors["scope"] = "choose whether to cancel the whole series or one date"
            elif form["scope"] == "occurrence":
                raw = form["occurrence"] or None
                if raw is None:
                    errors["occurrence"] = "choose the date to cancel"
        if not errors:
            try:
                occurrence = CancelInput().load({"occurrence": raw})["occurrence"]
                with store().begin() as uow:
                    # Cancel the event as it is now, not as it was read above: the use case
                    # saves the whole event, so a stale copy would undo a concurrent edit.
                    current, _, _ = operations.event_for(uow, ctx, event_id, for_update=True)
                    operations.cancel_event(uow, ctx, current, occurrence)
            except ValidationError as error:
                errors = messages_by_field(error)
            except Invalid as error:
                errors = error.errors
        if not errors:
            if occurrence is None:
                flash(f"Cancelled {event.title}" + (", the whole series." if event.rrule else "."))
            else:
                on = occurrence_words(event.occurrence(occurrence), end=False)
                flash(f"Cancelled {event.title} on {on}; the rest of the series goes ahead.")
            return redirect(url_for(".event_page", event_id=event.id))
    return render_template(
        "event_cancel.html",
        event=event,
        community=community,
        form=form,
        errors=errors,
        occurrences=occurrences,
        labels={"scope": "What to cancel", "occurrence": "Date"},
        scopes=[
            ("series", "The whole series", "Every date is called off."),
            ("occurrence", "One date", "Only the date chosen below; the rest go ahead."),
        ],
        when=event_words(event, long=True),
    ), 422 if errors else 200
