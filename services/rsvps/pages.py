"""The rsvps service's pages for attendees, who need no account: the answer form (also shown on
the event page, which posts here) and the manage page behind each RSVP's signed link.

Opening any of these links (GET) only shows a form: mail scanners follow every link in an email
and must change nothing. Every change is a POST with the form's CSRF token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from marshmallow import ValidationError

from services.rsvps import operations
from services.rsvps.api import context, store
from services.rsvps.model import Event
from services.rsvps.operations import Answered, Closed, Current, Invalid, NotFound
from services.rsvps.schemas import RSVP_INPUT
from services.rsvps.seats import CANCELLED, CONFIRMED, DECLINED, MAYBE, WAITLISTED, Rsvp
from shared.inputs import messages_by_field, phone_e164, sentence
from shared.links import rsvp_id_of
from shared.ratelimit import ANSWERS_PER_CLIENT
from shared.timewords import day_words, when
from shared.web import rate_limit

bp = Blueprint("rsvps_pages", __name__, url_prefix="/rsvps")

ALL_UPCOMING = "all"  # the occurrence chooser's value for "every coming date"
FIELDS = ("response", "occurrence", "guests", "name", "email", "phone")
LABELS = {
    "response": "Are you coming?",
    "occurrence": "Which date",
    "guests": "Guests",
    "name": "Your name",
    "email": "Email",
    "phone": "Mobile phone",
}
BAD_LINK = (
    "This link does not open an RSVP. Check that you copied the whole link from your email; "
    "if it still does not work, answer again from the event page."
)


@bp.route("/events/<event_id>/answer", methods=["GET", "POST"])
def answer(event_id: str) -> Any:
    """The answer form on a page of its own (for links in emails, and to show errors); the
    event page posts the same form here."""
    with store().begin() as uow:
        event = uow.event(event_id)
    if event is None:
        abort(404, description="There is no such event. Check the link, or ask the organizer.")
    ctx = context()
    dates = operations.open_dates(event, ctx.now) if event.rrule else []
    closed = None if dates else operations.closed_reason(event, None, ctx.now)
    if event.rrule and not dates:
        closed = "no date of this series takes answers now"
    if request.method == "GET":
        form = {name: request.args.get(name, "") for name in FIELDS}
        return _answer_page(event, form, dates, {}, closed)
    rate_limit(ANSWERS_PER_CLIENT, "rsvp")
    form = {name: request.form.get(name, "").strip() for name in FIELDS}
    if closed:
        return _answer_page(event, form, dates, {}, closed, 409)
    values, errors = rsvp_values(form)
    if not errors:
        try:
            with store().begin() as uow:
                if values.pop("all_upcoming"):
                    answers = operations.answer_all(uow, ctx, event_id, values)
                else:
                    answers = [operations.answer(uow, ctx, event_id, values)]
        except Invalid as error:
            errors = error.errors
        except Closed as error:
            return _answer_page(event, form, dates, {}, str(error), 409)
    if errors:
        return _answer_page(event, form, dates, errors, None, 422)
    return _answered(event, answers)


def _answered(event: Event, answers: list[Answered]) -> Any:
    """After an answer: its new RSVP's manage page; or, when the email had answered before, a
    page that says what was saved without the manage link, which is its owner's to have."""
    created = [answered for answered in answers if answered.created]
    flash(_flash_words(answers))
    if created:
        return redirect(created[0].manage_url)
    return render_template(
        "answered.html",
        event=event,
        answers=[(_date_words(event, a.rsvp.occurrence), _status_words(a.rsvp, a.waitlist_position))
                 for a in answers],
    )  # fmt: skip


@bp.get("/events/<event_id>/mine")
def mine(event_id: str) -> Any:
    """A signed-in member's own answers to an event, found by the address their sign-in link
    proved: the event page links here, as only this service knows places on the waitlist. One
    answer opens its manage page; a series' several answers are listed, each with its link."""
    email = session.get("email")
    if not isinstance(email, str):
        return redirect("/sign-in?" + urlencode({"next": request.path}))
    ctx = context()
    with store().begin() as uow:
        event = uow.event(event_id)
        if event is None:
            abort(404, description="There is no such event. Check the link, or ask the organizer.")
        answers = [
            (
                operations.current(uow, ctx, rsvp.id),
                operations.manage_url(ctx, rsvp.id),
            )
            for rsvp in uow.rsvps_of(event_id, email)
            if rsvp.status != CANCELLED
        ]
    if not answers:
        flash("You have not answered this event yet.")
        return redirect(f"/events/{event_id}")
    if len(answers) == 1:
        return redirect(answers[0][1])
    return render_template(
        "mine.html",
        event=event,
        answers=[
            (
                _date_words(event, found.rsvp.occurrence),
                _status_words(found.rsvp, found.waitlist_position),
                link,
            )
            for found, link in answers
        ],
    )


@bp.get("/manage/<token>")
def manage(token: str) -> Any:
    current = _current(token)
    form = {"response": current.rsvp.response, "guests": str(current.rsvp.guests),
            "name": current.rsvp.name, "phone": current.rsvp.phone or ""}  # fmt: skip
    if current.rsvp.status == CANCELLED:
        form["response"] = ""
    return _manage_page(token, current, form, {})


@bp.post("/manage/<token>")
def change(token: str) -> Any:
    current = _current(token)
    rsvp = current.rsvp
    form = {name: request.form.get(name, "").strip() for name in FIELDS}
    form.update(email=rsvp.email, occurrence=_occurrence_value(current.event, rsvp.occurrence))
    if current.closed:
        return _manage_page(token, current, form, {}, 409)
    values, errors = rsvp_values(form)
    if not errors:
        try:
            with store().begin() as uow:
                answered = operations.answer(uow, context(), rsvp.event_id, values)
        except Invalid as error:
            errors = error.errors
        except Closed as error:
            return _manage_page(token, _current(token, closed=str(error)), form, {}, 409)
    if errors:
        return _manage_page(token, current, form, errors, 422)
    flash(_flash_words([answered]))
    return redirect(url_for(".manage", token=token))


@bp.post("/manage/<token>/cancel")
def cancel(token: str) -> Any:
    current = _current(token)
    if current.closed:
        form = {"response": current.rsvp.response, "guests": str(current.rsvp.guests)}
        return _manage_page(token, current, form, {}, 409)
    if current.rsvp.status != CANCELLED:
        with store().begin() as uow:
            operations.cancel(uow, context(), current.rsvp.id)
        flash("Your RSVP is cancelled. Thank you for letting the organizer know.")
    return redirect(url_for(".manage", token=token))


def rsvp_values(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The answer form's strings as the API's typed values, or the errors in them by field."""
    data: dict[str, Any] = {
        "name": form.get("name", ""),
        "email": form.get("email", ""),
        "response": form.get("response", ""),
    }
    errors: dict[str, str] = {}
    if not data["response"]:
        errors["response"] = "choose yes, no or maybe"
    guests = form.get("guests", "")
    if guests:
        if guests.isdigit():
            data["guests"] = int(guests)
        else:
            errors["guests"] = "give the number of guests as a whole number, like 1"
    occurrence = form.get("occurrence", "")
    if occurrence and occurrence != ALL_UPCOMING:
        data["occurrence"] = occurrence
    try:
        values = RSVP_INPUT.load(data)
    except ValidationError as error:
        values = {}
        errors = {**messages_by_field(error), **errors}
    try:
        values["phone"] = phone_e164(form.get("phone"))
    except ValidationError as error:
        errors["phone"] = str(error.messages[0])
    values["all_upcoming"] = occurrence == ALL_UPCOMING
    return values, {name: errors[name] for name in FIELDS if name in errors}


def _current(token: str, closed: str | None = None) -> Current:
    rsvp_id = rsvp_id_of(current_app.config["SECRET_KEY"], token)
    if rsvp_id is None:
        abort(404, description=BAD_LINK)
    try:
        with store().begin() as uow:
            found = operations.current(uow, context(), rsvp_id)
    except NotFound:
        abort(404, description=BAD_LINK)
    if closed:
        return Current(found.rsvp, found.event, found.waitlist_position, closed)
    return found


def _answer_page(
    event: Event,
    form: Mapping[str, str],
    dates: list[datetime],
    errors: dict[str, str],
    closed: str | None,
    status: int = 200,
) -> Any:
    occurrences = [(_occurrence_value(event, key), _date_words(event, key)) for key in dates]
    if len(occurrences) > 1:
        occurrences.append((ALL_UPCOMING, "All upcoming dates"))
    return render_template(
        "answer.html",
        event=event,
        when=None if event.rrule else _date_words(event, None),
        form=form,
        occurrences=occurrences,
        errors=errors,
        labels=LABELS,
        closed=sentence(closed) if closed else None,
    ), status


def _manage_page(
    token: str, current: Current, form: Mapping[str, str], errors: dict[str, str], status: int = 200
) -> Any:
    rsvp, event = current.rsvp, current.event
    return render_template(
        "manage.html",
        token=token,
        event=event,
        rsvp=rsvp,
        when=_date_words(event, rsvp.occurrence),
        starts_at=event.local_start_of(rsvp.occurrence).replace(tzinfo=event.series.tz),
        status=_status_words(rsvp, current.waitlist_position),
        form=form,
        errors=errors,
        labels=LABELS,
        closed=sentence(current.closed) if current.closed else None,
    ), status


def _occurrence_value(event: Event, key: datetime | None) -> str:
    """A date of a series as forms name it: its original local start now."""
    return event.original_of(key).isoformat(timespec="minutes") if key else ""


def _date_words(event: Event, key: datetime | None) -> str:
    """When the date named `key` takes place (where it was moved to, if it was), in words in
    the event's zone; the one-off event's date if `key` is None."""
    start, end = event.local_start_of(key), event.local_end_of(key)
    if event.all_day:
        return day_words(start.date(), (end - timedelta(days=1)).date())
    tz = event.series.tz
    return when(start.replace(tzinfo=tz), end.replace(tzinfo=tz))


def _status_words(rsvp: Rsvp, position: int | None) -> str:
    guests = f" with {rsvp.guests} guest{'s' * (rsvp.guests > 1)}" if rsvp.guests else ""
    if rsvp.status == CONFIRMED:
        return f"You're going{guests}."
    if rsvp.status == WAITLISTED:
        return (
            f"You're number {position} on the waitlist{guests}. If a seat frees up, it's yours "
            "automatically and we'll tell you."
        )
    if rsvp.status == MAYBE:
        return "You said maybe. A maybe holds no seat: answer yes to get one."
    if rsvp.status == DECLINED:
        return "You said you can't come."
    return "You cancelled this RSVP."


def _flash_words(answers: list[Answered]) -> str:
    """What was saved, like "Saved. You're going." or, for all upcoming dates, "Saved your
    answer for 3 dates: going to 2, on the waitlist for 1." """
    if len(answers) == 1:
        answered = answers[0]
        return "Saved. " + _status_words(answered.rsvp, answered.waitlist_position)
    by_status = Counter(answered.rsvp.status for answered in answers)
    if len(by_status) == 1:
        return f"Saved: {STATUS_PHRASES[answers[0].rsvp.status]} all {len(answers)} dates."
    parts = [f"{STATUS_PHRASES[status]} {count}" for status, count in by_status.items()]
    return f"Saved your answer for {len(answers)} dates: " + ", ".join(parts) + "."


STATUS_PHRASES = {
    CONFIRMED: "going to",
    WAITLISTED: "on the waitlist for",
    MAYBE: "maybe for",
    DECLINED: "not going to",
    CANCELLED: "cancelled for",
}
