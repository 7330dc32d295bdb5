"""Composition root of the events service: its store, bus, blueprints and runtime parts."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.events import api, auth, feeds, handlers, pages, store
from shared.bus import Bus, Subscription, Topology
from shared.config import Config
from shared.db import make_engine
from shared.outbox import Outbox
from shared.runtime import Service, transactional
from shared.web import service_app

NAME = "events"
MIGRATIONS = Path(__file__).parent / "migrations"


def service(config: Config) -> Service:
    """The parts the web app, the worker and `hearth dev` share; the events service learns the
    seat counts it shows from the rsvps service's messages."""
    engine = make_engine(config.database_url(NAME))
    outbox = Outbox(store.outbox)
    events_store = store.Store(engine, outbox)
    topology = Topology(config.exchange, config.queue_prefix)
    rsvps = Subscription(
        queue=topology.queue_name(NAME, "rsvps"),
        bindings=handlers.RSVP_MESSAGES,
        handle=transactional(events_store.begin, store.inbox, "events.rsvps", handlers.HANDLERS),
    )
    # Its own event messages, on a queue of their own: each change renders the event's
    # calendar text once, for every feed it is in.
    calendar = Subscription(
        queue=topology.queue_name(NAME, "calendar"),
        bindings=handlers.EVENT_MESSAGES,
        handle=transactional(
            events_store.begin,
            store.inbox,
            "events.calendar",
            handlers.calendar_handlers(config.base_url),
        ),
    )
    return Service(
        name=NAME,
        engine=engine,
        outbox=outbox,
        migrations=MIGRATIONS,
        subscriptions=[rsvps, calendar],
    )


def create_app(config: Config, bus: Bus, parts: Service | None = None) -> Flask:
    parts = parts or service(config)
    app, csrf = service_app(
        __name__,
        parts=parts,
        prefix="/",
        config=config,
        bus=bus,
        store=store.Store(parts.engine, parts.outbox),
        openapi=api.openapi_document,
        # The shared stylesheet is served from the origin's root, which is this service's.
        static_folder=str(Path(__file__).parents[2] / "shared" / "static"),
    )
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # the API takes only JSON bodies, which cross-site forms cannot send
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(feeds.bp)
    app.extensions["hearth.feeds"] = feeds.FeedCache()  # this process's assembled feeds
    return app
