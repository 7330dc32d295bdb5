"""Composition root of the notifications service."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from services.notifications import store
from shared.bus import Bus
from shared.config import Config
from shared.db import make_engine
from shared.outbox import Outbox
from shared.runtime import Service
from shared.web import configure_sessions, install, use_shared_templates

NAME = "notifications"
PREFIX = "/notifications/"
MIGRATIONS = Path(__file__).parent / "migrations"


def service(config: Config) -> Service:
    engine = make_engine(config.database_url(NAME))
    return Service(name=NAME, engine=engine, outbox=Outbox(store.outbox), migrations=MIGRATIONS)


def create_app(config: Config, bus: Bus, parts: Service | None = None) -> Flask:
    parts = parts or service(config)
    app = Flask(__name__)
    app.config["HEARTH_BASE_URL"] = config.base_url
    configure_sessions(app, config.secret_key, config.base_url)
    use_shared_templates(app)
    app.extensions["hearth.store"] = store.Store(parts.engine, parts.outbox)
    app.extensions["hearth.service"] = parts
    install(
        app,
        service=NAME,
        prefix=PREFIX,
        engine=parts.engine,
        ping_broker=bus.ping,
        outbox_backlog=parts.outbox.backlog,
    )
    return app
