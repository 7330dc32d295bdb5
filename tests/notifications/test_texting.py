"""Texts through the deliveries ledger: the sender hands due texts to the provider (a local
Twilio-shaped server) and records what it answers; numbers that opted out or do not exist are
never texted again; busy answers are retried without sending twice; nothing goes out at night in
the person's zone; what a lock screen shows stays discreet and within two segments; and
`hearth dev` keeps texts in its dev mailbox."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from hearth.stack import Stack
from services.notifications import sms, texts
from services.notifications import store as stored
from services.notifications.handlers import snapshot
from services.notifications.inbound import OPTED_IN_REPLY
from services.notifications.model import (
    CONFIRMED,
    REMINDERS,
    SMS,
    TEXT_CANCELLED,
    TEXT_OPT_IN,
    TEXT_PROMOTED,
    TEXT_REMINDER,
    TEXT_UPDATED,
    UPDATES,
    Attendee,
    Delivery,
    Event,
    NewDelivery,
    delivery_key,
    quiet_until,
)
from services.notifications.sending import Sender
from services.notifications.texting import DevTexts, Texting, text_courier
from shared.config import Config

from .fake_twilio import FakeTwilio, running

BOTH_DATABASES = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

SID, TOKEN, SENDER = "AC0123456789abcdef0123456789abcdef", "secret-auth-token", "+15005550006"
PHONE = "+14155550123"
ADDRESS = "noor@example.org"
NY = "America/New_York"
PUBLIC_URL = "https://hearth.example.org"
LUNCH_ID = "5f0c6d1e-3b1a-4c2e-9d55-6a8f0e7b1c21"
LUNCH_URL = f"{PUBLIC_URL}/events/{LUNCH_ID}"


def at(local: str, zone: str = NY) -> datetime:
    """The instant a wall clock in `zone` shows `local`."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


class Clock:
    """A clock the test sets and advances."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


LUNCH = Event(
    id=LUNCH_ID,
    community_id="c0ffee00-0000-4000-8000-000000000001",
    community_name="Riverside Clinicians",
    kind="meetup",
    title="Peer lunch",
    description="We talk about the week's hardest shift.",
    visibility="public",
    timezone=NY,
    local_start=datetime(2026, 12, 3, 12, 0),  # a Thursday
    local_end=datetime(2026, 12, 3, 13, 0),
    all_day=False,
    rrule=None,
    location="Rosa's Kitchen, 12 Main St",
    online_url=None,
    url=LUNCH_URL,
    status="scheduled",
    sequence=1,
    surprise_honoree=None,
)
# Private by its kind: a text says what, when and a link, never where or what about.
CONSULT = replace(
    LUNCH,
    id="7a1d2c3b-0000-4000-8000-00000000c005",
    kind="consult_group",
    visibility="community",
    title="Tuesday case consult",
    description="Discussing a patient's relapse after discharge from Ward 7.",
    location="Eastside Clinic, room 4",
    online_url="https://meet.example.org/j/98231",
    url=f"{PUBLIC_URL}/events/7a1d2c3b-0000-4000-8000-00000000c005",
)


def event_context(event: Event = LUNCH, **extra: Any) -> dict[str, Any]:
    """A text's context as the handlers queue it."""
    return {
        "name": "Noor Haddad",
        "event": snapshot(event, event.occasion(None)),
        "timezone": event.timezone,
        **extra,
    }


def delivery(kind: str, context: dict[str, Any]) -> Delivery:
    return Delivery(
        id=1,
        key=f"{kind}:1:noor:sms",
        channel=SMS,
        kind=kind,
        recipient=PHONE,
        context=context,
        attempts=0,
        created_at=at("2026-12-03T09:00"),
        address=ADDRESS,
    )


# --- Fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with running() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock(at("2026-12-03T10:00"))


def provider_config(config: Config, twilio: FakeTwilio) -> Config:
    return config.with_changes(
        sms_api_url=twilio.url, sms_account_sid=SID, sms_auth_token=TOKEN, sms_from=SENDER
    )


@pytest.fixture
def texter(stack: Stack, twilio: FakeTwilio, clock: Clock) -> Iterator[Sender]:
    """The service's own text courier, configured for the local provider, with the test's clock."""
    courier = text_courier(provider_config(stack.config, twilio))
    assert isinstance(courier, Texting)
    courier.now = clock
    yield Sender(notifications(stack), SMS, courier, now=clock)
    courier.client.session.close()


def notifications(stack: Stack) -> stored.Store:
    service = stack.services["notifications"]
    return stored.Store(service.engine, service.outbox)


def opt_in(stack: Stack, phone: str = PHONE) -> None:
    with notifications(stack).begin() as uow:
        stored.record_sms_state(uow, phone, stored.OPTED_IN, "preferences page", at("2026-12-01"))


def consent(stack: Stack, phone: str = PHONE) -> tuple[str, str] | None:
    with notifications(stack).begin() as uow:
        row = uow.conn.execute(
            sa.select(stored.sms_consents.c.state, stored.sms_consents.c.source).where(
                stored.sms_consents.c.phone == phone
            )
        ).first()
    return (row.state, row.source) if row else None


def queue(
    stack: Stack,
    kind: str,
    *,
    now: datetime,
    event: Event = LUNCH,
    phone: str = PHONE,
    version: str = "1",
    category: str | None = UPDATES,
    context: dict[str, Any] | None = None,
) -> str:
    """Queue a text about `event` as the handlers do; its key."""
    key = delivery_key(kind, f"{event.id}:{version}", "noor", SMS)
    with notifications(stack).begin() as uow:
        assert uow.queue_delivery(
            NewDelivery(
                key,
                channel=SMS,
                kind=kind,
                recipient=phone,
                address=ADDRESS,
                category=category,
                expires_at=None if kind == TEXT_OPT_IN else event.bounds(None)[1],
                context=context if context is not None else event_context(event),
            ),
            now,
        )
    return key


def deliveries(stack: Stack) -> dict[str, dict[str, Any]]:
    with notifications(stack).begin() as uow:
        return {row["key"]: row for row in uow.deliveries(SMS)}


def only_delivery(stack: Stack) -> dict[str, Any]:
    [row] = deliveries(stack).values()
    return row


# --- Sending -------------------------------------------------------------------------------


@BOTH_DATABASES
def test_a_text_goes_out_once_with_the_contracts_fields(stack, twilio, texter, clock):
    opt_in(stack)
    queue(stack, TEXT_PROMOTED, now=clock.now)

    assert texter.send_all() == 1

    [request] = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.auth == (SID, TOKEN)
    assert request.form == {
        "To": PHONE,
        "From": SENDER,
        "Body": "Hearth: a seat opened up - you're in for Peer lunch, Thu 3 Dec 12:00. "
        + LUNCH_URL,
    }
    row = only_delivery(stack)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert row["sent_at"] == clock.now
    clock.advance(timedelta(hours=1))
    assert texter.send_all() == 0
    assert len(twilio.requests) == 1


def test_a_text_that_cannot_be_checked_fails_alone_and_the_next_goes_out(
    stack, twilio, texter, clock
):
    opt_in(stack)
    broken = queue(
        stack,
        TEXT_PROMOTED,
        now=clock.now,
        version="broken",
        context={**event_context(), "timezone": "Mars/Olympus_Mons"},
    )
    fine = queue(stack, TEXT_PROMOTED, now=clock.now, version="fine")

    assert texter.send_all() == 2

    rows = deliveries(stack)
    assert rows[broken]["state"] == "failed"
    assert "Mars/Olympus_Mons" in rows[broken]["last_error"]
    assert rows[fine]["state"] == "sent"
    assert len(twilio.requests) == 1


@BOTH_DATABASES
def test_an_opt_out_the_provider_reports_stops_every_later_text(stack, twilio, texter, clock):
    opt_in(stack)
    twilio.refuse(PHONE, sms.OPTED_OUT, "Attempt to send to unsubscribed recipient")
    promoted = queue(stack, TEXT_PROMOTED, now=clock.now)
    updated = queue(stack, TEXT_UPDATED, now=clock.now, context=event_context(changed=["location"]))

    assert texter.send_all() == 2

    assert len(twilio.requests) == 1, "texted a number the provider said opted out"
    rows = deliveries(stack)
    assert rows[promoted]["state"] == "failed"
    assert rows[promoted]["last_error"].startswith("21610")
    # The second text of the same batch already knew.
    assert rows[updated]["state"] == "dropped"
    assert consent(stack) == (stored.OPTED_OUT, "provider: 21610")

    cancelled = queue(stack, TEXT_CANCELLED, now=clock.now, version="2")
    texter.send_all()
    assert deliveries(stack)[cancelled]["state"] == "dropped"
    assert len(twilio.requests) == 1


@BOTH_DATABASES
def test_a_number_that_does_not_exist_is_marked_invalid_and_not_tried_again(
    stack, twilio, texter, clock
):
    opt_in(stack)
    twilio.refuse(PHONE, sms.INVALID_NUMBER, "The 'To' number is not a valid phone number.")
    first = queue(stack, TEXT_PROMOTED, now=clock.now)

    texter.send_all()
    clock.advance(timedelta(minutes=10))
    later = queue(stack, TEXT_CANCELLED, now=clock.now)
    texter.send_all()

    rows = deliveries(stack)
    assert rows[first]["state"] == "failed"
    assert "not a valid phone number" in rows[first]["last_error"]
    assert rows[later]["state"] == "dropped"
    assert consent(stack) == (
        stored.INVALID,
        "provider: The 'To' number is not a valid phone number.",
    )
    assert len(twilio.requests) == 1


def test_a_number_that_is_not_e164_is_marked_invalid_without_asking_the_provider(
    stack, twilio, texter, clock
):
    opt_in(stack, "555-0123")
    queue(stack, TEXT_PROMOTED, now=clock.now, phone="555-0123")
    texter.send_all()
    assert only_delivery(stack)["state"] == "failed"
    assert consent(stack, "555-0123")[0] == stored.INVALID
    assert twilio.requests == []


def test_another_refusal_fails_the_text_and_leaves_the_number_alone(stack, twilio, texter, clock):
    opt_in(stack)
    twilio.answer(400, {"code": 21606, "message": "The From number is not a valid sender"})
    queue(stack, TEXT_PROMOTED, now=clock.now)

    texter.send_all()
    clock.advance(timedelta(hours=1))
    texter.send_all()

    row = only_delivery(stack)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "400 21606: The From number is not a valid sender"
    assert consent(stack)[0] == stored.OPTED_IN
    assert len(twilio.requests) == 1


@BOTH_DATABASES
def test_busy_answers_are_retried_with_backoff_and_the_text_is_sent_once(
    stack, twilio, texter, clock
):
    opt_in(stack)
    twilio.busy(1, 429, retry_after=120)
    twilio.busy(1, 503)
    queue(stack, TEXT_PROMOTED, now=clock.now)

    texter.send_all()
    row = only_delivery(stack)
    assert (row["state"], row["attempts"]) == ("retrying", 1)
    assert row["last_error"] == "provider answered 429"
    assert row["due_at"] == clock.now + timedelta(seconds=120), "Retry-After was not honoured"

    clock.advance(timedelta(seconds=119))
    assert texter.send_all() == 0, "retried before Retry-After"
    clock.advance(timedelta(seconds=1))
    assert texter.send_all() == 1
    row = only_delivery(stack)
    assert (row["state"], row["attempts"]) == ("retrying", 2)
    assert row["due_at"] == clock.now + timedelta(seconds=60), "the wait did not grow"

    clock.advance(timedelta(seconds=60))
    assert texter.send_all() == 1
    row = only_delivery(stack)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 3, None)

    clock.advance(timedelta(days=1))
    assert texter.send_all() == 0
    assert len(twilio.requests) == 3
    assert len(twilio.accepted) == 1, "sent twice"
    assert len({request.form["Body"] for request in twilio.requests}) == 1


def test_a_provider_that_stays_down_fails_the_text_after_five_retries(stack, twilio, texter, clock):
    opt_in(stack)
    twilio.busy(6, 500)
    queue(stack, TEXT_PROMOTED, now=clock.now)

    waits = []
    for _ in range(6):
        assert texter.send_all() == 1
        row = only_delivery(stack)
        if row["state"] != "retrying":
            break
        waits.append(row["due_at"] - clock.now)
        clock.now = row["due_at"]

    assert (row["state"], row["attempts"]) == ("failed", 6)
    assert waits == [timedelta(seconds=s) for s in (30, 60, 120, 240, 480)]
    assert len(twilio.requests) == 6 and twilio.accepted == []


def test_a_text_that_may_have_been_sent_is_retried_and_logged(stack, twilio, texter, clock, caplog):
    opt_in(stack)
    texter.courier.client.TIMEOUT = (1, 0.2)  # type: ignore[attr-defined]
    twilio.answer(201, {"sid": "SMlate", "status": "queued"}, delay=0.6)
    queue(stack, TEXT_PROMOTED, now=clock.now)

    with caplog.at_level(logging.WARNING, logger="services.notifications.texting"):
        texter.send_all()

    row = only_delivery(stack)
    assert row["state"] == "retrying"
    assert "may have been sent" in row["last_error"]
    assert any("may have been sent" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("state", [None, stored.OPTED_OUT, stored.INVALID])
def test_a_number_that_has_not_opted_in_is_never_texted(stack, twilio, texter, clock, state):
    if state is not None:
        with notifications(stack).begin() as uow:
            stored.record_sms_state(uow, PHONE, state, "text: STOP", at("2026-12-01"))
    queue(stack, TEXT_PROMOTED, now=clock.now)

    texter.send_all()

    row = only_delivery(stack)
    assert row["state"] == "dropped"
    assert row["last_error"] == "the number has not opted in to texts, or opted out"
    assert twilio.requests == []


def test_a_person_who_turned_off_texts_about_changes_gets_none(stack, twilio, texter, clock):
    opt_in(stack)
    with notifications(stack).begin() as uow:
        uow.choose(ADDRESS, SMS, UPDATES, False, at("2026-12-01"))
    queue(stack, TEXT_UPDATED, now=clock.now, context=event_context(changed=["starts_at"]))

    texter.send_all()

    assert only_delivery(stack)["state"] == "dropped"
    assert twilio.requests == []


# --- Quiet hours ---------------------------------------------------------------------------


@BOTH_DATABASES
@pytest.mark.parametrize(
    ("due", "morning"),
    [("2026-12-02T22:30", "2026-12-03T08:00"), ("2026-12-03T06:15", "2026-12-03T08:00")],
    ids=["late-evening", "early-morning"],
)
def test_a_text_due_in_quiet_hours_waits_until_eight(stack, twilio, texter, clock, due, morning):
    opt_in(stack)
    clock.now = at(due)
    moved = replace(
        LUNCH, local_start=datetime(2026, 12, 3, 13), local_end=datetime(2026, 12, 3, 14)
    )
    queue(
        stack,
        TEXT_UPDATED,
        now=clock.now,
        event=moved,
        context=event_context(moved, changed=["ends_at", "starts_at"]),
    )

    texter.send_all()

    row = only_delivery(stack)
    assert (row["state"], row["attempts"]) == ("queued", 0), "quiet hours counted as an attempt"
    assert row["due_at"] == at(morning)
    assert row["last_error"] == f"quiet hours in {NY}"
    assert twilio.requests == []

    clock.now = at(morning) - timedelta(minutes=1)
    assert texter.send_all() == 0
    clock.now = at(morning)
    assert texter.send_all() == 1
    row = only_delivery(stack)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    [request] = twilio.requests
    assert request.form["Body"] == f"Hearth: Peer lunch moved to Thu 3 Dec 13:00. {LUNCH_URL}"


def test_a_text_held_past_the_end_of_its_event_is_dropped(stack, twilio, texter, clock):
    opt_in(stack)
    handover = replace(
        LUNCH,
        title="Night shift handover",
        local_start=datetime(2026, 12, 3, 5, 30),
        local_end=datetime(2026, 12, 3, 7, 0),
    )
    clock.now = at("2026-12-02T23:00")
    queue(stack, TEXT_CANCELLED, now=clock.now, event=handover, context=event_context(handover))

    texter.send_all()

    row = only_delivery(stack)
    assert row["state"] == "dropped"
    assert row["last_error"] == "quiet hours last until the event is over"
    assert twilio.requests == []


@pytest.mark.parametrize(
    ("zone", "now", "held_until"),
    [
        # 16:30 in New York, where the event is, but 21:30 where the person lives.
        ("Europe/London", "2026-12-02T21:30:00+00:00", "2026-12-03T08:00:00+00:00"),
        # 21:30 in New York, but 18:30 where the person lives.
        ("America/Los_Angeles", "2026-12-03T02:30:00+00:00", None),
    ],
)
def test_the_persons_own_zone_decides_their_quiet_hours(
    stack, twilio, texter, clock, zone, now, held_until
):
    opt_in(stack)
    with notifications(stack).begin() as uow:
        uow.set_time_zone("Noor@Example.org", zone, at("2026-12-01"))
    clock.now = datetime.fromisoformat(now)
    queue(stack, TEXT_PROMOTED, now=clock.now)

    texter.send_all()

    row = only_delivery(stack)
    if held_until is None:
        assert row["state"] == "sent"
    else:
        assert (row["state"], row["due_at"]) == ("queued", datetime.fromisoformat(held_until))
        assert row["last_error"] == f"quiet hours in {zone}"
        clock.now = row["due_at"]
        texter.send_all()
        assert only_delivery(stack)["state"] == "sent"
    # Times are the event's own, wherever the person is.
    [request] = twilio.requests
    assert "Thu 3 Dec 12:00" in request.form["Body"]


def test_the_confirmation_of_an_opt_in_is_never_held_by_quiet_hours(stack, twilio, texter, clock):
    opt_in(stack)
    clock.now = at("2026-12-02T23:30")
    queue(stack, TEXT_OPT_IN, now=clock.now, category=None, context={"timezone": NY})

    texter.send_all()

    assert only_delivery(stack)["state"] == "sent"
    [request] = twilio.requests
    assert request.form["Body"] == OPTED_IN_REPLY
    assert "Msg&data rates may apply" in OPTED_IN_REPLY
    assert "Reply HELP for help, STOP to unsubscribe." in OPTED_IN_REPLY


@pytest.mark.parametrize(
    ("local", "until"),
    [
        ("2026-12-03T07:59", "2026-12-03T08:00"),
        ("2026-12-03T08:00", None),
        ("2026-12-03T20:59", None),
        ("2026-12-03T21:00", "2026-12-04T08:00"),
        ("2026-03-07T23:00", "2026-03-08T08:00"),  # the night clocks go forward
    ],
)
def test_quiet_hours_are_nine_in_the_evening_to_eight_in_the_morning(local, until):
    assert quiet_until(at(local), NY) == (at(until) if until else None)


# --- Reminders -----------------------------------------------------------------------------


def test_a_reminder_says_today_and_goes_out_while_the_answer_is_yes(stack, twilio, texter, clock):
    opt_in(stack)
    starts_at = LUNCH.bounds(None)[0]
    with notifications(stack).begin() as uow:
        uow.record_event(LUNCH)
        uow.record_attendee(
            Attendee(
                rsvp_id="r-1",
                event_id=LUNCH.id,
                occurrence=None,
                name="Noor Haddad",
                email=ADDRESS,
                phone=PHONE,
                status=CONFIRMED,
                manage_url=f"{PUBLIC_URL}/rsvps/r-1",
                confirmed_at=at("2026-12-01T09:00"),
            ),
            starts_at,
            at("2026-12-01T09:00"),
        )
    reminder = {"rsvp_id": "r-1", "starts_at": starts_at.isoformat()}
    queue(
        stack,
        TEXT_REMINDER,
        now=clock.now,
        category=REMINDERS,
        context=event_context(reminder=reminder),
    )

    texter.send_all()

    assert only_delivery(stack)["state"] == "sent"
    [request] = twilio.requests
    assert request.form["Body"] == f"Hearth: Peer lunch today at 12:00. {LUNCH_URL}"


# --- What a text says ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        (
            TEXT_PROMOTED,
            {},
            "Hearth: a seat opened up - you're in for Peer lunch, Thu 3 Dec 12:00.",
        ),
        (
            TEXT_UPDATED,
            {"changed": ["ends_at", "starts_at"]},
            "Hearth: Peer lunch moved to Thu 3 Dec 12:00.",
        ),
        (
            TEXT_UPDATED,
            {"changed": ["location", "starts_at"]},
            "Hearth: Peer lunch moved to Thu 3 Dec 12:00, at Rosa's Kitchen, 12 Main St.",
        ),
        (
            TEXT_UPDATED,
            {"changed": ["location"]},
            "Hearth: Peer lunch, Thu 3 Dec 12:00, is now at Rosa's Kitchen, 12 Main St.",
        ),
        (
            TEXT_UPDATED,
            {"changed": ["ends_at"]},
            "Hearth: Peer lunch, Thu 3 Dec 12:00, now ends at 13:00.",
        ),
        (
            TEXT_UPDATED,
            {"changed": ["online_url"]},
            "Hearth: Peer lunch, Thu 3 Dec 12:00, has a new link to join.",
        ),
        (TEXT_UPDATED, {"changed": ["rrule"]}, "Hearth: Peer lunch, Thu 3 Dec 12:00, has changed."),
        (TEXT_CANCELLED, {}, "Hearth: Peer lunch on Thu 3 Dec 12:00 is cancelled."),
    ],
)
def test_each_kind_of_text_says_what_when_and_links_to_the_event(kind, extra, expected):
    assert texts.body(delivery(kind, event_context(**extra))) == f"{expected} {LUNCH_URL}"


@pytest.mark.parametrize(
    ("now", "says"),
    [
        ("2026-12-03T10:00", "today at 12:00"),
        ("2026-12-02T20:00", "tomorrow at 12:00"),
        ("2026-12-01T10:00", "on Thu 3 Dec at 12:00"),
    ],
)
def test_a_reminder_names_the_day_as_seen_in_the_events_zone(now, says):
    reminder = delivery(TEXT_REMINDER, event_context())
    assert texts.body(reminder, at(now)) == f"Hearth: Peer lunch {says}. {LUNCH_URL}"


def test_an_all_day_event_is_told_by_its_days_only():
    retreat = replace(
        LUNCH,
        title="Winter retreat",
        all_day=True,
        local_start=datetime(2026, 12, 5),
        local_end=datetime(2026, 12, 7),  # exclusive: the 5th and the 6th
    )
    one_day = replace(retreat, local_end=datetime(2026, 12, 6))
    context = event_context(retreat)
    assert texts.body(delivery(TEXT_CANCELLED, context)) == (
        f"Hearth: Winter retreat on Sat 5 Dec to Sun 6 Dec is cancelled. {LUNCH_URL}"
    )
    assert texts.body(delivery(TEXT_REMINDER, event_context(one_day)), at("2026-12-05T08:00")) == (
        f"Hearth: Winter retreat today, all day. {LUNCH_URL}"
    )
    assert texts.body(delivery(TEXT_PROMOTED, event_context(one_day))) == (
        f"Hearth: a seat opened up - you're in for Winter retreat, Sat 5 Dec. {LUNCH_URL}"
    )


DISCREET = [
    CONSULT,
    replace(LUNCH, visibility="private", description="Dana's farewell: keep it quiet."),
]
EVERY_KIND = [
    (TEXT_PROMOTED, {}),
    (TEXT_UPDATED, {"changed": ["location", "starts_at"]}),
    (TEXT_UPDATED, {"changed": ["location"]}),
    (TEXT_UPDATED, {"changed": ["online_url"]}),
    (TEXT_CANCELLED, {}),
    (TEXT_REMINDER, {}),
]


@pytest.mark.parametrize("event", DISCREET, ids=["consult-group", "private"])
@pytest.mark.parametrize(("kind", "extra"), EVERY_KIND)
def test_a_discreet_event_s_text_says_neither_where_nor_what_about(event, kind, extra):
    text = texts.body(delivery(kind, event_context(event, **extra)), at("2026-12-03T10:00"))
    assert event.title in text and "12:00" in text and text.endswith(event.url)
    for secret in (event.location, event.description, event.online_url):
        for word in re.findall(r"\w{4,}", secret or ""):
            assert word not in text.removesuffix(event.url), f"{word!r} is on the lock screen"
    assert "Noor" not in text


@pytest.mark.parametrize(("kind", "extra"), EVERY_KIND)
def test_no_text_says_what_an_event_is_about_or_who_is_told(kind, extra):
    text = texts.body(delivery(kind, event_context(**extra)), at("2026-12-03T10:00"))
    assert "hardest shift" not in text
    assert "Noor" not in text and ADDRESS not in text and PHONE not in text


def test_a_consult_groups_text_through_the_provider_is_discreet(stack, twilio, texter, clock):
    opt_in(stack)
    context = event_context(CONSULT, changed=["location", "starts_at"])
    queue(stack, TEXT_UPDATED, now=clock.now, event=CONSULT, context=context)

    texter.send_all()

    [request] = twilio.requests
    assert request.form["Body"] == (
        f"Hearth: Tuesday case consult moved to Thu 3 Dec 12:00. {CONSULT.url}"
    )


def test_the_fixed_wording_is_gsm7():
    for wording in (*texts.WORDING.values(), *texts.UPDATE_WORDINGS, OPTED_IN_REPLY):
        assert sms.encoding_of(wording) == "GSM-7", wording
    for kind, extra in EVERY_KIND:
        assert sms.encoding_of(texts.body(delivery(kind, event_context(**extra)))) == "GSM-7"


LONG_TITLE = "Quarterly peer support lunch and open discussion of " + "rota changes " * 30
EMOJI_TITLE = "Café social ☕ with the whole night team, bring your questions and a friend " * 3
LONG_PLACE = "The back room of Rosa's Kitchen, 12 Main Street, behind the pharmacy " * 4


@pytest.mark.parametrize("title", [LONG_TITLE, EMOJI_TITLE, "Supercalifragilistic" * 20])
@pytest.mark.parametrize(("kind", "extra"), EVERY_KIND)
def test_every_text_stays_within_two_segments_and_keeps_its_time_and_link(title, kind, extra):
    event = replace(LUNCH, title=title, location=LONG_PLACE)
    text = texts.body(delivery(kind, event_context(event, **extra)), at("2026-12-03T10:00"))
    assert sms.segment_count(text) <= 2
    assert text.endswith(f" {LUNCH_URL}")
    assert "12:00" in text
    assert text.startswith("Hearth: ")


def test_a_new_place_is_left_out_before_the_title_is_shortened():
    event = replace(LUNCH, location=LONG_PLACE)
    text = texts.body(
        delivery(TEXT_UPDATED, event_context(event, changed=["location", "starts_at"]))
    )
    assert text == f"Hearth: Peer lunch moved to Thu 3 Dec 12:00. {LUNCH_URL}"


def test_a_long_title_gives_way_to_the_new_place_it_is_about():
    event = replace(LUNCH, title=LONG_TITLE, location=LONG_PLACE)
    text = texts.body(delivery(TEXT_UPDATED, event_context(event, changed=["location"])))
    assert sms.segment_count(text) <= 2
    assert "Thu 3 Dec 12:00, is now at The back room of Rosa's Kitchen, 12 Main Street" in text
    assert text.startswith("Hearth: Quarterly peer support lunch")


# --- Which courier -------------------------------------------------------------------------


def test_the_courier_follows_the_configuration(config, caplog):
    with_provider = config.with_changes(
        sms_api_url="http://127.0.0.1:9", sms_account_sid=SID, sms_auth_token=TOKEN, sms_from=SENDER
    )
    assert isinstance(text_courier(with_provider), Texting)
    assert isinstance(text_courier(config), DevTexts)
    with caplog.at_level(logging.WARNING):
        assert text_courier(config.with_changes(dev=False)) is None
    assert "SMS_API_URL is not set" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert text_courier(with_provider.with_changes(sms_auth_token=None)) is None
    assert "SMS_API_URL is set without SMS_AUTH_TOKEN" in caplog.text


# --- The dev mailbox -----------------------------------------------------------------------


def test_in_dev_without_a_provider_texts_are_kept_in_the_dev_mailbox(client, stack):
    assert stack.config.dev and stack.config.sms_api_url is None
    opt_in(stack)
    # The opt-in confirmation is never held by quiet hours, so the wall clock cannot hold it.
    queue(stack, TEXT_OPT_IN, now=datetime.now(UTC), category=None, context={"timezone": NY})

    stack.flush()  # the service's own tasks: its text sender among them

    assert only_delivery(stack)["state"] == "sent"
    listing = client.get("/notifications/dev/mailbox")
    assert listing.status_code == 200
    assert PHONE in listing.text and "<td>Text</td>" in listing.text
    assert texts.preview(OPTED_IN_REPLY) in listing.text.replace("&#39;", "'")
    [path] = re.findall(r'href="(/notifications/dev/mailbox/\d+)"', listing.text)
    page = client.get(path)
    assert page.status_code == 200
    assert OPTED_IN_REPLY.replace("&", "&amp;").replace("'", "&#39;") in page.text
    assert "<dt>Segments</dt><dd>1 " in page.text
    assert "<dt>Encoding</dt><dd>GSM-7</dd>" in page.text


def test_the_dev_mailbox_shows_what_makes_a_text_ucs2(client, stack, clock):
    opt_in(stack)
    social = replace(LUNCH, title="Café social ☕")
    queue(stack, TEXT_CANCELLED, now=clock.now, event=social, context=event_context(social))
    Sender(notifications(stack), SMS, DevTexts(now=clock), now=clock).send_all()

    listing = client.get("/notifications/dev/mailbox")
    [path] = re.findall(r'href="(/notifications/dev/mailbox/\d+)"', listing.text)
    page = client.get(path)
    assert f"Hearth: Café social ☕ on Thu 3 Dec 12:00 is cancelled. {LUNCH_URL}" in page.text
    assert "UCS-2, because of <q>☕</q>" in page.text
