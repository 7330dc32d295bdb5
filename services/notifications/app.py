"""Composition root of the notifications service: its store, subscriptions, web app and runtime
parts."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.notifications import handlers, inbound, store
from shared.bus import Bus, Subscription, Topology
from shared.config import Config
from shared.db import make_engine
from shared.openapi import document
from shared.outbox import Outbox
from shared.runtime import Service, transactional
from shared.web import service_app

NAME = "notifications"
PREFIX = "/notifications/"
MIGRATIONS = Path(__file__).parent / "migrations"


def service(config: Config) -> Service:
    """The parts the web app, the worker and `hearth dev` share; the notifications service learns
    communities and members, with their contact details, from the events service's messages."""
    engine = make_engine(config.database_url(NAME))
    outbox = Outbox(store.outbox)
    notifications_store = store.Store(engine, outbox)
    topology = Topology(config.exchange, config.queue_prefix)
    events = Subscription(
        queue=topology.queue_name(NAME, "events"),
        bindings=tuple(handlers.HANDLERS),
        handle=transactional(
            notifications_store.begin, store.inbox, "notifications.events", handlers.HANDLERS
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
        # Only the operations endpoints so far; the notifications API arrives with its features.
        openapi=lambda: document("Hearth notifications service", PREFIX, [], {}),
    )
    sms_inbound = inbound.blueprint(config.sms_auth_token, config.base_url)
    app.register_blueprint(sms_inbound)
    csrf.exempt(sms_inbound)  # the provider posts forms without our token; its signature is checked
    return app
