"""Journeys 3-10 of PRODUCT.md as the mail they make, over real SMTP (aiosmtpd): each step of a
journey produces exactly the mails it should (recipient and subject, no more, none twice), and
every mail holds to the contract: it parses, has text and HTML, one recipient, is marked
auto-generated, carries one-click unsubscribe exactly when it is not a sign-in link or a direct
confirmation, and its calendar part, if any, is read by icalendar and ical.js alike with the
same METHOD in its MIME type and its body. Updates keep the UID and raise the SEQUENCE.

Dates are some days ahead of today: the rsvps service takes no answers for what has begun.
"""

from __future__ import annotations

import email
import email.policy
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest

from services.notifications import store as stored
from services.notifications.app import email_courier
from services.notifications.model import ANNOUNCEMENTS, DROPPED, EMAIL
from services.notifications.reminders import Reminders
from services.notifications.sending import Sender
from shared.calendar_readers import read_with_icalendar, read_with_icaljs
from shared.config import Config
from shared.testing import local

from .smtp_server import Handler, Received
from .test_rsvp_mail import answer

ZONE = ZoneInfo("America/New_York")  # the community fixture's
FIRST_DAY = datetime.now(ZONE).date() + timedelta(days=10)
START = datetime.combine(FIRST_DAY, time(12))  # local wall time, as the organizer types it
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)


LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "description": "Bring a case you are stuck on.",
    "starts_at": local(START),
    "ends_at": local(START + HOUR),
    "location": "Juniper Café",
    "capacity": 6,
}
BOTH_DATABASES = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def instant(moment: datetime) -> datetime:
    """A local wall time of the community as a UTC instant."""
    return moment.replace(tzinfo=ZONE).astimezone(UTC)


def short(moment: datetime) -> str:
    """The start as subjects give it: "Thu 3 Dec, 12:00 EST" (with the year if not this one)."""
    aware = moment.replace(tzinfo=ZONE)
    day = f"{aware:%a} {aware.day} {aware:%b}"
    if aware.year != datetime.now(ZONE).year:
        day += f" {aware.year}"
    return f"{day}, {aware:%H:%M} {aware.tzname()}"


def address(who: str) -> str:
    return f"{who}@example.org"


# What every kind of mail is, by its subject: (one-click unsubscribe?, calendar METHODs allowed).
KINDS: dict[str, tuple[bool, set[str | None]]] = {
    "Your sign-in link for Hearth": (False, set()),
    "You're going: ": (False, {"REQUEST"}),
    "A seat opened up: ": (False, {"REQUEST"}),
    "You're number ": (False, set()),
    "New: ": (True, set()),
    "Changed: ": (True, {"REQUEST"}),
    "Cancelled: ": (True, {"CANCEL", None}),  # those only waiting have nothing to remove
    "Tomorrow: ": (True, set()),
}


@dataclass
class Mail:
    to: str
    subject: str
    message: EmailMessage

    @property
    def calendar(self) -> icalendar.Calendar | None:
        parts = calendar_parts(self.message)
        return read_with_icalendar(parts[0].get_content()) if parts else None

    @property
    def method(self) -> str | None:
        """The calendar part's MIME `method` (Post checks that its body says the same)."""
        parts = calendar_parts(self.message)
        return parts[0].get_param("method") if parts else None  # type: ignore[return-value]

    @property
    def vevents(self) -> list[Any]:
        calendar = self.calendar
        assert calendar is not None, f"{self.subject!r} to {self.to} has no calendar part"
        return list(calendar.walk("VEVENT"))

    def text(self) -> str:
        plain, html = self.message.get_body(("plain",)), self.message.get_body(("html",))
        assert plain is not None and html is not None
        return plain.get_content() + html.get_content()


def calendar_parts(message: EmailMessage) -> list[EmailMessage]:
    return [p for p in message.walk() if p.get_content_type() == "text/calendar"]  # type: ignore[misc]


class Post:
    """The mail the SMTP server received, one step of a journey at a time; every mail is held to
    the contract as it is collected, and no Message-ID may come twice."""

    def __init__(self, inbox: Handler, stack: Any, window: tuple[datetime, datetime]) -> None:
        self.inbox = inbox
        self.stack = stack
        self.window = window
        self.seen = 0
        self.message_ids: set[str] = set()
        # Calendar parts waiting for ical.js: (subject, text, {UID: [UTC starts]}).
        self.pending: list[tuple[str, str, dict[str, list[str]]]] = []

    def after(self, *, flush: bool = True) -> list[Mail]:
        """The mail that arrived since the last call, after letting every service catch up (the
        stack's sender sends synchronously within the flush)."""
        if flush:
            self.stack.flush()
        fresh = self.inbox.received[self.seen :]
        self.seen += len(fresh)
        mails = [self.check(received) for received in fresh]
        # Each ical.js reading is a node process: run them side by side.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self.read_with_icaljs, self.pending))
        self.pending.clear()
        return mails

    def check(self, received: Received) -> Mail:
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert all(not part.defects for part in message.walk()), [
            part.defects for part in message.walk()
        ]
        subject = str(message["Subject"])
        assert len(received.rcpt_tos) == 1, f"{subject!r}: {received.rcpt_tos}"
        [recipient] = received.rcpt_tos
        [to] = message["To"].addresses
        assert to.addr_spec == recipient, "the envelope and the To header name one person"
        assert message["Cc"] is None and message["Bcc"] is None
        assert message["Auto-Submitted"] == "auto-generated"
        assert message.get_body(("plain",)) is not None, f"{subject!r} has no text part"
        assert message.get_body(("html",)) is not None, f"{subject!r} has no HTML part"
        assert message["Message-ID"] not in self.message_ids, f"{subject!r} to {recipient} again"
        self.message_ids.add(message["Message-ID"])

        [(bulk, methods)] = [kind for prefix, kind in KINDS.items() if subject.startswith(prefix)]
        if bulk:
            assert re.fullmatch(r"<https?://[^<>\s]+>", str(message["List-Unsubscribe"])), (
                f"{subject!r}: List-Unsubscribe {message['List-Unsubscribe']!r}"
            )
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            # Whole on its line as sent, not folded or encoded: what providers look for.
            assert re.search(rb"^List-Unsubscribe: <https?://\S+>\r$", received.data, re.M)
        else:
            assert "List-Unsubscribe" not in message, f"{subject!r} is a direct message"
            assert "List-Unsubscribe-Post" not in message, f"{subject!r} is a direct message"

        parts = calendar_parts(message)
        assert len(parts) <= 1
        if not parts:
            assert None in methods or not methods, f"{subject!r} to {recipient}: no calendar part"
        for part in parts:
            method = part.get_param("method")
            assert method in methods, f"{subject!r}: method {method!r}"
            ics = part.get_content()
            calendar = read_with_icalendar(ics)
            assert str(calendar["METHOD"]) == method, "METHOD differs in MIME type and body"
            starts = {
                str(vevent["UID"]): [
                    f"{vevent.decoded('DTSTART').astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
                ]
                for vevent in calendar.walk("VEVENT")
            }
            assert starts, f"{subject!r}: a calendar part without events"
            self.pending.append((subject, ics, starts))
        return Mail(recipient, subject, message)

    def read_with_icaljs(self, job: tuple[str, str, dict[str, list[str]]]) -> None:
        """ical.js, reading the calendar with its own VTIMEZONEs, finds the events icalendar
        found, at the same instants."""
        subject, ics, starts = job
        reading = read_with_icaljs(ics, *self.window)
        found = {
            event["uid"]: [occurrence["start"] for occurrence in event["occurrences"]]
            for event in reading["events"]
        }
        assert found == starts, f"{subject!r}: ical.js reads {found}, icalendar {starts}"


def entries(mails: list[Mail], method: str) -> set[tuple[str, str]]:
    """(recipient, UID) of every calendar entry the mails send with `method`."""
    return {
        (mail.to, str(vevent["UID"]))
        for mail in mails
        if mail.method == method
        for vevent in mail.vevents
    }


def sent(mails: list[Mail]) -> list[tuple[str, str]]:
    """Who got what, as a sorted list: a mail sent twice shows twice."""
    return sorted((mail.to, mail.subject) for mail in mails)


def mail_to(mails: list[Mail], who: str) -> Mail:
    [mail] = [mail for mail in mails if mail.to == address(who)]
    return mail


def window(first: datetime, last: datetime) -> tuple[datetime, datetime]:
    return instant(first) - timedelta(days=2), instant(last) + timedelta(days=2)


def cancel_rsvp(client: Any, rsvp: dict[str, Any]) -> None:
    response = client.post(
        f"/rsvps/api/rsvps/{rsvp['id']}/cancel",
        json={"token": rsvp["manage_url"].rsplit("/", 1)[1]},
    )
    assert response.status_code == 200, response.text


def notifications_store(stack: Any) -> stored.Store:
    service = stack.services["notifications"]
    return stored.Store(service.engine, service.outbox)


@pytest.fixture
def config(config: Config, smtp: tuple[Handler, str]) -> Config:
    return config.with_changes(smtp_url=smtp[1])


@pytest.fixture
def post(inbox: Handler, stack: Any) -> Post:
    return Post(inbox, stack, window(START, START + 4 * WEEK))


@pytest.fixture
def add_member(client: Any, organizer: dict[str, str], community: dict[str, Any]) -> Any:
    def add(who: str) -> None:
        response = client.post(
            f"/api/communities/{community['slug']}/members",
            json={"email": address(who), "name": who.title()},
            headers=organizer,
        )
        assert response.status_code == 201, response.text

    return add


def change(client: Any, organizer: dict[str, str], path: str, body: dict[str, Any]) -> None:
    """The organizer changes an event (`/api/events/<id>`) or one date of a series."""
    response = client.patch(path, json=body, headers=organizer)
    assert response.status_code == 200, response.text


def move_date(
    client: Any, organizer: dict[str, str], series: dict[str, Any], date: datetime, to: datetime
) -> None:
    """The organizer moves one date of a series to `to`, for an hour."""
    path = f"/api/events/{series['id']}/occurrences/{local(date)}"
    change(client, organizer, path, {"starts_at": local(to), "ends_at": local(to + HOUR)})


def cancel(
    client: Any, organizer: dict[str, str], event: dict[str, Any], occurrence: str | None = None
) -> None:
    """The organizer cancels an event, a series, or one date of a series."""
    body = {"occurrence": occurrence} if occurrence else {}
    response = client.post(f"/api/events/{event['id']}/cancel", json=body, headers=organizer)
    assert response.status_code == 200, response.text


# --- J3/J4: an event is announced to the members who want it, and answered from the mail ------


def test_a_new_event_is_announced_to_each_member_who_wants_it_and_its_links_only_open_the_form(
    client, stack, schedule, organizer, add_member, post
):
    for who in ("ana", "ben", "cy", "priya"):
        add_member(who)
    with notifications_store(stack).begin() as uow:
        uow.choose(address("cy"), EMAIL, ANNOUNCEMENTS, False, datetime.now(UTC))
    assert post.after() == [], "joining a community is not mailed"

    lunch = schedule()
    mails = post.after(flush=False)
    subject = f"New: Peer lunch, {short(START)}"
    assert sent(mails) == sorted(
        (address(who), subject) for who in ("dana", "ana", "ben", "priya")
    ), "every member who wants announcements, the organizer too; not Cy, who turned them off"
    announcement = mail_to(mails, "ana")
    assert announcement.message["In-Reply-To"] == f"<event-{lunch['id']}@localhost>"
    body = announcement.text()
    assert "Juniper Café" in body and "Bring a case you are stuck on." in body

    links = set(re.findall(r"https?://[^\s\"<>]+/answer\?response=\w+", body))
    path = f"/rsvps/events/{lunch['id']}/answer"
    assert {(urlsplit(link).path, urlsplit(link).query) for link in links} == {
        (path, f"response={word}") for word in ("yes", "maybe", "no")
    }
    for link in sorted(links):
        # What a mail scanner does to every link: it must save nothing.
        page = client.get(f"{urlsplit(link).path}?{urlsplit(link).query}")
        assert page.status_code == 200, page.text
        assert "<form" in page.text
    roster = client.get(f"/rsvps/api/events/{lunch['id']}/rsvps", headers=organizer)
    assert roster.status_code == 200, roster.text
    assert all(
        not occurrence[section]
        for occurrence in roster.json["occurrences"]
        for section in ("confirmed", "waitlisted", "maybe", "declined")
    ), roster.json
    event = client.get(f"/api/events/{lunch['id']}", headers=organizer)
    assert event.json["attendance"] == {"confirmed_seats": 0, "waitlisted": 0, "maybe": 0}
    assert post.after() == [], "opening the links told nobody anything"

    # A surprise is announced to everyone but its honoree (however her address is written).
    party = schedule(
        kind="celebration",
        title="Priya's licensure",
        honoree_email="PRIYA@Example.org",
        surprise=True,
        capacity=None,
    )
    assert sent(post.after(flush=False)) == sorted(
        (address(who), f"New: Priya's licensure, {short(START)}") for who in ("dana", "ana", "ben")
    )
    answer(client, party, "ben")
    answer(client, party, "priya")  # she found the page anyway: still told nothing
    assert sent(post.after()) == [(address("ben"), "You're going: Priya's licensure")]
    later = START + HOUR
    change(
        client,
        organizer,
        f"/api/events/{party['id']}",
        {"starts_at": local(later), "ends_at": local(later + HOUR)},
    )
    assert sent(post.after()) == [
        (address("ben"), f"Changed: Priya's licensure is now {short(later)}")
    ]
    cancel(client, organizer, party)
    assert sent(post.after()) == [(address("ben"), f"Cancelled: Priya's licensure, {short(later)}")]

    # A sign-in link is transactional: no unsubscribe (checked by Post for every mail).
    assert client.submit("/sign-in", {"email": address("ana")}, "/sign-in").status_code == 200
    assert sent(post.after()) == [(address("ana"), "Your sign-in link for Hearth")]


# --- J5: the waitlist, and the seat that opens up ----------------------------------------------


def test_a_seat_that_opens_up_goes_to_the_first_in_line_with_an_invitation(
    client, stack, schedule, post
):
    lunch = schedule(capacity=1)
    assert sent(post.after()) == [(address("dana"), f"New: Peer lunch, {short(START)}")]
    ana = answer(client, lunch, "ana")
    assert sent(post.after()) == [(address("ana"), "You're going: Peer lunch")]
    answer(client, lunch, "ben")
    [waiting] = post.after()
    assert (waiting.to, waiting.subject) == (
        address("ben"),
        "You're number 1 on the waitlist for Peer lunch",
    )
    assert waiting.calendar is None, "not going yet: nothing for the calendar"

    cancel_rsvp(client, ana)
    mails = post.after()
    assert sent(mails) == [(address("ben"), "A seat opened up: you're in for Peer lunch")]
    [promoted] = mails
    assert promoted.method == "REQUEST"
    [vevent] = promoted.vevents
    assert str(vevent["UID"]) == f"{lunch['id']}@hearth"
    assert str(vevent["ATTENDEE"]) == "mailto:ben@example.org"
    assert promoted.message["References"] == waiting.message["References"]


# --- J6: the invitation, its update and its cancellation ---------------------------------------


@BOTH_DATABASES
def test_a_change_updates_each_invitation_once_and_a_cancellation_removes_it(
    client, stack, schedule, organizer, post
):
    lunch = schedule(capacity=2)
    assert sent(post.after()) == [(address("dana"), f"New: Peer lunch, {short(START)}")]
    ana = answer(client, lunch, "ana")
    answer(client, lunch, "ben", response="no")
    answer(client, lunch, "cy", response="maybe")
    answer(client, lunch, "dee")
    answer(client, lunch, "eve")
    mails = post.after()
    assert sent(mails) == [
        (address("ana"), "You're going: Peer lunch"),
        (address("dee"), "You're going: Peer lunch"),
        (address("eve"), "You're number 1 on the waitlist for Peer lunch"),
    ]
    confirmation = mail_to(mails, "ana")
    [invited] = confirmation.vevents
    assert int(invited["SEQUENCE"]) == lunch["sequence"]

    moved = START + 2 * HOUR
    change(
        client,
        organizer,
        f"/api/events/{lunch['id']}",
        {"starts_at": local(moved), "ends_at": local(moved + HOUR), "location": "Elm Street 4"},
    )
    mails = post.after()
    subject = f"Changed: Peer lunch is now {short(moved)}"
    assert sent(mails) == [(address("ana"), subject), (address("dee"), subject)], (
        "everyone going, once; not those who said no or maybe, nor those waiting"
    )
    update = mail_to(mails, "ana")
    assert update.message["In-Reply-To"] == confirmation.message["In-Reply-To"]
    assert update.message["References"] == confirmation.message["References"]
    assert update.message["In-Reply-To"] == f"<event-{lunch['id']}@localhost>"
    assert "Elm Street 4" in update.text()
    [updated] = update.vevents
    assert str(updated["UID"]) == str(invited["UID"]) == f"{lunch['id']}@hearth"
    assert int(updated["SEQUENCE"]) > int(invited["SEQUENCE"])
    assert updated.decoded("DTSTAMP") >= invited.decoded("DTSTAMP")
    assert updated.decoded("DTSTART") == moved.replace(tzinfo=ZONE)
    assert str(updated["LOCATION"]) == "Elm Street 4"
    assert str(updated["ATTENDEE"]) == "mailto:ana@example.org"
    assert str(updated["STATUS"]) == "CONFIRMED"

    cancel(client, organizer, lunch)
    mails = post.after()
    subject = f"Cancelled: Peer lunch, {short(moved)}"
    assert sent(mails) == [(address(who), subject) for who in ("ana", "dee", "eve")]
    cancellation = mail_to(mails, "ana")
    assert cancellation.method == "CANCEL"
    [removed] = cancellation.vevents
    assert str(removed["UID"]) == str(invited["UID"])
    assert int(removed["SEQUENCE"]) > int(updated["SEQUENCE"])
    assert str(removed["STATUS"]) == "CANCELLED"
    assert cancellation.message["References"] == confirmation.message["References"]
    assert mail_to(mails, "dee").calendar is not None
    assert mail_to(mails, "eve").calendar is None, "Eve was only waiting: no entry to remove"

    # The organizer's second click (or a retried request) tells nobody again.
    cancel(client, organizer, lunch)
    assert post.after() == []
    cancel_rsvp(client, ana)
    assert post.after() == [], "giving up a seat of a cancelled event promotes nobody"


# --- J8: the day-before reminder ----------------------------------------------------------------


TITLES = ("Peer lunch", "Supper", "Walk by the river")


@BOTH_DATABASES
def test_a_reminder_goes_out_the_day_before_once_and_never_for_what_is_off(
    client, stack, config, schedule, organizer, post
):
    lunch = schedule()
    ana = answer(client, lunch, "ana")
    ben = answer(client, lunch, "ben")
    answer(client, lunch, "cy")
    supper = schedule(title="Supper", kind="social")
    answer(client, supper, "dee")
    walk = schedule(title="Walk by the river", kind="social")
    answer(client, walk, "eve")
    cancel(client, organizer, supper)
    assert sent(post.after()) == sorted(
        [(address("dana"), f"New: {title}, {short(START)}") for title in TITLES]
        + [(address(who), "You're going: Peer lunch") for who in ("ana", "ben", "cy")]
        + [
            (address("dee"), "You're going: Supper"),
            (address("eve"), "You're going: Walk by the river"),
        ]
        + [(address("dee"), f"Cancelled: Supper, {short(START)}")]
    )

    store = notifications_store(stack)
    day_before = instant(START) - timedelta(hours=23)

    def clock() -> datetime:
        return day_before

    courier = email_courier(config)
    assert courier is not None

    def send_due() -> list[Mail]:
        """What the worker's sender sends, by the clock of the day before."""
        Sender(store, EMAIL, courier, now=clock).send_all()
        return post.after(flush=False)

    reminders = Reminders(store, now=clock)
    assert reminders.queue_due() == 4, "Ana, Ben, Cy and Eve; not Dee, whose supper is off"
    assert reminders.queue_due() == 0, "a second run adds nothing"
    assert Reminders(store, now=clock).queue_due() == 0, "nor does a second replica"

    # Between queueing and sending, Ben gives up his seat and the walk is called off.
    cancel_rsvp(client, ben)
    cancel(client, organizer, walk)
    assert sent(post.after()) == [(address("eve"), f"Cancelled: Walk by the river, {short(START)}")]

    subject = f"Tomorrow: Peer lunch, {short(START)}"
    assert sent(send_due()) == [(address("ana"), subject), (address("cy"), subject)]
    assert send_due() == []
    with store.begin() as uow:
        reminded = [d for d in uow.deliveries(EMAIL) if d["kind"] == "event-reminder"]
    assert {d["recipient"]: (d["state"], d["last_error"]) for d in reminded} == {
        address("ana"): ("sent", None),
        address("ben"): (DROPPED, "the RSVP is no longer yes"),
        address("cy"): ("sent", None),
        address("eve"): (DROPPED, "the event is cancelled"),
    }
    assert Reminders(store, now=clock).queue_due() == 0
    assert send_due() == []

    # The lunch moves by two hours after the reminder went out: a reminder for the new time.
    moved = START + 2 * HOUR
    change(
        client,
        organizer,
        f"/api/events/{lunch['id']}",
        {"starts_at": local(moved), "ends_at": local(moved + HOUR)},
    )
    changed = f"Changed: Peer lunch is now {short(moved)}"
    assert sent(post.after()) == [(address("ana"), changed), (address("cy"), changed)]
    day_before = instant(moved) - timedelta(hours=23)
    assert Reminders(store, now=clock).queue_due() == 2
    mails = send_due()
    subject = f"Tomorrow: Peer lunch, {short(moved)}"
    assert sent(mails) == [(address("ana"), subject), (address("cy"), subject)]
    assert ana["manage_url"] in mail_to(mails, "ana").text()
    assert Reminders(store, now=clock).queue_due() == 0
    assert send_due() == []


# --- J10: one date of a series, and the whole series -------------------------------------------

SERIES = {
    "kind": "consult_group",
    "title": "Consult group",
    "description": "Case: a patient who keeps cancelling",
    "location": "Room 4",
    "visibility": "private",
    "rrule": "FREQ=WEEKLY;COUNT=4",
}
DATES = [START + n * WEEK for n in range(4)]


def uid(event: dict[str, Any], date: datetime) -> str:
    return f"{event['id']}-{date:%Y%m%dT%H%M}@hearth"


def assert_discreet(mails: list[Mail]) -> None:
    """A consult group's mail and calendar parts say what, when and a link, never where or
    what about."""
    for mail in mails:
        parts = [mail.text()] + [p.get_content() for p in calendar_parts(mail.message)]
        for text in parts:
            assert "Room " not in text and "keeps cancelling" not in text, mail.subject


@pytest.fixture
def series_with_answers(client, schedule, post) -> tuple[dict[str, Any], dict[str, Mail]]:
    """A weekly consult group of four dates: Ana goes on the second, Ben on the third, Cy on
    both; their confirmations by person and date."""
    group = schedule(**SERIES)
    announcements = post.after()
    assert sent(announcements) == [(address("dana"), f"New: Consult group, {short(DATES[0])}")]
    assert_discreet(announcements)
    for who, dates in (("ana", [1]), ("ben", [2]), ("cy", [1, 2])):
        for n in dates:
            answer(client, group, who, occurrence=local(DATES[n]))
    mails = post.after()
    assert sent(mails) == sorted(
        [(address(who), "You're going: Consult group") for who in ("ana", "ben", "cy", "cy")]
    )
    assert_discreet(mails)
    confirmations = {}
    for mail in mails:
        [vevent] = mail.vevents
        assert "RRULE" not in vevent and "RECURRENCE-ID" not in vevent
        confirmations[f"{mail.to}:{vevent['UID']}"] = mail
    return group, confirmations


@BOTH_DATABASES
def test_one_date_of_a_series_is_cancelled_and_moved_telling_only_its_attendees(
    client, organizer, series_with_answers, post
):
    group, confirmations = series_with_answers
    second, third = DATES[1], DATES[2]

    cancel(client, organizer, group, local(second))
    mails = post.after()
    subject = f"Cancelled: Consult group, {short(second)}"
    assert sent(mails) == [(address("ana"), subject), (address("cy"), subject)], (
        "only the second date's people; Ben goes on the third"
    )
    assert_discreet(mails)
    for mail in mails:
        assert mail.method == "CANCEL"
        [removed] = mail.vevents
        assert str(removed["UID"]) == uid(group, second)
        assert str(removed["STATUS"]) == "CANCELLED"
        assert "RRULE" not in removed and "RECURRENCE-ID" not in removed
        [invited] = confirmations[f"{mail.to}:{uid(group, second)}"].vevents
        assert int(removed["SEQUENCE"]) > int(invited["SEQUENCE"])
        assert removed.decoded("DTSTART") == second.replace(tzinfo=ZONE)
    cancel(client, organizer, group, local(second))
    assert post.after() == [], "a date cancelled twice is told once"

    moved = third + HOUR
    move_date(client, organizer, group, third, moved)
    mails = post.after()
    subject = f"Changed: Consult group is now {short(moved)}"
    assert sent(mails) == [(address("ben"), subject), (address("cy"), subject)], (
        "only the third date's people"
    )
    assert_discreet(mails)
    for mail in mails:
        [updated] = mail.vevents
        [invited] = confirmations[f"{mail.to}:{uid(group, third)}"].vevents
        assert str(updated["UID"]) == uid(group, third), "the date keeps its name when it moves"
        assert int(updated["SEQUENCE"]) > int(invited["SEQUENCE"])
        assert updated.decoded("DTSTART") == moved.replace(tzinfo=ZONE)
        assert mail.message["References"] == f"<event-{group['id']}@localhost>"


def test_cancelling_the_series_tells_each_person_once_about_all_their_dates(
    client, organizer, series_with_answers, post
):
    group, _ = series_with_answers
    second, third = DATES[1], DATES[2]
    moved = third + HOUR
    move_date(client, organizer, group, third, moved)
    updates = post.after()
    assert len(updates) == 2

    cancel(client, organizer, group)
    mails = post.after()
    assert sent(mails) == [
        (address("ana"), f"Cancelled: Consult group, {short(second)}"),
        (address("ben"), f"Cancelled: Consult group, {short(moved)}"),
        (address("cy"), "Cancelled: Consult group"),
    ], "one mail each, Cy's about both of her dates"
    assert_discreet(mails)
    cys = mail_to(mails, "cy")
    assert cys.method == "CANCEL"
    removed = {str(vevent["UID"]): vevent for vevent in cys.vevents}
    assert sorted(removed) == sorted([uid(group, second), uid(group, third)])
    assert removed[uid(group, third)].decoded("DTSTART") == moved.replace(tzinfo=ZONE)
    [updated] = mail_to(updates, "cy").vevents
    assert int(removed[uid(group, third)]["SEQUENCE"]) > int(updated["SEQUENCE"])
    for vevent in removed.values():
        assert str(vevent["STATUS"]) == "CANCELLED"
    cancel(client, organizer, group)
    assert post.after() == [], "a series cancelled twice is told once"


def test_cancelling_the_series_tells_each_remaining_person_once_about_their_remaining_dates(
    client, organizer, series_with_answers, post
):
    group, _ = series_with_answers
    second, third = DATES[1], DATES[2]
    cancel(client, organizer, group, local(second))
    assert len(post.after()) == 2

    cancel(client, organizer, group)
    mails = post.after()
    subject = f"Cancelled: Consult group, {short(third)}"
    assert sent(mails) == [(address("ben"), subject), (address("cy"), subject)], (
        "Ana's only date was cancelled (and told) already"
    )
    assert_discreet(mails)
    for mail in mails:
        [removed] = mail.vevents
        assert str(removed["UID"]) == uid(group, third)
        assert str(removed["STATUS"]) == "CANCELLED"


def test_a_change_of_the_series_does_not_bring_back_a_cancelled_date(
    client, organizer, series_with_answers, post
):
    group, _ = series_with_answers
    second, third = DATES[1], DATES[2]
    cancel(client, organizer, group, local(second))
    assert len(post.after()) == 2

    change(client, organizer, f"/api/events/{group['id']}", {"location": "Room 5"})
    mails = post.after()
    subject = f"Changed: Consult group, {short(third)}: new place"
    assert sent(mails) == [(address("ben"), subject), (address("cy"), subject)]
    assert_discreet(mails)
    for mail in mails:
        assert [str(v["UID"]) for v in mail.vevents] == [uid(group, third)]


def test_moving_the_whole_series_tells_each_attendee_the_new_time(
    client, organizer, series_with_answers, post
):
    group, confirmations = series_with_answers
    later = [date + HOUR for date in DATES]
    change(
        client,
        organizer,
        f"/api/events/{group['id']}",
        {"starts_at": local(later[0]), "ends_at": local(later[0] + HOUR)},
    )
    mails = post.after()
    assert sent(mails) == [
        (address("ana"), f"Changed: Consult group is now {short(later[1])}"),
        (address("ben"), f"Changed: Consult group is now {short(later[2])}"),
        (address("cy"), f"Changed: Consult group is now {short(later[1])}"),
    ]
    for mail in mails:
        for vevent in mail.vevents:
            [invited] = confirmations[f"{mail.to}:{vevent['UID']}"].vevents
            assert vevent.decoded("DTSTART") == invited.decoded("DTSTART") + HOUR
            assert int(vevent["SEQUENCE"]) > int(invited["SEQUENCE"])


def test_a_date_dropped_from_the_series_is_removed_from_its_attendees_calendars(
    client, organizer, series_with_answers, post
):
    group, _ = series_with_answers
    gone = uid(group, DATES[2])
    change(client, organizer, f"/api/events/{group['id']}", {"rrule": "FREQ=WEEKLY;COUNT=2"})
    mails = post.after()
    invited, removed = entries(mails, "REQUEST"), entries(mails, "CANCEL")
    assert not [who for who, entry in invited if entry == gone], "invited to a date that is gone"
    assert {(address("ben"), gone), (address("cy"), gone)} <= removed
    assert [mail.to for mail in mails].count(address("ben")) == 1
