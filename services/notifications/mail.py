"""Composing email: each kind of delivery becomes a letter, and a letter becomes a MIME message in
the contract's format (one recipient, text and HTML, auto-generated, a stable Message-ID; mail
about an event threads under the event's root Message-ID, and a confirmation carries a calendar
invitation as a third alternative)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header, decode_header, make_header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notifications import invitation
from services.notifications.model import ANNOUNCEMENTS, EMAIL, REMINDERS, UPDATES, Delivery
from shared import timewords
from shared.links import preferences_url, sign_in_url, unsubscribe_url

SIGN_IN = "sign-in"
GOING = "rsvp-going"
PROMOTED = "rsvp-promoted"
WAITLISTED = "rsvp-waitlisted"
SERIES_ANSWERED = "rsvp-series-answered"
ANNOUNCED = "event-announced"
UPDATED = "event-updated"
CANCELLED = "event-cancelled"
REMINDER = "event-reminder"


@dataclass(frozen=True)
class Letter:
    """What one person is told: the subject, and the template and values of its text and HTML
    parts (`templates/mail/<template>.txt` and `.html`).

    `thread`: the root Message-ID of the event the letter is about, so one event's mails
    thread; `calendar`: an iTIP message (REQUEST or CANCEL, `method`) to add as `text/calendar`;
    `category`: the preference that allows the letter, which gets one-click unsubscribe from it
    (None for transactional mail and direct confirmations, which have none)."""

    to_name: str
    to_address: str
    subject: str
    template: str
    values: Mapping[str, Any]
    thread: str | None = None
    calendar: str | None = None
    method: str = invitation.REQUEST
    category: str | None = None


class Mail:
    """Turns deliveries into messages, with the deployment's sender, origin and link key."""

    def __init__(self, *, mail_from: str, base_url: str, secret_key: str) -> None:
        self.mail_from = _address(*parseaddr(mail_from), "From")
        self.envelope_from = parseaddr(mail_from)[1]
        self.domain = self.envelope_from.rpartition("@")[2] or "localhost"
        self.base_url = base_url
        self.secret_key = secret_key
        self.templates = Environment(
            loader=PackageLoader("services.notifications", "templates/mail"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates are part of the release: no look at their files' times for every mail.
            auto_reload=False,
        )
        self.letters: dict[str, Callable[[Delivery], Letter]] = {
            SIGN_IN: self.sign_in,
            GOING: self.going,
            PROMOTED: self.going,
            WAITLISTED: self.waitlisted,
            SERIES_ANSWERED: self.series_answered,
            ANNOUNCED: self.announced,
            UPDATED: self.updated,
            CANCELLED: self.cancelled,
            REMINDER: self.reminder,
        }

    def compose(self, delivery: Delivery) -> Message:
        letter = self.letters[delivery.kind](delivery)
        unsubscribe = (
            unsubscribe_url(
                self.secret_key, self.base_url, letter.to_address, EMAIL, letter.category
            )
            if letter.category is not None
            else None
        )
        values = {
            **letter.values,
            "name": letter.to_name,
            "base_url": self.base_url,
            # Every mail leads to the recipient's preferences page.
            "preferences_url": preferences_url(self.secret_key, self.base_url, letter.to_address),
            "category": letter.category,
            "unsubscribe_url": unsubscribe,
        }
        message = MIMEMultipart("alternative", boundary=_boundary())
        message.attach(_text(self._render(f"{letter.template}.txt", values), "plain"))
        message.attach(_text(self._render(f"{letter.template}.html", values), "html"))
        if letter.calendar is not None:
            # multipart/mixed → multipart/alternative (text, HTML, calendar): the shape Gmail and
            # Outlook show as an invitation with buttons, not as an attachment.
            calendar = _text(letter.calendar, "calendar")
            calendar.set_param("method", letter.method)
            message.attach(calendar)
            del message["MIME-Version"]
            message = MIMEMultipart("mixed", boundary=_boundary(), _subparts=[message])
        message["From"] = self.mail_from
        message["To"] = _address(letter.to_name, letter.to_address, "To")
        message["Subject"] = _header(letter.subject, "Subject")
        # Composed, for the reader, when the delivery was queued, however late an attempt is.
        message["Date"] = format_datetime(delivery.created_at)
        message["Message-ID"] = self.message_id(delivery.key)
        # Out-of-office replies and vacation notices must not answer machine mail.
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        if unsubscribe is not None:
            # RFC 8058: mail providers POST "List-Unsubscribe=One-Click" to the URL; a GET of it
            # (a person, or a scanner opening every link) only shows a confirm page. The URL
            # stays as it is, however long: providers do not decode an encoded word here.
            message["List-Unsubscribe"] = f"<{unsubscribe}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if letter.thread is not None:
            message["In-Reply-To"] = letter.thread
            message["References"] = letter.thread
        return message

    def thread_of(self, event_id: str) -> str:
        """The root Message-ID of an event's mails: no mail has it, every mail refers to it, so
        mail clients put one event's mails in one conversation."""
        return f"<event-{event_id}@{self.domain}>"

    def message_id(self, key: str) -> str:
        """The same for every attempt of a delivery, so a resent message is recognisably one."""
        return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{self.domain}>"

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        return self.templates.get_template(name).render(values)

    # The kinds of letter

    def sign_in(self, delivery: Delivery) -> Letter:
        """The magic link a member asked for: transactional, so no unsubscribe."""
        context = delivery.context
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject="Your sign-in link for Hearth",
            template="sign_in",
            values={
                "url": sign_in_url(self.secret_key, self.base_url, context["link_id"]),
                "minutes": context["minutes"],
            },
        )

    def going(self, delivery: Delivery) -> Letter:
        """A confirmed or promoted RSVP: a direct confirmation (no unsubscribe), with the manage
        link and an invitation the recipient's calendar accepts on their behalf."""
        context = delivery.context
        event = context["event"]
        promoted = delivery.kind == PROMOTED
        subject = (
            f"A seat opened up: you're in for {event['title']}"
            if promoted
            else f"You're going: {event['title']}"
        )
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject=subject,
            template="going",
            values={
                **_event_values(event),
                "promoted": promoted,
                "manage_url": context["manage_url"],
            },
            thread=self.thread_of(event["id"]),
            calendar=invitation.itip(
                invitation.REQUEST,
                [event],
                organizer=self.envelope_from,
                attendee=context["email"],
                attendee_name=context["name"],
                stamp=delivery.created_at,
            ),
        )

    def waitlisted(self, delivery: Delivery) -> Letter:
        """A "yes" that found the seats taken: their place in line, and no invitation, since
        they are not going yet."""
        context = delivery.context
        event = context["event"]
        position = context["waitlist_position"]
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject=f"You're number {position} on the waitlist for {event['title']}",
            template="waitlisted",
            values={
                **_event_values(event),
                "position": position,
                "manage_url": context["manage_url"],
            },
            thread=self.thread_of(event["id"]),
        )

    def series_answered(self, delivery: Delivery) -> Letter:
        """An "all upcoming" answer, told once: the dates they are going to, with one invitation
        for all of them, and those they wait for, with their place in line; each date with its
        own link to change the answer for it. A direct confirmation: no unsubscribe."""
        context = delivery.context
        dates = context["dates"]
        first = dates[0]
        going = [{**_event_values(d), "manage_url": d["manage_url"]} for d in dates if d["going"]]
        waiting = [
            {**_event_values(d), "manage_url": d["manage_url"], "position": d["waitlist_position"]}
            for d in dates
            if not d["going"]
        ]
        title = first["title"]
        if not going:
            subject = f"You're on the waitlist for {title}, {_count(waiting, 'date')}"
        elif waiting:
            subject = (
                f"You're going: {title}, {_count(going, 'date')} (waitlisted for {len(waiting)})"
            )
        else:
            subject = f"You're going: {title}, {_count(going, 'date')}"
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject=subject,
            template="series_answered",
            values={**_event_values(first), "going": going, "waiting": waiting},
            thread=self.thread_of(first["id"]),
            calendar=self._calendar(invitation.REQUEST, delivery, dates),
        )

    def announced(self, delivery: Delivery) -> Letter:
        """A new event, for members who want announcements: what, when, where, and links that
        open the answer form with the answer chosen (a GET saves nothing: scanners open links)."""
        context = delivery.context
        event = context["event"]
        answer = f"{self.base_url}/rsvps/events/{event['id']}/answer"
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject=f"New: {event['title']}, {short_when(event)}",
            template="announced",
            values={
                **_event_values(event),
                "repeats": context["repeats"],
                "answers": {word: f"{answer}?response={word}" for word in ("yes", "maybe", "no")},
            },
            thread=self.thread_of(event["id"]),
            category=ANNOUNCEMENTS,
        )

    def updated(self, delivery: Delivery) -> Letter:
        """The time or place of what they are going to changed: the new details, and their
        invitation again with a higher SEQUENCE, so their calendar moves the same entry."""
        context = delivery.context
        dates = context["dates"]
        first = dates[0]
        changed = context["changed"]
        if any(CHANGE_WORDS.get(name) in ("time", "dates") for name in changed):
            subject = f"Changed: {first['title']} is now {short_when(first)}"
        else:  # the same time, somewhere else
            subject = (
                f"Changed: {first['title']}, {short_when(first)}: new {changed_words(changed)}"
            )
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject=subject,
            template="updated",
            values={
                **_event_values(first),
                "dates": [_event_values(date) for date in dates],
                "changed": changed_words(changed),
                "manage_url": context["manage_url"],
            },
            thread=self.thread_of(first["id"]),
            calendar=self._calendar(invitation.REQUEST, delivery, dates),
            category=UPDATES,
        )

    def cancelled(self, delivery: Delivery) -> Letter:
        """What they were going to (or waiting for) is cancelled: an iTIP CANCEL takes it out of
        their calendar; those only waiting had no entry, so theirs has no calendar part."""
        context = delivery.context
        dates = context["dates"]
        first = dates[0]
        several = len(dates) > 1
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject=(
                f"Cancelled: {first['title']}"
                if several
                else f"Cancelled: {first['title']}, {short_when(first)}"
            ),
            template="cancelled",
            values={**_event_values(first), "dates": [_event_values(date) for date in dates]},
            thread=self.thread_of(first["id"]),
            calendar=self._calendar(invitation.CANCEL, delivery, dates),
            method=invitation.CANCEL,
            category=UPDATES,
        )

    def reminder(self, delivery: Delivery) -> Letter:
        """The day before: when and where, and the way to give up the seat if plans changed."""
        context = delivery.context
        event = context["event"]
        return Letter(
            to_name=context["name"],
            to_address=context["email"],
            subject=f"Tomorrow: {event['title']}, {short_when(event)}",
            template="reminder",
            values={**_event_values(event), "manage_url": context["manage_url"]},
            thread=self.thread_of(event["id"]),
            category=REMINDERS,
        )

    def _calendar(
        self,
        method: str,
        delivery: Delivery,
        dates: list[Mapping[str, Any]],
    ) -> str | None:
        """The calendar part for the dates the recipient holds a seat for, if any."""
        going = [date for date in dates if date.get("going", True)]
        if not going:
            return None
        context = delivery.context
        return invitation.itip(
            method,
            going,
            organizer=self.envelope_from,
            attendee=context["email"],
            attendee_name=context["name"],
            stamp=delivery.created_at,
        )


def subject_of(message: Message) -> str:
    """The Subject of a composed message as people read it."""
    return str(make_header(decode_header(message["Subject"])))


def short_when(event: Mapping[str, Any]) -> str:
    """The start in few words, for subjects and texts: "Thu 3 Dec, 12:00 EST"."""
    start = datetime.fromisoformat(event["local_start"])
    if event["all_day"]:
        return timewords.date_words(start.date())
    return timewords.when(start.replace(tzinfo=ZoneInfo(event["timezone"])))


CHANGE_WORDS = {
    "starts_at": "time",
    "ends_at": "time",
    "timezone": "time",
    "all_day": "time",
    "rrule": "dates",
    "location": "place",
    "online_url": "online link",
}


def _count(things: list[Any], word: str) -> str:
    return f"{len(things)} {word}{'s' if len(things) != 1 else ''}"


def changed_words(changed: list[str]) -> str:
    """What changed, for people: "time and place"."""
    words = list(dict.fromkeys(CHANGE_WORDS[name] for name in changed if name in CHANGE_WORDS))
    if len(words) <= 1:
        return "".join(words) or "details"
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _event_values(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the templates show of an event; a discreet one shows no place or description."""
    discreet = event["discreet"]
    return {
        "title": event["title"],
        "community": event["community_name"],
        "when": when(event),
        "location": None if discreet else event["location"],
        "description": None if discreet else event["description"],
        "online_url": None if discreet else event["online_url"],
        "event_url": event["url"],
    }


def when(event: Mapping[str, Any]) -> str:
    """The date and time as the organizer set them, in the event's zone, for people to read."""
    start = datetime.fromisoformat(event["local_start"])
    end = datetime.fromisoformat(event["local_end"])
    day = f"{start:%A} {start.day} {start:%B %Y}"
    if event["all_day"]:
        return f"{day}, all day"
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%A} {end.day} {end:%B %H:%M}"
    return f"{day}, {start:%H:%M} to {until} ({event['timezone']})"


# How messages are made: with the email package's MIME classes and its original (compat32)
# policy, as Django and Mailman make theirs, since the newer EmailMessage API parses every header
# it is given and costs about four times as much a message, which mail to a whole group feels.
# Quoted-printable keeps text readable and, for calendar parts, their lines' CRLF, as RFC 5545
# wants them once decoded (base64 would carry the bare LFs of Python's text).
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP


class AsGiven(Compat32):
    """compat32, writing each header as it was given: never folded again (a List-Unsubscribe URL
    folded onto a line of its own reads as " <https://…>", which providers need not accept), as
    ours come encoded and folded already where they need to be (`_header`)."""

    def fold(self, name: str, value: str) -> str:
        return f"{name}: {self.linesep.join(str(value).splitlines())}{self.linesep}"

    def fold_binary(self, name: str, value: str) -> bytes:
        return self.fold(name, value).encode("ascii")


# How a message goes to an SMTP server: lines end in CRLF (smtplib sends bytes as they are).
ON_THE_WIRE = AsGiven(linesep="\r\n")


def _text(content: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(content, UTF8)
    del part["MIME-Version"]  # the message says it once, at the top
    return part


def _boundary() -> str:
    """A part boundary no part can contain: quoted-printable writes every "=" as "=3D"."""
    return f"=_{secrets.token_hex(12)}"


def _header(value: str, name: str) -> str:
    """The value of header `name` as it may go in a message: with words of other scripts, RFC
    2047 encoded words on folded lines, neither longer than the 75 and 76 characters allowed."""
    if value.isascii():
        return value
    return Header(value, UTF8, maxlinelen=76, header_name=name).encode()


def _address(name: str, address: str, header: str) -> str:
    """A display name and address for `header`, the name quoted or encoded as it needs."""
    if name.isascii():
        return formataddr((name, address))
    return f"{_header(name, header)} <{address}>"
