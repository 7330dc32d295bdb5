"""The words of each kind of text: what, when and a link, in at most two segments. A text is read
on a lock screen, so it never says what an event is about, never where a discreet one is, and
nothing about any person."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.notifications import sms
from services.notifications.inbound import OPTED_IN_REPLY
from services.notifications.model import (
    TEXT_CANCELLED,
    TEXT_OPT_IN,
    TEXT_PROMOTED,
    TEXT_REMINDER,
    TEXT_UPDATED,
    Delivery,
)

MAX_SEGMENTS = 2
# How much of a title a text about a new place keeps before it cuts the place.
TITLE_BEFORE_PLACE = 60
# Which of an update's `changed` field names (docs/messages.md) move the event, end it at another
# time, or send people somewhere else.
START_FIELDS = frozenset({"starts_at", "local_start", "timezone", "all_day"})
END_FIELDS = frozenset({"ends_at", "local_end"})
PLACE_FIELDS = frozenset({"location", "online_url"})

# The fixed wording, kept to GSM-7 (no curly quotes, no dashes but "-"): one character outside it
# makes the whole text UCS-2 and halves its room. {title} may be shortened; {extra} (a new place)
# is left out if there is no room for it.
WORDING = {
    TEXT_PROMOTED: "Hearth: a seat opened up - you're in for {title}, {on}.",
    TEXT_CANCELLED: "Hearth: {title} on {on} is cancelled.",
    TEXT_REMINDER: "Hearth: {title} {day}.",
}
MOVED = "Hearth: {title} moved to {on}{extra}."  # extra: ", at <the new place>"
NEW_END = "Hearth: {title}, {on}, now ends {end}."
NEW_PLACE = "Hearth: {title}, {on}, is now at {location}."
NEW_PLACE_UNSAID = "Hearth: {title}, {on}, has a new place."
NEW_LINK = "Hearth: {title}, {on}, has a new link to join."
CHANGED = "Hearth: {title}, {on}, has changed."
UPDATE_WORDINGS = (MOVED, NEW_END, NEW_PLACE, NEW_PLACE_UNSAID, NEW_LINK, CHANGED)


def body(delivery: Delivery, now: datetime | None = None) -> str:
    """The text for `delivery`; `now` (when it is sent) lets a reminder say "today"."""
    if delivery.kind == TEXT_OPT_IN:
        # The confirmation carriers require, worded as the one START gets.
        return OPTED_IN_REPLY
    event = delivery.context["event"]
    values = {"on": when(event), "day": _relative_day(event, now), "end": _end(event)}
    extra = ""
    if delivery.kind == TEXT_UPDATED:
        wording, extra = _update(event, delivery.context.get("changed") or ())
        values["location"] = _location(event) or ""
    elif delivery.kind in WORDING:
        wording = WORDING[delivery.kind]
    else:
        raise ValueError(f"no text for deliveries of kind {delivery.kind!r}")
    return fitted(wording, values, _one_line(event["title"]), event["url"], extra)


def _update(event: Mapping[str, Any], changed: Iterable[str]) -> tuple[str, str]:
    """The wording of an update, and what to add if there is room: the new time, the new place
    of an event that is not discreet, or only that the place changed."""
    names = set(changed)
    location = _location(event)
    new_location = "location" in names
    if names & START_FIELDS:
        return MOVED, (f", at {location}" if new_location and location else "")
    if names & END_FIELDS:
        return NEW_END, ""
    if new_location:
        return (NEW_PLACE if location else NEW_PLACE_UNSAID), ""
    if names & PLACE_FIELDS:
        return NEW_LINK, ""
    return CHANGED, ""


def _location(event: Mapping[str, Any]) -> str | None:
    """Where the event is, unless it is discreet: a lock screen must not say where a consult
    group meets."""
    if event["discreet"]:
        return None
    return _one_line(event.get("location") or "") or None


def fitted(wording: str, values: Mapping[str, str], title: str, link: str, extra: str = "") -> str:
    """The wording and the link in at most two segments. What gives way, in order: `extra`, the
    end of a new place the wording names (`{location}`), the end of the title; the time and the
    link are kept whole."""

    def say(title: str, extra: str = "") -> str:
        return wording.format_map({**values, "title": title, "extra": extra})

    def fits(text: str) -> bool:
        return sms.segment_count(f"{text} {link}") <= MAX_SEGMENTS

    if fits(say(title, extra)):
        return f"{say(title, extra)} {link}"
    for shown in _shortened(title, say):
        text = say(shown)
        if fits(text):
            return f"{text} {link}"
        if "{location}" in wording and len(shown) <= TITLE_BEFORE_PLACE:
            # Cut the place at a word, as long as some of it is left after "is now at"; a long
            # title gives way first, since the place is the news.
            before = wording.partition("{location}")[0].format_map({**values, "title": shown})
            cut = sms.fit(text, link, MAX_SEGMENTS).removesuffix(f" {link}")
            if cut.startswith(before) and cut[len(before) :].rstrip(".…").strip():
                return f"{cut} {link}"
    # Not even a letter of the title fits (an enormous link): cut from the end, never the link.
    return sms.fit(say(title), link, MAX_SEGMENTS)


def _shortened(title: str, say: Callable[[str], str]) -> Iterator[str]:
    """The title, then ever shorter beginnings of it with an ellipsis: "…" (one unit) where the
    text is UCS-2 anyway, "..." where "…" would make it so."""
    yield title
    for cut in _cuts(title):
        kept = title[:cut].rstrip()
        yield kept + ("…" if sms.encoding_of(say(kept)) == "UCS-2" else "...")


def _cuts(title: str) -> list[int]:
    """Where to shorten a title, longest first: at a word, then, inside a first word too long to
    keep, between characters."""
    words = [i for i in range(len(title) - 1, 0, -1) if title[i] == " " and title[i - 1] != " "]
    first_word = title.find(" ") if " " in title else len(title)
    return words + list(range(first_word - 1, 0, -1))


def when(event: Mapping[str, Any]) -> str:
    """The date and local time in the event's zone, e.g. "Thu 3 Dec 12:00"; an all-day event by
    its days only ("Sat 5 Dec", "Sat 5 Dec to Mon 7 Dec")."""
    start = datetime.fromisoformat(event["local_start"])
    if event["all_day"]:
        last = datetime.fromisoformat(event["local_end"]) - timedelta(days=1)
        return _day(start) if last.date() <= start.date() else f"{_day(start)} to {_day(last)}"
    return f"{_day(start)} {start:%H:%M}"


def _end(event: Mapping[str, Any]) -> str:
    start = datetime.fromisoformat(event["local_start"])
    end = datetime.fromisoformat(event["local_end"])
    if event["all_day"]:
        return f"on {_day(end - timedelta(days=1))}"
    return f"at {end:%H:%M}" if end.date() == start.date() else f"{_day(end)} {end:%H:%M}"


def _relative_day(event: Mapping[str, Any], now: datetime | None) -> str:
    """ "today at 12:00", "tomorrow at 09:00", else "on Thu 3 Dec at 12:00" (all day: ", all
    day" instead of the time), as the day is seen in the event's zone when the text goes out."""
    start = datetime.fromisoformat(event["local_start"])
    today = now.astimezone(ZoneInfo(event["timezone"])).date() if now else None
    if today == start.date():
        day = "today"
    elif today is not None and today + timedelta(days=1) == start.date():
        day = "tomorrow"
    else:
        day = f"on {_day(start)}"
    return f"{day}, all day" if event["all_day"] else f"{day} at {start:%H:%M}"


def _day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def preview(text: str, limit: int = 60) -> str:
    """The first words of a text, as the dev mailbox lists it."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit] + "..."
