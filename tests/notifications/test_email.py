"""Email over real SMTP: the sign-in mail in the contract's format, once however often its message
arrives, 4xx answers retried on the backoff ladder, 5xx answers failed for good, and the dev
mailbox when no SMTP server is configured."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from hearth.stack import Stack
from services.events.store import outbox as events_outbox
from services.notifications import model
from services.notifications.app import email_courier
from services.notifications.mail import SIGN_IN, Mail
from services.notifications.sending import CLAIM, Sender, Smtp
from services.notifications.store import Store
from shared.config import Config
from shared.testing import Browser, free_port

from .smtp_server import Handler

BOTH_DATABASES = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def config(config: Config, smtp: tuple[Handler, str]) -> Config:
    return config.with_changes(smtp_url=smtp[1])


def notifications(stack: Stack) -> Store:
    service = stack.services["notifications"]
    return Store(service.engine, service.outbox)


def deliveries(stack: Stack) -> list[dict[str, Any]]:
    with notifications(stack).begin() as uow:
        return uow.deliveries()


def ask_for_link(client: Browser, email: str = "dana@example.org") -> None:
    response = client.submit("/sign-in", {"email": email})
    assert response.status_code == 200, response.text


def sign_in_messages(stack: Stack) -> list[Any]:
    with stack.services["events"].engine.connect() as conn:
        return conn.execute(
            sa.select(events_outbox)
            .where(events_outbox.c.type == "events.sign_in_requested")
            .order_by(events_outbox.c.id)
        ).all()


def publish(stack: Stack, body: str, *, message_id: str, type: str) -> None:
    publisher = stack.bus.publisher()
    try:
        publisher.publish(body, type=type, message_id=message_id, correlation_id=str(uuid.uuid4()))
    finally:
        publisher.close()


def sender_at(stack: Stack, when: datetime) -> Sender:
    """The service's own email sender, with a clock that reads `when`."""
    courier = email_courier(stack.config)
    assert courier is not None
    return Sender(notifications(stack), model.EMAIL, courier, now=lambda: when)


@BOTH_DATABASES
def test_the_sign_in_mail_arrives_once_even_when_its_message_comes_twice(
    client, stack, organizer, inbox
):
    ask_for_link(client)
    stack.flush()
    [row] = sign_in_messages(stack)
    # The broker redelivers the same message, and the events service (say, a relay that died
    # before marking it sent) publishes the same fact again under a new id.
    publish(stack, row.body, message_id=row.message_id, type=row.type)
    again = json.loads(row.body) | {"id": str(uuid.uuid4())}
    publish(stack, json.dumps(again), message_id=again["id"], type=row.type)
    stack.flush()

    [received] = inbox.wait_for(1)
    time.sleep(0.2)
    assert len(inbox.received) == 1
    assert received.rcpt_tos == ["dana@example.org"]
    assert received.mail_from == parseaddr(stack.config.mail_from)[1]
    [delivery] = deliveries(stack)
    link_id = json.loads(row.body)["payload"]["link_id"]
    member_id = json.loads(row.body)["payload"]["member"]["id"]
    assert delivery["key"] == f"sign-in:{link_id}:{member_id}:email"
    assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == ("sent", 1, None)
    assert "sign-in/" not in json.dumps(delivery["context"]), "a usable link was stored"

    # The link in the mail signs Dana in.
    url = _link_in(received.message.get_body(("plain",)).get_content())
    response = client.submit(urlsplit(url).path, {})
    assert response.status_code == 302, response.text


def _link_in(text: str) -> str:
    [url] = [word for word in text.split() if "/sign-in/" in word]
    return url


def test_the_sign_in_mail_has_the_contract_s_format(client, stack, organizer, inbox):
    ask_for_link(client)
    stack.flush()
    [received] = inbox.wait_for(1)
    message = received.message

    assert message["From"] == stack.config.mail_from == "Hearth <no-reply@localhost>"
    assert message["To"] == "Dana Okafor <dana@example.org>"
    assert message["Subject"] == "Your sign-in link for Hearth"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@localhost>")
    assert message["Date"] is not None
    assert "List-Unsubscribe" not in message, "sign-in links are transactional"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    url = _link_in(text)
    assert url.startswith(f"{stack.config.base_url}/sign-in/")
    assert f'href="{url}"' in html
    assert "Hello Dana Okafor" in text and "15 minutes" in text
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]


@BOTH_DATABASES
def test_a_4xx_answer_is_retried_after_the_backoff_and_then_sent(client, stack, organizer, inbox):
    inbox.rcpt_answers.append("451 4.3.0 Mailbox busy, try again later")
    ask_for_link(client)
    stack.flush()

    [delivery] = deliveries(stack)
    assert (delivery["state"], delivery["attempts"]) == ("retrying", 1)
    assert delivery["last_error"].startswith("451 ")
    first_try = delivery["updated_at"]
    assert delivery["due_at"] - first_try == timedelta(seconds=10)
    assert inbox.received == []

    assert sender_at(stack, first_try + timedelta(seconds=5)).send_all() == 0, "retried too soon"
    assert sender_at(stack, first_try + timedelta(seconds=11)).send_all() == 1
    [delivery] = deliveries(stack)
    assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == ("sent", 2, None)
    assert len(inbox.wait_for(1)) == 1


@pytest.mark.parametrize(
    "answers",
    [
        {"rcpt_answers": ["550 5.1.1 No such user here"]},
        {"data_answers": ["554 5.7.1 Message rejected as spam"]},
    ],
    ids=["recipient-refused", "message-refused"],
)
def test_a_5xx_answer_fails_the_delivery_for_good(client, stack, organizer, inbox, answers):
    for name, values in answers.items():
        getattr(inbox, name).extend(values)
    ask_for_link(client)
    stack.flush()

    [delivery] = deliveries(stack)
    assert (delivery["state"], delivery["attempts"]) == ("failed", 1)
    assert delivery["last_error"].startswith(("550 5.1.1 No such user", "554 5.7.1 Message"))
    assert sender_at(stack, datetime.now(UTC) + timedelta(days=1)).send_all() == 0
    assert inbox.received == []


def test_four_temporary_failures_wait_longer_each_time_and_the_sixth_gives_up():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    busy = model.TryLater("451 busy")
    waits = [model.outcome(attempt, now, busy) for attempt in range(1, 7)]
    assert [o.state for o in waits] == ["retrying"] * 5 + ["failed"]
    assert [(o.due_at - now).total_seconds() for o in waits[:5]] == [10, 30, 60, 300, 900]
    assert model.outcome(1, now, model.Undeliverable("550 no")).state == "failed"
    assert model.outcome(3, now, None).state == "sent"


def test_the_worker_sends_mail_as_it_is_queued(client, stack, organizer, inbox):
    stack.start_workers()
    ask_for_link(client)
    [received] = inbox.wait_for(1)
    assert received.rcpt_tos == ["dana@example.org"]


def queue_sign_in_mail(stack: Stack, count: int, now: datetime) -> None:
    with notifications(stack).begin() as uow:
        uow.queue_deliveries(
            [
                model.NewDelivery(
                    model.delivery_key(SIGN_IN, f"link-{number}", f"member-{number}", model.EMAIL),
                    channel=model.EMAIL,
                    kind=SIGN_IN,
                    recipient=f"person{number}@example.org",
                    context={
                        "name": f"Person {number}",
                        "email": f"person{number}@example.org",
                        "link_id": f"link-{number}",
                        "minutes": 15,
                    },
                )
                for number in range(count)
            ],
            now,
        )


@BOTH_DATABASES
def test_what_a_dead_sender_claimed_waits_for_its_claim_to_run_out(stack, inbox):
    now = datetime.now(UTC)
    queue_sign_in_mail(stack, 3, now)
    # A worker claims the batch and dies before attempting it: nothing records or releases it.
    with notifications(stack).begin() as uow:
        assert len(uow.claim_due(model.EMAIL, now, 20, now + CLAIM)) == 3

    assert sender_at(stack, now + CLAIM - timedelta(seconds=1)).send_all() == 0
    assert inbox.received == []
    assert sender_at(stack, now + CLAIM).send_all() == 3
    assert len(inbox.wait_for(3)) == 3
    assert {(d["state"], d["claimed_until"]) for d in deliveries(stack)} == {("sent", None)}


@BOTH_DATABASES
def test_a_server_that_cannot_be_reached_leaves_the_batch_to_the_next_sender(stack, inbox):
    now = datetime.now(UTC)
    queue_sign_in_mail(stack, 3, now)
    nobody = Smtp(
        Mail(mail_from="no-reply@localhost", base_url="", secret_key="k" * 32),
        f"smtp://127.0.0.1:{free_port()}",
    )
    with pytest.raises(OSError):
        Sender(notifications(stack), model.EMAIL, nobody, now=lambda: now).send_due()

    rows = deliveries(stack)
    assert {(d["state"], d["attempts"], d["claimed_until"]) for d in rows} == {("queued", 0, None)}
    assert sender_at(stack, now).send_all() == 3
    assert len(inbox.wait_for(3)) == 3


@BOTH_DATABASES
def test_a_batch_stops_once_half_its_claim_has_passed_and_gives_back_the_rest(stack, inbox):
    start = datetime.now(UTC)
    queue_sign_in_mail(stack, 3, start)
    courier = email_courier(stack.config)
    assert courier is not None
    # The server is slow: by the time it accepted the first mail, half the claim has passed.
    sender = Sender(
        notifications(stack),
        model.EMAIL,
        courier,
        now=lambda: start + CLAIM / 2 if inbox.received else start,
    )

    assert sender.send_due() == 1
    rows = sorted(deliveries(stack), key=lambda d: d["id"])
    assert [(d["state"], d["claimed_until"]) for d in rows] == [
        ("sent", None),
        ("queued", None),
        ("queued", None),
    ]
    assert sender_at(stack, start + CLAIM / 2).send_all() == 2
    assert len(inbox.wait_for(3)) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_two_senders_at_once_send_each_mail_once(stack, inbox):
    now = datetime.now(UTC)
    queue_sign_in_mail(stack, 40, now)
    senders = [sender_at(stack, now) for _ in range(2)]
    for sender in senders:
        sender.batch = 3
    threads = [threading.Thread(target=sender.send_all) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    received = inbox.wait_for(40)
    time.sleep(0.2)
    recipients = sorted(rcpt for mail in inbox.received for rcpt in mail.rcpt_tos)
    assert recipients == sorted(f"person{number}@example.org" for number in range(40))
    assert {d["state"] for d in deliveries(stack)} == {"sent"}
    assert len(received) == 40
