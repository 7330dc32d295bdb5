"""Composition root of the rsvps service: its store, subscriptions, web app and runtime parts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Flask

from services.rsvps import api, attendees, handlers, operations, pages, store
from services.rsvps.metrics import RsvpsCollector
from shared.bus import Bus, Subscription, Topology
from shared.config import Config
from shared.db import make_engine
from shared.envelope import Envelope
from shared.outbox import Outbox
from shared.runtime import Service, transactional
from shared.web import service_app

NAME = "rsvps"
PREFIX = "/rsvps/"
MIGRATIONS = Path(__file__).parent / "migrations"


def service(config: Config) -> Service:
    """The parts the web app, the worker and `hearth dev` share; the rsvps service learns the
    events it takes RSVPs for from the events service's messages."""
    engine = make_engine(config.database_url(NAME))
    outbox = Outbox(store.outbox)
    rsvps_store = store.Store(engine, outbox)
    topology = Topology(config.exchange, config.queue_prefix)

    def context(envelope: Envelope) -> operations.Context:
        return operations.Context(
            correlation_id=envelope.correlation_id,
            base_url=config.base_url,
            secret_key=config.secret_key,
            now=datetime.now(UTC),
        )

    # One queue for all it learns from the events service: the events it takes answers for, and
    # who organizes them (memberships and API tokens), which decides who sees attendee lists.
    events = Subscription(
        queue=topology.queue_name(NAME, "events"),
        bindings=handlers.EVENT_MESSAGES + handlers.ORGANIZER_MESSAGES,
        handle=transactional(
            rsvps_store.begin,
            store.inbox,
            "rsvps.events",
            {**handlers.handlers(context), **handlers.ORGANIZER_HANDLERS},
        ),
    )
    return Service(
        name=NAME, engine=engine, outbox=outbox, migrations=MIGRATIONS, subscriptions=[events]
    )


def create_app(config: Config, bus: Bus, parts: Service | None = None) -> Flask:
    parts = parts or service(config)
    app, csrf = service_app(
        __name__,
        parts=parts,
        prefix=PREFIX,
        config=config,
        bus=bus,
        store=store.Store(parts.engine, parts.outbox),
        openapi=api.openapi_document,
    )
    app.extensions["hearth.metrics"].registry.register(RsvpsCollector(parts.engine))
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(attendees.bp)
    csrf.exempt(api.bp)  # the API takes only JSON bodies, which cross-site forms cannot send
    return app
