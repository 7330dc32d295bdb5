"""The notifications domain: the communities and members it writes to, and the deliveries it
makes to them with their retry rule, as plain records and functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.recurrence import Series


@dataclass(frozen=True)
class Community:
    id: str
    slug: str
    name: str
    timezone: str  # IANA zone: the default for times in this community's messages


@dataclass(frozen=True)
class Member:
    """How to reach a person: their address and, if they gave one, an E.164 phone number."""

    id: str
    email: str
    name: str
    phone: str | None = None


# --- Deliveries: one message to one person on one channel, and what became of it ---------------

# The kinds of text (kinds of mail are in mail.py): a text's context has the event's snapshot
# ("event", see handlers.snapshot), the zone its quiet hours default to ("timezone"), and for a
# reminder what it reminds of ("reminder": rsvp_id, starts_at).
TEXT_PROMOTED = "text-promoted"  # a seat opened up for them
TEXT_UPDATED = "text-updated"  # the time or place changed, within 24 hours of the start
TEXT_CANCELLED = "text-cancelled"  # cancelled, within 24 hours of the start
TEXT_REMINDER = "text-reminder"  # two hours before
TEXT_OPT_IN = "text-opt-in"  # the confirmation of an opt-in made on the preferences page

QUEUED, SENT, RETRYING, FAILED = "queued", "sent", "retrying", "failed"
# Not sent, on purpose: the event is over, the RSVP no longer yes, the person unsubscribed or
# never opted in to texts. `last_error` says which.
DROPPED = "dropped"
EMAIL, SMS = "email", "sms"

# How long to wait after each temporary failure; after the last one the delivery has failed.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
)


def delivery_key(what: str, version: str, who: str, channel: str) -> str:
    """The identity of a delivery: the same fact, told to the same person on the same channel,
    is one delivery however often the message about it arrives."""
    return f"{what}:{version}:{who}:{channel}"


@dataclass(frozen=True)
class Delivery:
    """A message waiting to go out: its kind and context are enough to compose it.

    `address` is the person's email address, which their preferences are kept under (for a text,
    `recipient` is their phone number); `category` is the preference that allows it (None for
    mail that is always sent: sign-in links, direct confirmations); after `expires_at` (the end
    of the event it is about) it is pointless and is dropped instead of sent."""

    id: int
    key: str
    channel: str
    kind: str
    recipient: str
    context: Mapping[str, Any]
    attempts: int
    created_at: datetime
    address: str | None = None
    category: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class SeriesDate:
    """One date of an "all upcoming" answer, as its RSVP stood after it."""

    occurrence: datetime
    status: str
    waitlist_position: int | None
    manage_url: str


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to queue (see Delivery): due when queued unless `due_at` says later."""

    key: str
    channel: str
    kind: str
    recipient: str
    context: Mapping[str, Any]
    address: str | None = None
    category: str | None = None
    due_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What an attempt changed: the delivery's next state, when to try again, and why."""

    state: str
    due_at: datetime | None = None
    error: str | None = None


class TryLater(Exception):
    """The receiving end answered "not now" (an SMTP 4xx, an SMS 429): try again after a while,
    `after` if the other end said how long, else the next of RETRY_DELAYS."""

    def __init__(self, reason: str, after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Undeliverable(Exception):
    """The receiving end refused for good (an SMTP 5xx, a refused recipient): do not retry."""


class Drop(Exception):
    """The delivery is no longer wanted (the reason is the message): record it, send nothing."""


def outcome(attempts: int, now: datetime, error: Exception | None) -> Outcome:
    """The state after attempt number `attempts` (counting from 1) ended with `error`, if any."""
    if error is None:
        return Outcome(SENT)
    if isinstance(error, Drop):
        return Outcome(DROPPED, None, str(error))
    if isinstance(error, TryLater) and attempts <= len(RETRY_DELAYS):
        delay = error.after if error.after is not None else RETRY_DELAYS[attempts - 1]
        return Outcome(RETRYING, now + delay, str(error))
    return Outcome(FAILED, None, str(error))


# --- Preferences: what each person wants, per channel and category -----------------------------

# Mail that is not about one's own answer falls into one of these; each person turns each on or off
# per channel. Transactional mail (sign-in links) and direct confirmations have no category: they
# are always sent.
ANNOUNCEMENTS, UPDATES, REMINDERS = "announcements", "updates", "reminders"
CATEGORIES = (ANNOUNCEMENTS, UPDATES, REMINDERS)
CHANNELS = (EMAIL, SMS)
# What each channel carries, so what a person can choose: texts are for what is near (changes
# within a day, reminders), never announcements.
CHOICES = {EMAIL: CATEGORIES, SMS: (UPDATES, REMINDERS)}


def wanted_by_default(channel: str, category: str) -> bool:
    """Email: everything. Texts: changes and reminders, never announcements; and texts go only to
    numbers that opted in (store.may_text), whatever the preference says."""
    return channel == EMAIL or category != ANNOUNCEMENTS


@dataclass(frozen=True)
class Choices:
    """What some people chose on one channel, by (address casefolded, category); what they did
    not choose is the default."""

    channel: str
    chosen: Mapping[tuple[str, str], bool]

    def wants(self, address: str, category: str) -> bool:
        wanted = self.chosen.get((address.casefold(), category))
        return wanted_by_default(self.channel, category) if wanted is None else wanted


# Texts wait outside these local hours (US carriers' rules allow 8:00-21:00 recipient-local).
QUIET_FROM, QUIET_UNTIL = time(21), time(8)


def quiet_until(moment: datetime, timezone: str) -> datetime | None:
    """If `moment` (aware) falls in the quiet hours of `timezone`, the end of them (UTC);
    else None."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return None
    morning = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(morning, QUIET_UNTIL, zone).astimezone(UTC)


# --- Events: what a mail about an event says, as the events service last announced it ---------

CONSULT_GROUP = "consult_group"


@dataclass(frozen=True)
class Override:
    """One date of a series changed on its own; a text of None means the series' applies."""

    key: datetime  # the date's key, by which RSVPs name it (see Event)
    local_start: datetime
    local_end: datetime
    title: str | None
    description: str | None
    location: str | None
    online_url: str | None
    sequence: int


@dataclass(frozen=True)
class Event:
    """The notifications view of an event: enough to write about it, never to decide seats.

    A date of a series is named by its key, as answers name it: its original local start as the
    series was first scheduled. Moving the whole series (every Thursday from 12:00 to 13:00)
    changes no key; `shift` is how far it moved, so a date's original start now is key + shift.
    """

    id: str
    community_id: str
    community_name: str
    kind: str
    title: str
    description: str
    visibility: str
    timezone: str
    local_start: datetime  # the first date, as local wall times in `timezone`
    local_end: datetime
    all_day: bool
    rrule: str | None
    location: str | None
    online_url: str | None
    url: str
    status: str
    sequence: int
    surprise_honoree: str | None  # whom a surprise is kept from; None if it is no surprise
    overrides: tuple[Override, ...] = ()
    cancelled_occurrences: tuple[datetime, ...] = ()  # keys
    shift: timedelta = timedelta(0)

    def key_of(self, original_start: datetime) -> datetime:
        """The key of the date that starts at `original_start` in the series as it is now."""
        return original_start - self.shift

    def original_of(self, key: datetime) -> datetime:
        """The original local start, in the series as it is now, of the date named `key`."""
        return key + self.shift

    def is_on(self, occurrence: datetime | None) -> bool:
        """Whether the event, or that date of the series, still takes place."""
        return self.status != "cancelled" and occurrence not in self.cancelled_occurrences

    def is_date(self, occurrence: datetime | None) -> bool:
        """Whether an answer's date (None: the one-off event) is still one of the event's dates:
        neither cancelled on its own nor left out by a changed rule."""
        if occurrence is None:
            return True
        if occurrence in self.cancelled_occurrences:
            return False
        if any(o.key == occurrence for o in self.overrides):
            return True
        series = Series(self.local_start, self.local_end, self.timezone, self.rrule)
        return series.is_occurrence(self.original_of(occurrence))

    def bounds(self, occurrence: datetime | None) -> tuple[datetime, datetime]:
        """When the event, or that date of it, begins and ends now, as UTC instants."""
        occasion = self.occasion(occurrence)
        zone = ZoneInfo(self.timezone)
        return (
            occasion.local_start.replace(tzinfo=zone).astimezone(UTC),
            occasion.local_end.replace(tzinfo=zone).astimezone(UTC),
        )

    @property
    def discreet(self) -> bool:
        """Private events and consult groups: mail says what, when and a link, never where or
        what about (the same rule as the calendar feeds)."""
        return self.visibility == "private" or self.kind == CONSULT_GROUP

    def kept_from(self, email: str) -> bool:
        """Whether `email` is the honoree of a surprise, who must hear nothing about it."""
        honoree = self.surprise_honoree
        return honoree is not None and honoree.casefold() == email.strip().casefold()

    def occasion(self, occurrence: datetime | None) -> Occasion:
        """The event as one person attends it: the whole one-off event, or one date of a series
        with what that date changed on its own."""
        if occurrence is None:
            return Occasion(
                uid=f"{self.id}@hearth",
                title=self.title,
                description=self.description,
                location=self.location,
                online_url=self.online_url,
                local_start=self.local_start,
                local_end=self.local_end,
                sequence=self.sequence,
            )
        override = next((o for o in self.overrides if o.key == occurrence), None)
        duration = self.local_end - self.local_start
        original = self.original_of(occurrence)

        def text(name: str) -> Any:
            own = getattr(override, name) if override else None
            return own if own is not None else getattr(self, name)

        return Occasion(
            # The personal feed's UID for one date: the attendee accepted that date, not the
            # series, and a lone RECURRENCE-ID without its series confuses calendar apps. From
            # the key, so a whole series moved updates the entries people have.
            uid=f"{self.id}-{occurrence:%Y%m%dT%H%M}@hearth",
            title=text("title"),
            description=text("description"),
            location=text("location"),
            online_url=text("online_url"),
            local_start=override.local_start if override else original,
            local_end=override.local_end if override else original + duration,
            # An override's sequence is never below its series'; take the higher either way.
            sequence=max(self.sequence, override.sequence if override else 0),
        )


@dataclass(frozen=True)
class Attendee:
    """Someone's answer for an event or one date of a series, as the rsvps service last told it.
    `confirmed_at` is when it last became a confirmed seat (None unless it is one)."""

    rsvp_id: str
    event_id: str
    occurrence: datetime | None  # the key of one date of a series (see Event)
    name: str
    email: str
    phone: str | None
    status: str
    manage_url: str
    confirmed_at: datetime | None


CONFIRMED, WAITLISTED = "confirmed", "waitlisted"


@dataclass(frozen=True)
class Occasion:
    """One attendable date of an event, with its calendar identity (UID, SEQUENCE)."""

    uid: str
    title: str
    description: str
    location: str | None
    online_url: str | None
    local_start: datetime
    local_end: datetime
    sequence: int
