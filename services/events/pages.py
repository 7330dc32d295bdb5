"""The events service's HTML pages: home, communities and the organizers' forms.

Forms post strings; each view turns them into the same typed values the JSON API's schemas
produce and hands them to the use cases in `operations`, which hold every rule. Errors come back
as `{field: message}` and are shown next to their fields, with everything the person typed kept.
"""

from __future__ import annotations

import calendar
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, wraps
from typing import Any
from zoneinfo import available_timezones

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

from services.events import operations
from services.events.auth import current_member_id, request_context
from services.events.model import (
    CANCELLED,
    KINDS,
    ROLES,
    Community,
    Event,
    Invalid,
    build_event,
    can_manage,
    parse_recurrence,
    zone,
)
from services.events.operations import Conflict, Context, Forbidden, NotFound
from services.events.schemas import (
    CancelInput,
    CommunityInput,
    EventInput,
    MemberInput,
    messages_by_field,
    phone_e164,
)

bp = Blueprint("pages", __name__)

UPCOMING = timedelta(weeks=8)
CANCELLABLE_OCCURRENCES = 12
SERIES_PREVIEW = 6

KIND_LABELS = {
    "peer_lunch": "Peer lunch",
    "consult_group": "Consult group",
    "celebration": "Celebration",
    "training": "Training",
    "social": "Social",
}
ROLE_LABELS = {"member": "Member", "organizer": "Organizer"}
EVENT_VISIBILITY_CHOICES = [
    ("community", "Community", "Members of this community can see it."),
    (
        "private",
        "Private",
        "Members only, and its description stays inside Hearth: never in feeds, emails or texts.",
    ),
    ("public", "Public", "Anyone with the link can see it (consult groups cannot be public)."),
]
COMMUNITY_VISIBILITY_CHOICES = [
    ("private", "Private", "Only members can see the community and its events."),
    ("public", "Public", "Anyone can see the community and its public events."),
]

# The zones most communities use, with names people recognise, before the full IANA list.
COMMON_ZONES = [
    ("America/New_York", "Eastern Time (New York, Toronto)"),
    ("America/Chicago", "Central Time (Chicago, Winnipeg)"),
    ("America/Denver", "Mountain Time (Denver, Edmonton)"),
    ("America/Phoenix", "Mountain Time without DST (Phoenix)"),
    ("America/Los_Angeles", "Pacific Time (Los Angeles, Vancouver)"),
    ("America/Anchorage", "Alaska Time (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii Time (Honolulu)"),
    ("America/Halifax", "Atlantic Time (Halifax)"),
    ("America/St_Johns", "Newfoundland Time (St. John's)"),
    ("America/Mexico_City", "Mexico City"),
    ("Europe/London", "United Kingdom (London)"),
    ("Europe/Dublin", "Ireland (Dublin)"),
    ("Europe/Lisbon", "Portugal (Lisbon)"),
    ("Europe/Paris", "Central European Time (Paris, Brussels)"),
    ("Europe/Berlin", "Central European Time (Berlin, Vienna, Zurich)"),
    ("Europe/Amsterdam", "Central European Time (Amsterdam)"),
    ("Europe/Madrid", "Central European Time (Madrid)"),
    ("Europe/Rome", "Central European Time (Rome)"),
    ("Europe/Stockholm", "Central European Time (Stockholm, Oslo, Copenhagen)"),
    ("Europe/Warsaw", "Central European Time (Warsaw, Prague)"),
    ("Europe/Athens", "Eastern European Time (Athens)"),
    ("Europe/Helsinki", "Eastern European Time (Helsinki)"),
    ("Australia/Perth", "Australian Western Time (Perth)"),
    ("Australia/Darwin", "Australian Central Time (Darwin)"),
    ("Australia/Adelaide", "Australian Central Time (Adelaide)"),
    ("Australia/Brisbane", "Australian Eastern Time without DST (Brisbane)"),
    ("Australia/Sydney", "Australian Eastern Time (Sydney, Canberra)"),
    ("Australia/Melbourne", "Australian Eastern Time (Melbourne)"),
    ("Australia/Hobart", "Australian Eastern Time (Hobart)"),
    ("Pacific/Auckland", "New Zealand (Auckland)"),
    ("UTC", "UTC"),
]
ZONE_REGIONS = (
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
    "Indian", "Pacific",
)  # fmt: skip
DEFAULT_ZONE = "America/New_York"

EVENT_LABELS = {
    "kind": "Kind of event",
    "title": "Title",
    "description": "Description",
    "starts_at": "Starts",
    "ends_at": "Ends",
    "timezone": "Time zone",
    "rrule": "Repeats",
    "interval": "Number of weeks",
    "ends": "Series ends",
    "count": "Number of times",
    "until": "Last date",
    "location": "Location",
    "online_url": "Online link",
    "capacity": "Capacity",
    "rsvp_deadline": "RSVP deadline",
    "visibility": "Who can see it",
    "honoree_email": "Honoree's email",
    "surprise": "Surprise",
    "ce_hours": "CE hours",
    "presenter": "Presenter",
}
COMMUNITY_LABELS = {
    "name": "Name",
    "slug": "Web address",
    "timezone": "Time zone",
    "description": "Description",
    "visibility": "Who can see it",
}
MEMBER_LABELS = {"email": "Email", "name": "Name", "phone": "Mobile phone", "role": "Role"}


def store():  # type: ignore[no-untyped-def]
    return current_app.extensions["hearth.store"]


def _sign_in_redirect() -> Any:
    """Send a signed-out visitor to sign in, and back here afterwards."""
    query = request.method == "GET" and request.query_string
    back = request.full_path if query else request.path
    return redirect(url_for("auth.sign_in", next=back))


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def page_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the use cases' NotFound and Forbidden into friendly 404 and 403 pages; a signed-out
    visitor is asked to sign in instead (which reveals nothing about what exists)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except NotFound as error:
            if current_member_id() is None:
                return _sign_in_redirect()
            abort(404, description=_sentence(str(error)))
        except Forbidden as error:
            if current_member_id() is None:
                return _sign_in_redirect()
            abort(403, description=_sentence(str(error)))

    return wrapper


def _blank_to_none(value: str) -> str | None:
    value = value.strip()
    return value or None


# --- Words for times and rules ---------------------------------------------------------------


def _zone_abbreviation(moment: datetime) -> str:
    name = moment.tzname() or ""
    # Zones without a well-known abbreviation report an offset such as "+03".
    return f"UTC{name}" if name[:1] in "+-" else name


def _day(moment: datetime, long: bool, today: date) -> str:
    if long:
        return f"{moment:%A} {moment.day} {moment:%B} {moment.year}"
    text = f"{moment:%a} {moment.day} {moment:%b}"
    return text if moment.year == today.year else f"{text} {moment.year}"


DASH = "\u2013"  # the en dash of time ranges


def when(start: datetime, end: datetime | None = None, long: bool = False) -> str:
    """A time range in words, in the zone of `start`, like "Thu 3 Dec, 12:00-13:30 EST" (with
    an en dash)."""
    today = datetime.now(start.tzinfo).date()
    first = _day(start, long, today)
    if end is None:
        return f"{first}, {start:%H:%M} {_zone_abbreviation(start)}"
    end = end.astimezone(start.tzinfo)
    start_zone, end_zone = _zone_abbreviation(start), _zone_abbreviation(end)
    if start.date() == end.date():
        if start_zone == end_zone:
            return f"{first}, {start:%H:%M}{DASH}{end:%H:%M} {start_zone}"
        return f"{first}, {start:%H:%M} {start_zone} {DASH} {end:%H:%M} {end_zone}"
    last = _day(end, long, today)
    if start_zone == end_zone:
        return f"{first}, {start:%H:%M} {DASH} {last}, {end:%H:%M} {start_zone}"
    return f"{first}, {start:%H:%M} {start_zone} {DASH} {last}, {end:%H:%M} {end_zone}"


WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_NAMES = dict(zip(WEEKDAY_CODES, calendar.day_name, strict=True))
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last"}


def _nth_of_month(day: date) -> int:
    return (day.day - 1) // 7 + 1


def _is_last_of_month(day: date) -> bool:
    return day.day + 7 > calendar.monthrange(day.year, day.month)[1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def recurrence_words(event: Event) -> str | None:
    """The event's repeat rule in words where that is easy, else the RRULE itself."""
    recurrence = event.recurrence
    if recurrence is None:
        return None
    parts = dict(recurrence.parts)
    freq, interval = parts.pop("FREQ"), int(parts.pop("INTERVAL", "1"))
    count, until = parts.pop("COUNT", None), parts.pop("UNTIL", None)
    byday = parts.pop("BYDAY", None)
    days = byday.split(",") if byday else []
    text = None
    if parts:  # BYMONTH, BYSETPOS, WKST and the like: say it exactly rather than half-right.
        pass
    elif freq == "DAILY" and not days:
        text = "Every day" if interval == 1 else f"Every {interval} days"
    elif freq == "WEEKLY" and all(day in WEEKDAY_NAMES for day in days):
        names = [WEEKDAY_NAMES[day] for day in days] or [f"{event.starts_at:%A}"]
        every = "Every week" if interval == 1 else f"Every {interval} weeks"
        text = f"{every} on {_join(names)}"
    elif freq == "MONTHLY" and len(days) == 1 and days[0][-2:] in WEEKDAY_NAMES:
        n = int(days[0][:-2] or 0)
        if n in ORDINALS:
            every = "Every month" if interval == 1 else f"Every {interval} months"
            text = f"{every} on the {ORDINALS[n]} {WEEKDAY_NAMES[days[0][-2:]]}"
    elif freq == "MONTHLY" and not days:
        every = "Every month" if interval == 1 else f"Every {interval} months"
        text = f"{every} on day {event.starts_at.day}"
    elif freq == "YEARLY" and not days and interval == 1:
        text = f"Every year on {event.starts_at.day} {event.starts_at:%B}"
    if text is None:
        return f"Repeats by the rule {recurrence.text}"
    if count:
        text += f", {_plural(int(count), 'time')}"
    elif until:
        instant = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        last = instant.astimezone(event.tz)
        text += f", until {last:%A} {last.day} {last:%B} {last.year}"
    return text


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --- The recurrence picker -------------------------------------------------------------------

PICKER_FIELDS = {"rrule", "interval", "ends", "count", "until"}
REPEAT_CHOICES = ("none", "weekly", "weeks", "monthly_nth", "monthly_last", "custom")
END_CHOICES = ("never", "count", "until")


@dataclass(frozen=True)
class Picker:
    """What the recurrence part of the event form says, as the strings it posts."""

    repeat: str = "none"
    interval: str = "2"
    rrule: str = ""  # the custom rule
    ends: str = "never"
    count: str = ""
    until: str = ""

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> Picker:
        repeat = form.get("repeat", "none")
        ends = form.get("ends", "never")
        return cls(
            repeat=repeat if repeat in REPEAT_CHOICES else "none",
            interval=form.get("interval", "").strip(),
            rrule=form.get("rrule", "").strip(),
            ends=ends if ends in END_CHOICES else "never",
            count=form.get("count", "").strip(),
            until=form.get("until", "").strip(),
        )

    def rule(self, start: date | None) -> tuple[str | None, dict[str, str]]:
        """The RRULE these choices mean for a series starting on `start`, and what is wrong.

        The weekday and its place in the month come from the start date, so the preset rules
        always include their own first date. The model checks the result like any other rule.
        """
        errors: dict[str, str] = {}
        if self.repeat == "none":
            return None, errors
        if self.repeat == "custom":
            base = self.rrule
            if not base:
                errors["rrule"] = (
                    "write the rule, such as FREQ=WEEKLY;BYDAY=TH, or choose another option"
                )
                return None, errors
            keys = {
                piece.partition("=")[0].strip().upper().removeprefix("RRULE:")
                for piece in base.split(";")
            }
            if self.ends != "never" and keys & {"COUNT", "UNTIL"}:
                errors["ends"] = (
                    "the custom rule already says when it ends (COUNT or UNTIL): choose "
                    "“never” here, or take that part out of the rule"
                )
        elif start is None:
            return None, errors  # the start itself is wrong; that error says what to do
        else:
            day = WEEKDAY_CODES[start.weekday()]
            if self.repeat == "weekly":
                base = f"FREQ=WEEKLY;BYDAY={day}"
            elif self.repeat == "weeks":
                try:
                    weeks = int(self.interval)
                except ValueError:
                    errors["interval"] = "give the number of weeks as a whole number, like 2"
                    weeks = 1
                interval = f";INTERVAL={weeks}" if weeks != 1 else ""
                base = f"FREQ=WEEKLY{interval};BYDAY={day}"
            elif self.repeat == "monthly_nth":
                base = f"FREQ=MONTHLY;BYDAY={_nth_of_month(start)}{day}"
            else:
                if not _is_last_of_month(start):
                    ordinal = ORDINALS[_nth_of_month(start)]
                    errors["rrule"] = (
                        f"{start:%A} {start.day} {start:%B} is not the last {start:%A} of its "
                        f"month: choose “monthly on the {ordinal} {start:%A}”, or move the start"
                    )
                base = f"FREQ=MONTHLY;BYDAY=-1{day}"
        if self.ends == "count":
            try:
                base += f";COUNT={int(self.count)}"
            except ValueError:
                errors["count"] = "give how many times as a whole number, like 10"
        elif self.ends == "until":
            try:
                base += f";UNTIL={date.fromisoformat(self.until):%Y%m%d}"
            except ValueError:
                errors["until"] = "give the last date, like 2027-06-30"
        return base, errors

    def place(self, errors: dict[str, str]) -> dict[str, str]:
        """Move the model's error about the built rule next to the input it comes from."""
        message = errors.get("rrule")
        if not message:
            return errors
        target = "rrule"
        if message.startswith("COUNT") and self.ends == "count":
            target = "count"
        elif self.ends == "until" and (message.startswith("UNTIL")):
            target = "until"
        elif message.startswith("INTERVAL") and self.repeat == "weeks":
            target = "interval"
        if target != "rrule" and target not in errors:
            errors = {**errors}
            errors[target] = errors.pop("rrule")
        return errors

    @classmethod
    def for_event(cls, event: Event) -> Picker:
        """The picker state that gives back the event's stored rule, or "custom" with the rule
        as it is when no preset does (so saving the form unchanged changes nothing)."""
        if not event.rrule:
            return cls()
        parts = dict(part.split("=", 1) for part in event.rrule.split(";"))
        ends, count, until = "never", "", ""
        if "COUNT" in parts:
            ends, count = "count", parts.pop("COUNT")
        elif "UNTIL" in parts:
            instant = datetime.strptime(parts.pop("UNTIL"), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            ends, until = "until", instant.astimezone(event.tz).date().isoformat()
        start = event.starts_at.date()
        day = WEEKDAY_CODES[start.weekday()]
        repeat, interval = "custom", "2"
        if parts == {"FREQ": "WEEKLY", "BYDAY": day}:
            repeat = "weekly"
        elif (
            parts.keys() == {"FREQ", "INTERVAL", "BYDAY"}
            and parts["FREQ"] == "WEEKLY"
            and (parts["BYDAY"] == day)
        ):
            repeat, interval = "weeks", parts["INTERVAL"]
        elif parts == {"FREQ": "MONTHLY", "BYDAY": f"{_nth_of_month(start)}{day}"}:
            repeat = "monthly_nth"
        elif parts == {"FREQ": "MONTHLY", "BYDAY": f"-1{day}"}:
            repeat = "monthly_last"
        picker = cls(repeat=repeat, interval=interval, ends=ends, count=count, until=until)
        if repeat != "custom":
            built, errors = picker.rule(start)
            if not errors and built is not None and _same_rule(built, event):
                return picker
        return cls(repeat="custom", rrule=event.rrule)

    def choices(self, start: date | None) -> list[tuple[str, str]]:
        """The repeat options, in words fitted to the start date when it is known."""
        if start is None:
            weekly = "Every week"
            nth = "Monthly on the same weekday as the start (such as the 2nd Tuesday)"
            last = "Monthly on the last such weekday (such as the last Friday)"
        else:
            weekly = f"Every week on {start:%A}"
            nth = f"Monthly on the {ORDINALS[_nth_of_month(start)]} {start:%A}"
            last = f"Monthly on the last {start:%A}"
        options = [("none", "Does not repeat"), ("weekly", weekly), ("weeks", "Every N weeks")]
        options.append(("monthly_nth", nth))
        # "Last" only makes sense when the start is the last such weekday of its month.
        if start is None or _is_last_of_month(start) or self.repeat == "monthly_last":
            options.append(("monthly_last", last))
        options.append(("custom", "Custom rule (RRULE)"))
        return options


def _same_rule(built: str, event: Event) -> bool:
    """Whether the picker's rule is the event's stored rule, once both are in the model's
    normal form (the stored one already is; UNTIL, for one, is kept in UTC)."""
    try:
        return parse_recurrence(built, event.starts_at, event.tz).text == event.rrule
    except ValueError:
        return False


# --- Form values -----------------------------------------------------------------------------

EVENT_TEXT_FIELDS = (
    "kind", "title", "description", "starts_at", "ends_at", "timezone", "location", "online_url",
    "capacity", "rsvp_deadline", "visibility", "honoree_email", "ce_hours", "presenter",
)  # fmt: skip
# Required by the schema: an empty one stays "" so its message says what to fill in.
EVENT_REQUIRED = ("kind", "title", "starts_at", "ends_at", "visibility")


def _event_form(form: Mapping[str, str]) -> dict[str, Any]:
    """What the event form posted, as strings (and a flag), to show again after an error."""
    values: dict[str, Any] = {name: form.get(name, "") for name in EVENT_TEXT_FIELDS}
    values["surprise"] = bool(form.get("surprise"))
    values["sequence"] = form.get("sequence", "")
    return values


def _event_values(
    form: dict[str, Any], picker: Picker, community: Community, current: Event | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed values the API's EventInput schema gives, and the fields that need fixing."""
    data: dict[str, Any] = {}
    for name in EVENT_TEXT_FIELDS:
        raw = form[name]
        data[name] = raw if name in EVENT_REQUIRED else _blank_to_none(raw)
    if data["description"]:
        data["description"] = data["description"].replace("\r\n", "\n")
    if data["capacity"] is not None:
        # Left as text when it is not a number: the schema then says it must be a whole number.
        with contextlib.suppress(ValueError):
            data["capacity"] = int(data["capacity"])
    data["surprise"] = form["surprise"]
    start = _local_datetime(form["starts_at"])
    data["rrule"], errors = picker.rule(start.date() if start else None)
    try:
        values = EventInput().load(data)
    except ValidationError as error:
        errors = {**messages_by_field(error), **errors}
        values = dict(error.valid_data or {})  # type: ignore[call-overload]
    if errors:
        errors = {**_domain_errors(values, errors, picker, community, current), **errors}
    return values, _in_form_order(errors)


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


def _in_form_order(errors: dict[str, str]) -> dict[str, str]:
    """Errors in the order of the form, so the summary at the top reads like the page."""
    position = {name: index for index, name in enumerate(FORM_ORDER)}
    return dict(sorted(errors.items(), key=lambda item: position.get(item[0], len(position))))


def _local_datetime(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _minutes(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else ""


def _number(value: float | int | None) -> str:
    return "" if value is None else f"{value:g}"


def _form_of_event(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "title": event.title,
        "description": event.description,
        "starts_at": _minutes(event.starts_at),
        "ends_at": _minutes(event.ends_at),
        "timezone": event.timezone,
        "location": event.location or "",
        "online_url": event.online_url or "",
        "capacity": _number(event.capacity),
        "rsvp_deadline": _minutes(event.rsvp_deadline),
        "visibility": event.visibility,
        "honoree_email": event.honoree_email or "",
        "surprise": event.surprise,
        "ce_hours": _number(event.ce_hours),
        "presenter": event.presenter or "",
        "sequence": str(event.sequence),
    }


@cache
def _other_zones() -> tuple[str, ...]:
    common = {name for name, _ in COMMON_ZONES}
    return tuple(
        sorted(
            name
            for name in available_timezones()
            if name.split("/")[0] in ZONE_REGIONS and name not in common
        )
    )


def zone_groups(current: str) -> list[tuple[str, list[tuple[str, str]]]]:
    common = list(COMMON_ZONES)
    others = [(name, name.replace("_", " ")) for name in _other_zones()]
    if current and current not in {name for name, _ in common} | set(_other_zones()):
        common.insert(0, (current, current))  # e.g. a legacy name given through the API
    return [("Common time zones", common), ("All time zones", others)]


@bp.app_template_filter("kind_label")
def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


@bp.app_template_filter("role_label")
def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


# --- Home ------------------------------------------------------------------------------------


@bp.get("/")
def home() -> Any:
    member_id = session.get("member_id")
    if member_id is None:
        return render_template("welcome.html")
    with store().begin() as uow:
        member = uow.member_by_id(member_id)
        communities = uow.communities_of(member_id)
    return render_template("home.html", member=member, communities=communities)


# --- Communities -----------------------------------------------------------------------------


def _render_new_community(form: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    return render_template(
        "community_new.html",
        form=form,
        errors=errors,
        labels=COMMUNITY_LABELS,
        zones=zone_groups(form["timezone"]),
        visibilities=COMMUNITY_VISIBILITY_CHOICES,
    ), status


@bp.route("/communities/new", methods=["GET", "POST"])
def new_community() -> Any:
    if current_member_id() is None:
        return _sign_in_redirect()
    names = ("name", "slug", "timezone", "description", "visibility")
    if request.method == "GET":
        form = dict.fromkeys(names, "") | {"timezone": DEFAULT_ZONE, "visibility": "private"}
        return _render_new_community(form, {})
    form = {name: request.form.get(name, "") for name in names}
    data = {
        "name": form["name"],
        "slug": _blank_to_none(form["slug"]),
        "timezone": form["timezone"],
        "description": form["description"].replace("\r\n", "\n"),
        "visibility": form["visibility"],
    }
    try:
        values = CommunityInput().load(data)
        with store().begin() as uow:
            community = operations.create_community(uow, request_context(), values)
    except ValidationError as error:
        return _render_new_community(form, messages_by_field(error), 422)
    except Invalid as error:
        return _render_new_community(form, error.errors, 422)
    except Conflict as error:
        return _render_new_community(form, {error.field or "name": str(error)}, 409)
    flash(f"{community.name} is ready. Invite members and schedule its first event.")
    return redirect(url_for(".community", slug=community.slug))


def _community_page(
    slug: str,
    invite: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    ctx = request_context()
    now = datetime.now(UTC)
    with store().begin() as uow:
        community, role = operations.community_for(uow, slug, ctx)
        events = uow.events_between(community.id, now, now + UPCOMING)
        members = uow.members_of(community.id) if can_manage(role) else []
        email = operations.email_of(uow, ctx)
    tz = zone(community.timezone)
    upcoming = []
    for event in events:
        if not event.visible_to(role, community, email):
            continue
        for occurrence in event.occurrences(now, now + UPCOMING):
            starts = occurrence.starts_at.astimezone(tz)
            upcoming.append(
                {
                    "event": event,
                    "starts_at": starts,
                    "when": when(starts, occurrence.ends_at),
                    "cancelled": occurrence.status == CANCELLED,
                }
            )
    upcoming.sort(key=lambda item: (item["starts_at"], item["event"].title))
    return render_template(
        "community.html",
        community=community,
        role=role,
        organizer=can_manage(role),
        upcoming=upcoming,
        weeks=UPCOMING.days // 7,
        members=members,
        invite=invite or {"email": "", "name": "", "phone": "", "role": "member"},
        errors=errors or {},
        labels=MEMBER_LABELS,
        roles=[(role_name, ROLE_LABELS[role_name]) for role_name in ROLES],
    ), status


@bp.get("/c/<slug>")
@page_errors
def community(slug: str) -> Any:
    return _community_page(slug)


@bp.get("/c/<slug>/members")
def members_form(slug: str) -> Any:
    return redirect(url_for(".community", slug=slug, _anchor="invite"))


@bp.post("/c/<slug>/members")
@page_errors
def invite_member(slug: str) -> Any:
    ctx = request_context()
    with store().begin() as uow:
        community, _ = operations.community_for(uow, slug, ctx)
        operations.require_organizer(uow, community, ctx)
    invite = {name: request.form.get(name, "") for name in ("email", "name", "phone", "role")}
    data = {
        "email": invite["email"].strip(),
        "name": invite["name"].strip(),
        "phone": _blank_to_none(invite["phone"]),
        "role": invite["role"],
    }
    errors: dict[str, str] = {}
    try:
        values = MemberInput().load(data)
    except ValidationError as error:
        errors, values = messages_by_field(error), {}
    try:
        phone = phone_e164(data["phone"])
    except ValidationError as error:
        errors["phone"] = str(error.messages[0])  # type: ignore[index]
    if errors:
        return _community_page(slug, invite, errors, 422)
    values["phone"] = phone
    try:
        with store().begin() as uow:
            member, role, created = operations.add_member(uow, ctx, community, values)
    except Invalid as error:
        return _community_page(slug, invite, error.errors, 422)
    if created:
        flash(f"Invited {member.name} ({member.email}) as {ROLE_LABELS[role].lower()}.")
    else:
        article = "an" if role == "organizer" else "a"
        flash(f"{member.name} is {article} {role} of {community.name}.")
    return redirect(url_for(".community", slug=slug))


# --- Events ----------------------------------------------------------------------------------


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
) -> Any:
    start = _local_datetime(form["starts_at"])
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
    ), status


@bp.route("/c/<slug>/events/new", methods=["GET", "POST"])
@page_errors
def new_event(slug: str) -> Any:
    ctx = request_context()
    with store().begin() as uow:
        community = _organizer_community(uow, ctx, slug)
    if request.method == "GET":
        form = _event_form({"timezone": community.timezone, "visibility": "community"})
        return _render_event_form(community, form, Picker(), {})
    form = _event_form(request.form)
    picker = Picker.from_form(request.form)
    values, errors = _event_values(form, picker, community)
    if not errors:
        try:
            with store().begin() as uow:
                community = _organizer_community(uow, ctx, slug)
                event = operations.schedule_event(uow, ctx, community, values)
        except Invalid as error:
            errors = _in_form_order(picker.place(error.errors))
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
    tz = event.tz
    first = event.starts_at.replace(tzinfo=tz)
    upcoming = []
    if event.rrule:
        now = datetime.now(UTC)
        for occurrence in event.occurrences(now, now + timedelta(days=2 * 366))[:SERIES_PREVIEW]:
            upcoming.append(
                {
                    "when": when(occurrence.starts_at, occurrence.ends_at),
                    "starts_at": occurrence.starts_at,
                    "cancelled": occurrence.status == CANCELLED,
                }
            )
    deadline = event.rsvp_deadline.replace(tzinfo=tz) if event.rsvp_deadline else None
    return render_template(
        "event.html",
        event=event,
        community=community,
        role=role,
        organizer=can_manage(role),
        first=first,
        when=when(first, event.ends_at.replace(tzinfo=tz), long=True),
        repeats=recurrence_words(event),
        upcoming=upcoming,
        deadline=when(deadline, long=True) if deadline else None,
        ce_hours=_number(event.ce_hours),
    )


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
        return _render_event_form(
            community, _form_of_event(event), Picker.for_event(event), {}, event=event
        )
    form = _event_form(request.form)
    picker = Picker.from_form(request.form)
    values, errors = _event_values(form, picker, community, event)
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
            community, form, picker, _in_form_order(picker.place(error.errors)), 422, event=event
        )
    except Conflict as error:
        flash(_sentence(str(error)))
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
        options.append((_minutes(occurrence.original_start), when(occurrence.starts_at)))
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
                on = when(occurrence.replace(tzinfo=event.tz))
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
        when=when(
            event.starts_at.replace(tzinfo=event.tz),
            event.ends_at.replace(tzinfo=event.tz),
            long=True,
        ),
    ), 422 if errors else 200
