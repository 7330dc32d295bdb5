"""Composition root of the events service: its store, bus, blueprints and runtime parts."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.events import api, auth, pages, store
from shared.bus import Bus
from shared.config import Config
from shared.db import make_engine
from shared.openapi import blueprint as openapi_blueprint
from shared.outbox import Outbox
from shared.runtime import Service
from shared.web import configure_sessions, install, use_shared_templates

NAME = "events"
MIGRATIONS = Path(__file__).parent / "migrations"


def service(config: Config) -> Service:
    """The parts the web app, the worker and `hearth dev` share. The events service consumes
    nothing yet: it only publishes."""
    engine = make_engine(config.database_url(NAME))
    return Service(name=NAME, engine=engine, outbox=Outbox(store.outbox), migrations=MIGRATIONS)


def create_app(config: Config, bus: Bus, parts: Service | None = None) -> Flask:
    parts = parts or service(config)
    app = Flask(__name__, static_folder=str(Path(__file__).parents[2] / "shared" / "static"))
    app.config["HEARTH_BASE_URL"] = config.base_url
    csrf = configure_sessions(app, config.secret_key, config.base_url)
    use_shared_templates(app)
    app.extensions["hearth.store"] = store.Store(parts.engine, parts.outbox)
    app.extensions["hearth.service"] = parts
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    app.register_blueprint(openapi_blueprint(NAME, "/", api.openapi_document))
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    install(
        app,
        service=NAME,
        prefix="/",
        engine=parts.engine,
        ping_broker=bus.ping,
        outbox_backlog=parts.outbox.backlog,
    )
    return app
