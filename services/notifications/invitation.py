"""The calendar invitation a confirmation carries (iMIP, RFC 6047): an iTIP REQUEST for the one
event or date the recipient is going to, which calendar apps add with the recipient's answer.

What mail clients need, learned from other projects' bugs (FIELD-NOTES.md, "Invitations by email"):
- `METHOD:REQUEST` in the body and as the MIME type's `method`, or Gmail shows no buttons and
  Outlook an attachment; an `ORGANIZER`; the recipient as the only `ATTENDEE` (the whole list would
  leak everyone's address), here already `PARTSTAT=ACCEPTED` since they said yes.
- The UID is the feeds' (`<event id>@hearth`, or `<event id>-<yyyymmddThhmm>@hearth` for one date
  of a series, as the personal feed shows it), so the invitation and a subscribed feed are one
  calendar entry, and a later update (same UID, higher SEQUENCE) replaces it.
- Times carry the event's TZID with its VTIMEZONE (shared.vtimezone); all-day events are dates.
- Private events and consult groups: title, time and link only, as in the feeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from shared.vtimezone import vtimezone

PRODID = "-//Hearth//Hearth notifications 1.0//EN"
REQUEST = "REQUEST"


def request(
    event: Mapping[str, Any],
    *,
    organizer: str,
    attendee: str,
    attendee_name: str,
    stamp: datetime,
) -> str:
    """The iCalendar text inviting `attendee` to `event` (a delivery's event context, see
    handlers.mail_about_rsvp), as accepted; `stamp` is when the invitation was made (DTSTAMP)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", REQUEST)
    if not event["all_day"]:
        calendar.add_component(vtimezone(event["timezone"]))

    component = icalendar.Event()
    component.add("uid", event["uid"])
    component.add("dtstamp", stamp)
    component.add("sequence", event["sequence"])
    component.add("summary", event["title"])
    component.add("dtstart", _moment(event, event["local_start"]))
    component.add("dtend", _moment(event, event["local_end"]))
    component.add("status", "CONFIRMED")
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
    guest = icalendar.vCalAddress(f"mailto:{attendee}")
    guest.params["CN"] = icalendar.vText(attendee_name)
    guest.params["CUTYPE"] = icalendar.vText("INDIVIDUAL")
    guest.params["ROLE"] = icalendar.vText("REQ-PARTICIPANT")
    guest.params["PARTSTAT"] = icalendar.vText("ACCEPTED")
    component.add("attendee", guest)
    calendar.add_component(component)
    return str(calendar.to_ical().decode())


def _moment(event: Mapping[str, Any], local: str) -> date | datetime:
    moment = datetime.fromisoformat(local)
    return moment.date() if event["all_day"] else moment.replace(tzinfo=ZoneInfo(event["timezone"]))
