"""The three services put together: what `hearth dev`, the CLI and the tests compose."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from flask import Flask

from services.events import app as events_app
from services.notifications import app as notifications_app
from services.rsvps import app as rsvps_app
from shared.bus import RETRY_DELAYS, Bus, Subscription, Topology
from shared.config import SERVICES, Config
from shared.db import migrate
from shared.runtime import Service, Worker, flush

MODULES: dict[str, ModuleType] = {
    "events": events_app,
    "rsvps": rsvps_app,
    "notifications": notifications_app,
}
# Path prefixes of the shared origin (see the contract): the longest match wins, events is "/".
PREFIXES = {"notifications": "/notifications/", "rsvps": "/rsvps/", "events": "/"}


def catalogues() -> dict[str, Any]:
    """What each service publishes: message type -> (version, payload schema)."""
    found = {}
    for name in MODULES:
        # A service that publishes nothing (yet) has no messages module.
        if importlib.util.find_spec(f"services.{name}.messages") is not None:
            found[name] = importlib.import_module(f"services.{name}.messages").CATALOGUE
    return found


def bus_for(config: Config) -> Bus:
    delays = config.retry_delays or RETRY_DELAYS
    return Bus(config.amqp_url, Topology(config.exchange, config.queue_prefix, delays))


class Stack:
    """Some or all of the services of one deployment, sharing one configuration and bus."""

    def __init__(self, config: Config, names: Iterable[str] = SERVICES) -> None:
        self.config = config
        self.bus = bus_for(config)
        self.services: dict[str, Service] = {name: MODULES[name].service(config) for name in names}
        self._workers: list[Worker] = []

    @property
    def subscriptions(self) -> list[Subscription]:
        return [sub for service in self.services.values() for sub in service.subscriptions]

    def migrate(self) -> None:
        for service in self.services.values():
            migrate(service.engine, service.migrations)

    def declare(self) -> None:
        self.bus.declare(self.subscriptions)

    def app(self, name: str) -> Flask:
        return MODULES[name].create_app(self.config, self.bus, self.services[name])  # type: ignore[no-any-return]

    def wsgi(self) -> PrefixDispatcher:
        return PrefixDispatcher({name: self.app(name) for name in self.services})

    def flush(self) -> int:
        """Relay every outbox and handle every queued message until all is quiet."""
        return flush(self.services.values(), self.bus)

    def start_workers(self) -> None:
        for service in self.services.values():
            worker = Worker(service, self.bus)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
        for service in self.services.values():
            service.engine.dispose()


class PrefixDispatcher:
    """Routes requests to a service by path prefix, leaving the path unchanged (as the gateway
    does), so each service answers the same URLs whether it runs alone or with the others."""

    def __init__(self, apps: dict[str, Flask]) -> None:
        self.apps = apps
        self.routes = [(PREFIXES[name], app) for name, app in apps.items()]
        self.routes.sort(key=lambda route: len(route[0]), reverse=True)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "") or "/"
        for prefix, app in self.routes:
            if path.startswith(prefix) or path + "/" == prefix:
                return app(environ, start_response)
        return self.routes[-1][1](environ, start_response)
