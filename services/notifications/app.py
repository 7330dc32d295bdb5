"""Composition root of the notifications service: its store, subscriptions, web app and runtime
parts."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from pathlib import Path

from flask import Flask

from services.notifications import handlers, inbound, pages, preferences, sending, store, texting
from services.notifications.mail import Mail
from services.notifications.model import EMAIL, SMS
from services.notifications.operators import DeliveriesCollector
from services.notifications.reminders import Reminders
from shared.bus import Bus, Subscription, Topology
from shared.config import Config
from shared.db import make_engine
from shared.openapi import document
from shared.outbox import Outbox
from shared.runtime import Service, Task, transactional
from shared.web import service_app

NAME = "notifications"
PREFIX = "/notifications/"
MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)

# How long a sender works before its worker looks whether it is being stopped (and runs it again
# at once if not): a stopped worker finishes its batch, not the thousands of mails behind it.
SLICE = timedelta(seconds=1)


def service(config: Config) -> Service:
    """The parts the web app, the worker and `hearth dev` share; the notifications service learns
    communities and members, with their contact details, from the events service's messages."""
    engine = make_engine(config.database_url(NAME))
    outbox = Outbox(store.outbox)
    senders: list[Task] = []

    def wake_senders() -> None:
        """After a commit that queued deliveries: they may go out now, not at the next poll."""
        for sender in senders:
            sender.wake.set()

    notifications_store = store.Store(engine, outbox, on_queued=wake_senders)
    topology = Topology(config.exchange, config.queue_prefix)
    courier = email_courier(config)
    if courier is not None:
        mail_sender = sending.Sender(notifications_store, EMAIL, courier)
        senders.append(Task("email", partial(mail_sender.send_all, within=SLICE)))
    texts_courier = texting.text_courier(config)
    if texts_courier is not None:
        text_sender = sending.Sender(notifications_store, SMS, texts_courier)
        senders.append(Task("sms", partial(text_sender.send_all, within=SLICE)))

    reminders = Reminders(notifications_store)
    events = Subscription(
        queue=topology.queue_name(NAME, "events"),
        bindings=tuple(handlers.HANDLERS),
        handle=transactional(
            notifications_store.begin, store.inbox, "notifications.events", handlers.HANDLERS
        ),
    )
    return Service(
        name=NAME,
        engine=engine,
        outbox=outbox,
        migrations=MIGRATIONS,
        subscriptions=[events],
        tasks=[*senders, Task("reminders", reminders.queue_due)],
    )


def email_courier(config: Config) -> sending.Courier | None:
    """SMTP when SMTP_URL is set; the dev mailbox in `hearth dev` without it; otherwise nothing,
    and mail waits in the ledger until SMTP_URL is given."""
    mail = Mail(mail_from=config.mail_from, base_url=config.base_url, secret_key=config.secret_key)
    if config.smtp_url:
        return sending.Smtp(mail, config.smtp_url)
    if config.dev:
        return sending.DevMailbox(mail)
    log.warning("SMTP_URL is not set: email is queued but not sent")
    return None


def create_app(config: Config, bus: Bus, parts: Service | None = None) -> Flask:
    parts = parts or service(config)
    app, csrf = service_app(
        __name__,
        parts=parts,
        prefix=PREFIX,
        config=config,
        bus=bus,
        store=store.Store(parts.engine, parts.outbox),
        # Only the operations endpoints so far; the notifications API arrives with its features.
        openapi=lambda: document("Hearth notifications service", PREFIX, [], {}),
    )
    app.extensions["hearth.metrics"].registry.register(DeliveriesCollector(parts.engine))
    if config.dev:
        # Shows every mail, sign-in links included: never part of a production app.
        def wake() -> None:
            for task in parts.tasks:
                task.wake.set()

        app.register_blueprint(pages.dev_mailbox(PREFIX, smtp_url=config.smtp_url, wake=wake))
    sms_inbound = inbound.blueprint(config.sms_auth_token, config.base_url)
    app.register_blueprint(sms_inbound)
    csrf.exempt(sms_inbound)  # the provider posts forms without our token; its signature is checked
    app.register_blueprint(preferences.blueprint())
    # Mail providers' one-click unsubscribe POSTs carry no CSRF token and no cookie: the signed
    # token in the URL is the proof. Only that view; the preferences form keeps its CSRF check.
    csrf.exempt(preferences.ONE_CLICK_VIEW)
    return app
