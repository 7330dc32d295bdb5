"""`hearth dev`: the whole stack in one process, on embedded defaults, with a demo community."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import date

import click
from werkzeug.serving import run_simple

from hearth.stack import Stack
from services.events import demo, operations
from services.events.store import Store
from shared.bus import ConsumerLoop, Subscription
from shared.config import Config
from shared.envelope import Envelope
from shared.links import sign_in_url

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    # Each app logs one line per request with its ids (shared.web): werkzeug's own is a repeat.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stack = Stack(config)
    stack.migrate()
    console = Subscription(
        stack.bus.topology.queue_name("dev", "console"),
        ("events.sign_in_requested",),
        _sign_in_printer(config),
    )
    stack.bus.declare([*stack.subscriptions, console])
    _prepare_demo(stack)
    stack.start_workers()
    # The notifications service mails sign-in links (to the dev mailbox without SMTP_URL); the
    # link is printed here too, so signing in needs nothing but the terminal.
    printer = ConsumerLoop(stack.bus, [console])
    threading.Thread(target=printer.run, name="dev-console", daemon=True).start()
    bus = "in-process bus" if stack.bus.in_process else config.amqp_url.split("@")[-1]
    click.echo(f"\n  Hearth is running at {config.base_url}  ({bus}; data in {config.data_dir}/)")
    if config.demo:
        click.echo(
            f"  Demo community: {config.base_url}/c/{demo.SLUG} — sign in as {demo.ORGANIZER}; "
            "the sign-in link is printed here.\n"
        )
    try:
        run_simple(
            "127.0.0.1",
            config.port,
            stack.wsgi(),
            threaded=True,
            use_reloader=False,
        )
    finally:
        printer.stop()
        stack.stop()


def _prepare_demo(stack: Stack) -> None:
    """Seed the demo community (unless HEARTH_DEMO=0) and grant HEARTH_DEV_TOKEN, every start."""
    config = stack.config
    events = stack.services["events"]
    ctx = operations.Context(None, str(uuid.uuid4()), config.base_url)
    with Store(events.engine, events.outbox).begin() as uow:
        if config.demo and demo.seed(uow, ctx, date.today()):
            log.info("seeded the demo community %s", demo.SLUG)
        if config.dev_token:
            demo.grant_dev_token(uow, config.dev_token, ctx.correlation_id)


def _sign_in_printer(config: Config) -> Callable[[Envelope], None]:
    def print_link(envelope: Envelope) -> None:
        member = envelope.payload.get("member", {})
        url = sign_in_url(config.secret_key, config.base_url, envelope.payload["link_id"])
        click.echo(
            f"\n  Sign-in link for {member.get('email')}: {url}\n  (works once, for 15 minutes)\n"
        )

    return print_link
