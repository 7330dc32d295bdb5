"""The `hearth` command: the entry points of every Hearth process (see the contract's Commands)."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import click

from shared.config import SERVICES, Config, ConfigError


def _config(dev: bool = False, strict: bool = True) -> Config:
    try:
        return Config.from_env(dev=dev, strict=strict)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@click.group()
def main() -> None:
    """Hearth: community events for people who hold others."""


@main.command()
def dev() -> None:
    """Run the whole stack in one process (what `make run` runs)."""
    from hearth.dev import run

    _logging()
    run(_config(dev=True))


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn processes")
def serve(service: str, port: int, host: str, workers: int) -> None:
    """Serve one service's web app with gunicorn (production WSGI server)."""
    from gunicorn.app.base import BaseApplication

    from hearth.stack import Stack

    config = _config()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("proc_name", f"hearth-{service}")

        def load(self) -> Any:
            # Each gunicorn process builds its own app, engine and connections after the fork.
            return Stack(config, [service]).app(service)

    Server().run()


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
def worker(service: str) -> None:
    """Run a service's outbox relay and consumers until stopped (several may run at once)."""
    from hearth.stack import Stack
    from shared.runtime import Worker

    _logging()
    stack = Stack(_config(), [service])
    stack.declare()
    running = Worker(stack.services[service], stack.bus)
    signal.signal(signal.SIGTERM, lambda *_: running.stop())
    running.start()
    click.echo(f"hearth worker {service}: running; Ctrl-C or SIGTERM stops it")
    try:
        running.wait()
    except KeyboardInterrupt:
        running.stop()


@main.command()
def migrate() -> None:
    """Apply every service's schema migrations to its database."""
    from hearth.stack import Stack

    _logging()
    stack = Stack(_config(strict=False))
    stack.migrate()
    click.echo("migrated: " + ", ".join(stack.services))


@main.command()
def topology() -> None:
    """Declare the exchange, queues and dead-letter queues on the broker."""
    from hearth.stack import Stack

    stack = Stack(_config())
    stack.declare()
    names = [sub.queue for sub in stack.subscriptions]
    click.echo(
        f"declared exchange {stack.bus.topology.exchange.name} and queues: {', '.join(names)}"
    )


@main.command()
def asyncapi() -> None:
    """Print the AsyncAPI document of every message the services publish."""
    import json

    from hearth.stack import catalogues
    from shared.asyncapi import document

    click.echo(json.dumps(document(catalogues()), indent=2, sort_keys=True))


@main.command()
@click.argument("email")
@click.option("--name", help="the member's name, if the member is new")
def token(email: str, name: str | None) -> None:
    """Print a new personal API token for EMAIL, creating the member if needed."""
    from email_validator import EmailNotValidError, validate_email

    from hearth.stack import Stack
    from services.events import operations
    from services.events.store import Store

    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    stack = Stack(_config(strict=False), ["events"])
    events = stack.services["events"]
    with Store(events.engine, events.outbox).begin() as uow:
        _, secret = operations.issue_api_token(uow, email, name)
    click.echo(secret)


if __name__ == "__main__":
    sys.exit(main())


@main.command()
@click.option(
    "--state",
    type=click.Choice(["queued", "retrying", "failed", "dropped", "sent", "all"]),
    default=None,
    help="only deliveries in this state (default: every state but sent)",
)
@click.option("--limit", type=int, default=50, show_default=True)
def deliveries(state: str | None, limit: int) -> None:
    """List the notifications service's deliveries, newest first, with their state and the last
    error: what an operator checks when someone says a mail or text never came."""
    from hearth.stack import Stack
    from services.notifications.store import Store

    stack = Stack(_config(strict=False), ["notifications"])
    notifications = stack.services["notifications"]
    with Store(notifications.engine, notifications.outbox).begin() as uow:
        rows = uow.deliveries(state=state, limit=limit)
    for row in rows:
        error = f"  {row['last_error']}" if row["last_error"] else ""
        click.echo(
            f"{row['updated_at']:%Y-%m-%d %H:%M:%S}  {row['state']:<8}  {row['channel']:<5}  "
            f"{row['kind']:<16}  {row['recipient']}  attempts={row['attempts']}{error}"
        )
    if not rows:
        click.echo("no deliveries" + (f" in state {state}" if state else " waiting or failed"))
