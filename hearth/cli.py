"""The `hearth` command: the entry points of every Hearth process (see the contract's Commands)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from shared import logs
from shared.config import NO_BROKER, SERVICES, Config, ConfigError


def _config(dev: bool = False, strict: bool = True) -> Config:
    try:
        return Config.from_env(dev=dev, strict=strict)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _broker_config() -> Config:
    """For the operator commands that talk to the broker alone: AMQP_URL must be given, and
    nothing else (they sign nothing, so they need no secret key)."""
    config = _config(strict=False)
    if not config.uses_broker:
        raise click.UsageError(NO_BROKER)
    return config


def _logging(role: str | None, service: str | None = None, default_format: str = "json") -> None:
    """One line per record on stderr: JSON (HEARTH_LOG_FORMAT=json) for the deployed commands,
    whose lines a log collector reads, or text for a person at a terminal; from HEARTH_LOG_LEVEL
    (INFO) up. Each line names the kind of process (`role`) and its service, if it has one."""
    format = os.environ.get("HEARTH_LOG_FORMAT") or default_format
    if format not in logs.FORMATS:
        raise click.UsageError(f"HEARTH_LOG_FORMAT must be json or text, not {format!r}")
    level = (os.environ.get("HEARTH_LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise click.UsageError(
            f"HEARTH_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level.lower()!r}"
        )
    logs.configure(format, level, role=role, service=service)


# What a command's log lines call its process: `hearth serve` runs the web process.
ROLES = {"serve": "web"}


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Hearth: community events for people who hold others."""
    # Every command logs the same way, from its start; the commands that run one service
    # configure it again to name it. `hearth dev` (`make run`) is read by a person, in a terminal.
    command = ctx.invoked_subcommand or ""
    _logging(ROLES.get(command, command), default_format="text" if command == "dev" else "json")


@main.command()
def dev() -> None:
    """Run the whole stack in one process (what `make run` runs)."""
    from hearth.dev import run

    run(_config(dev=True))


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn processes")
def serve(service: str, port: int, host: str, workers: int) -> None:
    """Serve one service's web app with gunicorn (production WSGI server)."""
    _logging("web", service)
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    from hearth.stack import Stack

    config = _config()

    class ServerLogger(Logger):  # type: ignore[misc]
        """gunicorn's own lines (workers starting, timing out) go through the process's handler,
        in the same format as the app's, instead of gunicorn's handler. Its access log stays
        off: the app writes one line per request with the request's ids (shared.web)."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                    log.removeHandler(handler)
                log.propagate = True

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("logger_class", ServerLogger)
            self.cfg.set("proc_name", f"hearth-{service}")

        def load(self) -> Any:
            # Each gunicorn process builds its own app, engine and connections after the fork.
            return Stack(config, [service]).app(service)

    Server().run()


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="serve the worker's message metrics for Prometheus on this port (/metrics)",
)
def worker(service: str, metrics_port: int | None) -> None:
    """Run a service's outbox relay and consumers until stopped (several may run at once)."""
    from hearth.stack import Stack
    from shared import metrics
    from shared.runtime import Worker

    _logging("worker", service)
    stack = Stack(_config(), [service])
    stack.declare()
    if metrics_port is not None:
        metrics.serve(metrics_port)
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

    stack = Stack(_config(strict=False))
    stack.migrate()
    click.echo("migrated: " + ", ".join(stack.services))


@main.command()
@click.option(
    "--definitions",
    is_flag=True,
    help="print the topology as RabbitMQ definitions (JSON) instead of declaring it",
)
def topology(definitions: bool) -> None:
    """Declare the exchange, queues, delay queues and dead-letter queues on the broker."""
    import json

    from hearth.stack import Stack

    if definitions:
        stack = Stack(_config(strict=False))
        document = stack.bus.topology.definitions(stack.subscriptions)
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    stack = Stack(_broker_config())
    stack.declare()
    names = [sub.queue for sub in stack.subscriptions]
    click.echo(
        f"declared exchange {stack.bus.topology.exchange.name} and queues: {', '.join(names)}"
    )


@main.group(name="dead-letters")
def dead_letters() -> None:
    """Messages parked in the `<queue>.dead` queues: list, show, replay or purge them."""


def _dead_letters(queue: str | None = None) -> tuple[Any, Any]:
    """The bus and the subscription named by `queue` (work or dead-letter queue name), or every
    subscription when `queue` is None."""
    from hearth.stack import Stack
    from shared.dead_letters import NoSuchQueue, find

    stack = Stack(_broker_config())
    if queue is None:
        return stack.bus, stack.subscriptions
    try:
        return stack.bus, find(stack.subscriptions, queue)
    except NoSuchQueue as error:
        raise click.BadParameter(str(error), param_hint="QUEUE") from None


def _broker(action: Any, *args: Any) -> Any:
    """Run a dead-letter action, turning a missing queue or broker into a clear error."""
    from shared.dead_letters import NoBroker, NoSuchQueue

    try:
        return action(*args)
    except (NoSuchQueue, NoBroker) as error:
        raise click.ClickException(str(error)) from None


@dead_letters.command(name="list")
def dead_letters_list() -> None:
    """How many messages wait in each dead-letter queue."""
    from shared.dead_letters import counts

    bus, subscriptions = _dead_letters()
    for name, count in _broker(counts, bus, subscriptions):
        click.echo(f"{count:>7}  {name}")


@dead_letters.command(name="show")
@click.argument("queue")
@click.option("--limit", type=int, default=10, show_default=True)
def dead_letters_show(queue: str, limit: int) -> None:
    """The first parked messages of QUEUE, with why each was parked; they stay parked."""
    from shared.dead_letters import peek

    bus, subscription = _dead_letters(queue)
    parked = _broker(peek, bus, subscription, limit)
    for message in parked:
        click.echo(
            f"{message.message_id}  {message.type}  attempts={message.attempts}  "
            f"correlation={message.correlation_id}\n  reason: {message.reason}\n"
            f"  body: {message.body}\n"
        )
    if not parked:
        click.echo(f"nothing parked in {subscription.dead_letter_queue}")


@dead_letters.command(name="replay")
@click.argument("queue")
@click.option("--id", "message_id", help="only the message with this id")
def dead_letters_replay(queue: str, message_id: str | None) -> None:
    """Put QUEUE's parked messages (or one) back on their work queue, keeping their ids."""
    from shared.dead_letters import replay

    bus, subscription = _dead_letters(queue)
    count = _broker(replay, bus, subscription, message_id)
    if message_id is not None and count == 0:
        raise click.ClickException(f"no message {message_id} in {subscription.dead_letter_queue}")
    click.echo(f"replayed {count} message{'s' * (count != 1)} to {subscription.queue}")


@dead_letters.command(name="purge")
@click.argument("queue")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def dead_letters_purge(queue: str, yes: bool) -> None:
    """Delete every parked message of QUEUE, for good."""
    from shared.dead_letters import purge

    bus, subscription = _dead_letters(queue)
    if not yes:
        click.confirm(f"Delete every message in {subscription.dead_letter_queue}?", abort=True)
    count = _broker(purge, bus, subscription)
    click.echo(f"purged {count} message{'s' * (count != 1)} from {subscription.dead_letter_queue}")


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
