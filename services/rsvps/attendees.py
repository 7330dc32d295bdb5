"""The organizers' attendee lists as a page and as a CSV download (the JSON is in api.py).

Both answer to the shared session cookie (the page's own visitors) and to a Bearer token (a
script fetching the CSV). Someone signed out is sent to sign in and back; someone signed in who
does not organize the event's community gets a 403 page.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from marshmallow import ValidationError

from services.rsvps import operations
from services.rsvps.auth import current_member_id
from services.rsvps.model import Event
from services.rsvps.operations import Attendees, Forbidden, Invalid, NotFound, SignInRequired
from services.rsvps.roster import SECTIONS, OccurrenceRoster, rosters
from services.rsvps.schemas import AttendeesQuery
from services.rsvps.seats import CONFIRMED, DECLINED, MAYBE, WAITLISTED

bp = Blueprint("attendees", __name__, url_prefix="/rsvps/events")

HEADINGS = {CONFIRMED: "Going", WAITLISTED: "Waitlist", MAYBE: "Maybe", DECLINED: "Not going"}
CSV_COLUMNS = [
    "occurrence", "status", "waitlist_position", "name", "email", "phone", "response", "guests",
    "seats", "answered_at", "updated_at",
]  # fmt: skip
# A cell a spreadsheet would read as a formula (OWASP, "CSV Injection"): = + - @, tab, return.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def page_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the use case's refusals into what a browser or a script expects."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except SignInRequired:
            if "Authorization" in request.headers:
                abort(401, description="That API token is not one we know.")
            return redirect(f"/sign-in?{urlencode({'next': request.full_path.rstrip('?')})}")
        except Forbidden:
            abort(
                403, description="Only the organizers of this event's community see who is coming."
            )
        except NotFound:
            abort(404, description="There is no such event.")
        except (Invalid, ValidationError):
            abort(404, description="That date is not one of this event's.")

    return wrapper


def _asked() -> datetime | None:
    occurrence: datetime | None = AttendeesQuery().load(request.args.to_dict())["occurrence"]
    return occurrence


def _attendees(event_id: str, occurrence: datetime | None) -> Attendees:
    member_id = current_member_id()
    with current_app.extensions["hearth.store"].begin() as uow:
        return operations.attendees(uow, member_id, event_id, occurrence)


@bp.get("/<event_id>/attendees")
@page_errors
def page(event_id: str) -> Any:
    everything = _attendees(event_id, None)  # first: who asks decides what errors say
    event = everything.event
    asked = _asked()
    now = datetime.now(UTC)
    if asked is not None:
        shown = _attendees(event_id, asked).occurrences[0]
    else:
        shown = _default_occurrence(event, everything.occurrences, now)
    # The chooser of a series: its dates with answers, and the one shown even if it has none.
    dates = {listed.occurrence: listed for listed in everything.occurrences}
    dates.setdefault(shown.occurrence, shown)
    ordered = sorted(dates.values(), key=lambda listed: listed.local_start)
    csv_query = f"?{urlencode({'occurrence': _key(shown.original_start)})}" if event.rrule else ""
    body = render_template(
        "attendees.html",
        event=event,
        community=everything.community,
        shown=shown,
        coming=[listed for listed in ordered if listed.upcoming(now)],
        past=[listed for listed in ordered if not listed.upcoming(now)],
        sections=[(status, HEADINGS[status], shown.section(status)) for status in SECTIONS],
        when=when,
        key=_key,
        csv_one=f"{request.path}.csv{csv_query}",
        csv_all=f"{request.path}.csv",
    )
    return Response(body, headers={"Cache-Control": "no-store"})


def _default_occurrence(
    event: Event, answered: list[OccurrenceRoster], now: datetime
) -> OccurrenceRoster:
    """What the page shows unless a date is asked for: the next date with answers; else the
    series' next date; else the latest date with answers (all are past)."""
    coming = [listed for listed in answered if listed.upcoming(now)]
    if coming:
        return coming[0]
    if event.rrule:
        for start in event.series.starts(until=now + timedelta(days=366)):
            key = event.key_of(start.replace(tzinfo=None))
            if start > now and not event.occurrence_cancelled(key):
                return rosters(event, [], [key])[0]
    if answered:
        return answered[-1]
    return rosters(event, [], [event.key_of(event.local_start) if event.rrule else None])[0]


@bp.get("/<event_id>/attendees.csv")
@page_errors
def download(event_id: str) -> Any:
    try:
        asked = _asked()
    except ValidationError:
        _attendees(event_id, None)  # who asks first: sign in, or 403, before a bad date's 404
        raise
    found = _attendees(event_id, asked)
    filename = _filename(found.event, asked)
    return Response(
        "\ufeff" + "".join(_csv_lines(found)),  # the mark lets Excel read accents as UTF-8
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _csv_lines(found: Attendees) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    tz = found.event.series.tz
    for listed in found.occurrences:
        for entry in listed.entries:
            rsvp = entry.rsvp
            writer.writerow(
                [
                    listed.local_start.isoformat(timespec="minutes"),
                    rsvp.status,
                    entry.waitlist_position or "",
                    safe_cell(rsvp.name),
                    safe_cell(rsvp.email),
                    safe_cell(rsvp.phone or ""),
                    rsvp.response,
                    rsvp.guests,
                    entry.seats,
                    _local_instant(rsvp.created_at, tz),
                    _local_instant(rsvp.updated_at, tz),
                ]
            )
    yield buffer.getvalue()


def safe_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading apostrophe keeps what people typed (a
    name like "=HYPERLINK(…)", or a phone number's +) from being run as a formula."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def _local_instant(moment: datetime | None, tz: Any) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment else ""


def _filename(event: Event, occurrence: datetime | None) -> str:
    ascii_title = unicodedata.normalize("NFKD", event.title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:60].strip("-") or "event"
    day = f"-{occurrence:%Y-%m-%d}" if occurrence and event.rrule else ""
    return f"{slug}{day}-attendees.csv"


def _key(occurrence: datetime | None) -> str:
    return occurrence.isoformat(timespec="minutes") if occurrence else ""


def when(moment: datetime) -> str:
    """Like "Thursday 3 December 2026, 12:00 PM", in the event's own zone."""
    hour = moment.hour % 12 or 12
    return (
        f"{moment:%A} {moment.day} {moment:%B %Y}, {hour}:{moment:%M} "
        f"{'AM' if moment.hour < 12 else 'PM'}"
    )
