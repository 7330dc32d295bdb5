"""Events as iCalendar (RFC 5545, RFC 7986), for feeds people subscribe to and single downloads.

An event's calendar text is rendered once, when the event changes, and kept; a feed is those texts
put together between a header and the VTIMEZONEs they use. So serving a feed never serializes an
event, and a feed nothing changed in is answered from its stored bytes (see `feeds`).

What calendar apps need, learned from other projects' bugs:
- `UID` never changes; `SEQUENCE`, `DTSTAMP` and `LAST-MODIFIED` move with every change, or
  Google keeps showing the old copy.
- `DTSTART` carries the event's `TZID`, with a VTIMEZONE for it (shared.vtimezone writes the
  yearly-rule form Outlook understands); a series' `DTSTART` is its first real date, `UNTIL` is
  in UTC (the events service stores it so), and `EXDATE` has `DTSTART`'s type and zone.
- A cancelled event stays, as `STATUS:CANCELLED`, for CANCELLED_KEPT, so clients remove it rather
  than keep a ghost.
- Privacy: no attendee is ever listed. Private events and consult groups carry their title, time
  and a link to Hearth, nothing more; the video link goes only to members' feeds; a surprise
  celebration is in no community feed (its honoree can read those).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import icalendar

from services.events.model import CANCELLED, Community, Event, Override
from shared.vtimezone import vtimezone

PRODID = "-//Hearth//Hearth events 1.0//EN"
# How often subscribers should look again: RFC 7986's REFRESH-INTERVAL and Outlook's
# X-PUBLISHED-TTL. Google polls on its own schedule whatever this says.
REFRESH = timedelta(hours=1)
CANCELLED_KEPT = timedelta(days=30)

PUBLIC, MEMBERS, HIDDEN = "public", "members", "hidden"


@dataclass(frozen=True)
class Entry:
    """An event's calendar text as feeds use it: for members, and (if anyone may read it) for
    everyone; which community feeds list it; the zones it needs."""

    text: str
    public_text: str | None
    listed: str
    zones: tuple[str, ...]
    cancelled_at: datetime | None


def entry(event: Event, community: Community, base_url: str) -> Entry:
    if event.surprise:
        listed = HIDDEN
    elif event.visibility == "public" and community.visibility == "public":
        listed = PUBLIC
    else:
        listed = MEMBERS
    return Entry(
        text=vevent(event, base_url, members=True),
        public_text=vevent(event, base_url, members=False) if listed == PUBLIC else None,
        listed=listed,
        zones=() if event.all_day else (event.timezone,),
        cancelled_at=_stamp(event) if event.status == CANCELLED else None,
    )


def uid(event: Event, occurrence: datetime | None = None) -> str:
    """The event's UID, forever; one date of a series shown on its own (by its original local
    start) gets one of its own, from the date's key, which moving the whole series keeps."""
    if occurrence is None:
        return f"{event.id}@hearth"
    return f"{event.id}-{event.key_of(occurrence):%Y%m%dT%H%M}@hearth"


def discreet(event: Event) -> bool:
    """Events whose description and place stay inside Hearth."""
    return event.visibility == "private" or event.kind == "consult_group"


def vevent(
    event: Event,
    base_url: str,
    *,
    members: bool,
    occurrence: datetime | None = None,
    cancelled: bool = False,
) -> str:
    """The event's calendar text: a VEVENT, and for a series one more with a RECURRENCE-ID for
    each date changed on its own. `members`: for readers who may have the video link. With
    `occurrence` (an original local start), that one date of a series as an event of its own, as
    personal feeds show the dates someone is going to; `cancelled` marks it so."""
    stamp = _stamp(event)
    if occurrence is not None:
        override = event.overrides.get(occurrence)
        start, end = _times(event, occurrence, override)
        gone = cancelled or event.status == CANCELLED or occurrence in event.cancelled_occurrences
        component = _component(
            event, base_url, members, uid(event, occurrence), start, end, override, gone, stamp
        )
        return _text(component)
    # A series starts on its first real date, so every reader agrees on the dates.
    first = next(event.series.starts(), event.starts_at.replace(tzinfo=event.tz))
    start, end = _times(event, first.replace(tzinfo=None), None)
    gone = cancelled or event.status == CANCELLED
    master = _component(event, base_url, members, uid(event), start, end, None, gone, stamp)
    if event.rrule:
        rule = icalendar.vRecur.from_ical(event.rrule)
        if event.all_day and "UNTIL" in rule:
            # With a DATE start, UNTIL is a DATE too: the last day, in the event's zone.
            rule["UNTIL"] = [rule["UNTIL"][0].astimezone(event.tz).date()]
        master.add("rrule", rule)
        if event.cancelled_occurrences:
            # EXDATE takes DTSTART's value type and zone.
            dates = sorted(event.cancelled_occurrences)
            master.add("exdate", [_moment(event, date) for date in dates])
    texts = [_text(master)]
    for original, override in sorted(event.overrides.items()):
        if original in event.cancelled_occurrences:
            continue  # its EXDATE removes it
        start, end = _times(event, original, override)
        changed = _component(event, base_url, members, uid(event), start, end, override, gone,
                             max(stamp, _stamp(override)))  # fmt: skip
        changed.add("recurrence-id", _moment(event, original))
        texts.append(_text(changed))
    return "".join(texts)


def _component(
    event: Event,
    base_url: str,
    members: bool,
    uid: str,
    start: date | datetime,
    end: date | datetime,
    override: Override | None,
    gone: bool,
    stamp: datetime,
) -> icalendar.Event:
    def text(name: str) -> str | None:
        own = getattr(override, name) if override else None
        return own if own is not None else getattr(event, name)  # type: ignore[no-any-return]

    component = icalendar.Event()
    component.add("uid", uid)
    component.add("dtstamp", stamp)
    component.add("last-modified", stamp)
    if event.created_at is not None:
        component.add("created", event.created_at.astimezone(UTC))
    # An override's sequence is never below its series', or Google ignores it.
    component.add("sequence", max(event.sequence, override.sequence if override else 0))
    component.add("summary", text("title"))
    component.add("dtstart", start)
    component.add("dtend", end)
    component.add("status", "CANCELLED" if gone else "CONFIRMED")
    url = f"{base_url}/events/{event.id}"
    component.add("url", url)
    lines = []
    if discreet(event):
        component.add("class", "PRIVATE")
    else:
        description, location, online_url = (
            text("description"),
            text("location"),
            text("online_url"),
        )
        if description:
            lines.append(description)
        if location:
            component.add("location", location)
        if members and online_url:
            lines.append(f"Join online: {online_url}")
    lines.append(f"Details and RSVP: {url}")
    component.add("description", "\n\n".join(lines))
    return component


def _times(
    event: Event, original: datetime, override: Override | None
) -> tuple[date | datetime, date | datetime]:
    """When a date of the event starts and ends, as DTSTART and DTEND take them: days for an
    all-day event, else wall times in its zone (a 90-minute event ends 90 minutes later on the
    clock, daylight saving or not)."""
    starts = override.starts_at if override else original
    ends = override.ends_at if override else original + event.duration
    return _moment(event, starts), _moment(event, ends)


def _moment(event: Event, local: datetime) -> date | datetime:
    return local.date() if event.all_day else local.replace(tzinfo=event.tz)


def _text(component: icalendar.Event) -> str:
    return str(component.to_ical().decode())


def _stamp(changed: Event | Override) -> datetime:
    moment = changed.updated_at or getattr(changed, "created_at", None) or datetime.now(UTC)
    return moment.astimezone(UTC)


def calendar(name: str, texts: Iterable[bytes], zones: Iterable[str]) -> bytes:
    """A whole iCalendar object: the header, a VTIMEZONE for each zone, then the texts (UTF-8
    calendar texts as `vevent` makes them)."""
    return b"".join(
        [
            _header(name),
            *(_zone(zone) for zone in sorted(set(zones))),
            *texts,
            b"END:VCALENDAR\r\n",
        ]
    )


@lru_cache(maxsize=64)
def _header(name: str) -> bytes:
    header = icalendar.Calendar()
    header.add("prodid", PRODID)
    header.add("version", "2.0")
    header.add("calscale", "GREGORIAN")
    header.add("name", name)
    header.add("x-wr-calname", name)
    header.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    header.add("x-published-ttl", icalendar.vDuration(REFRESH))
    text = header.to_ical()
    return text[: text.rindex(b"END:VCALENDAR")]


@lru_cache(maxsize=64)
def _zone(name: str) -> bytes:
    return bytes(vtimezone(name).to_ical())


def community_feed_path(community: Community, *, members: bool) -> str:
    """Members read every event through the community's token; anyone else reads a public
    community's public events without one."""
    path = f"/c/{community.slug}/feed.ics"
    if members or community.visibility != "public":
        path += f"?token={community.feed_token}"
    return path


def https_and_webcal(base_url: str, path: str) -> dict[str, str]:
    """Calendar apps subscribe over https; webcal:// is the same address, for the apps that open
    a subscription from a link."""
    host = base_url.split("://", 1)[1]
    return {"feed_url": f"https://{host}{path}", "webcal_url": f"webcal://{host}{path}"}
