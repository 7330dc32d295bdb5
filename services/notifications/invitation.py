"""The calendar part of mail about what someone is going to (iMIP, RFC 6047): an iTIP REQUEST
for the event or dates they are going to, which calendar apps add with their answer, sent again
with a higher SEQUENCE when the time or place changes, and an iTIP CANCEL that removes them.

What mail clients need, learned from other projects' bugs (FIELD-NOTES.md, "Invitations by email"):
- `METHOD:REQUEST` in the body and as the MIME type's `method`, or Gmail shows no buttons and
  Outlook an attachment; an `ORGANIZER`; the recipient as the only `ATTENDEE` (the whole list would
  leak everyone's address), here already `PARTSTAT=ACCEPTED` since they said yes.
- The UID is the feeds' (`<event id>@hearth`, or `<event id>-<yyyymmddThhmm>@hearth` for one date
  of a series, as the personal feed shows it), so the invitation and a subscribed feed are one
  calendar entry, and a later update (same UID, higher SEQUENCE) replaces it.
- Times carry the event's TZID with its VTIMEZONE (shared.vtimezone); all-day events are dates.
- Private events and consult groups: title, time and link only, as in the feeds.
- A change to a whole series reaches someone going to several of its dates in one mail, whose
  calendar part has one VEVENT per date (each its own UID, as above): told once, every entry
  updated.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from shared.vtimezone import vtimezone

PRODID = "-//Hearth//Hearth notifications 1.0//EN"
REQUEST, CANCEL = "REQUEST", "CANCEL"


def itip(
    method: str,
    events: list[Mapping[str, Any]],
    *,
    organizer: str,
    attendee: str,
    attendee_name: str,
    stamp: datetime,
) -> str:
    """The iCalendar text of an iTIP `method` for `attendee` about each of `events` (deliveries'
    event snapshots, see handlers.snapshot); `stamp` is when it was made (DTSTAMP). A REQUEST
    invites them, as accepted, and sent again with a higher SEQUENCE updates the same entries; a
    CANCEL removes them (same UIDs, STATUS:CANCELLED, the SEQUENCE the cancellation raised).

    Everyone told of one change gets the same calendar but for their ATTENDEE line, so the rest
    is made once per change (icalendar takes a millisecond a calendar, as long as the rest of a
    mail) and each person's line is added to every VEVENT of it."""
    calendar = _calendar(method, json.dumps(events, sort_keys=True), organizer, stamp)
    guest = icalendar.vCalAddress(f"mailto:{attendee}")
    guest.params["CN"] = icalendar.vText(attendee_name)
    guest.params["CUTYPE"] = icalendar.vText("INDIVIDUAL")
    guest.params["ROLE"] = icalendar.vText("REQ-PARTICIPANT")
    guest.params["PARTSTAT"] = icalendar.vText("ACCEPTED")
    line = icalendar.Event().content_line("ATTENDEE", guest).to_ical().decode()
    return calendar.replace(END_VEVENT, f"\r\n{line}{END_VEVENT}")


# Where each VEVENT ends: a line of its own (a folded line goes on with a space, and text values
# escape their line breaks, so no value can end a line with this).
END_VEVENT = "\r\nEND:VEVENT\r\n"


@functools.lru_cache(maxsize=32)
def _calendar(method: str, events: str, organizer: str, stamp: datetime) -> str:
    """The calendar of `itip` without its ATTENDEE lines; `events` as JSON, to be a cache key."""
    dates = json.loads(events)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    for zone in sorted({e["timezone"] for e in dates if not e["all_day"]}):
        calendar.add_component(vtimezone(zone))
    for event in dates:
        calendar.add_component(_vevent(method, event, organizer, stamp))
    return str(calendar.to_ical().decode())


def _vevent(
    method: str, event: Mapping[str, Any], organizer: str, stamp: datetime
) -> icalendar.Event:
    component = icalendar.Event()
    component.add("uid", event["uid"])
    component.add("dtstamp", stamp)
    component.add("sequence", event["sequence"])
    component.add("summary", event["title"])
    component.add("dtstart", _moment(event, event["local_start"]))
    component.add("dtend", _moment(event, event["local_end"]))
    component.add("status", "CANCELLED" if method == CANCEL else "CONFIRMED")
    component.add("transp", "OPAQUE")
    component.add("url", event["url"])
    lines = []
    if event["discreet"]:
        component.add("class", "PRIVATE")
    else:
        if event["description"]:
            lines.append(event["description"])
        if event["location"]:
            component.add("location", event["location"])
        if event["online_url"]:
            lines.append(f"Join online: {event['online_url']}")
    lines.append(f"Details: {event['url']}")
    component.add("description", "\n\n".join(lines))

    host = icalendar.vCalAddress(f"mailto:{organizer}")
    host.params["CN"] = icalendar.vText(event["community_name"])
    component.add("organizer", host)
    return component


def _moment(event: Mapping[str, Any], local: str) -> date | datetime:
    moment = datetime.fromisoformat(local)
    return moment.date() if event["all_day"] else moment.replace(tzinfo=ZoneInfo(event["timezone"]))
