"""What a service runs besides its web app: the outbox relay, its consumers with the inbox, and
its repeating tasks (such as sending what is due)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.bus import Bus, ConsumerLoop, Handler, Subscription, Transient, drain
from shared.envelope import Envelope
from shared.outbox import Outbox, Relay, UnitOfWork, claim

log = logging.getLogger(__name__)


MessageHandler = Callable[[Any, Envelope], None]


@dataclass
class Task:
    """Work a worker repeats: `run` does what is due now, or some of it, and says how much it
    did; a run that did something is followed by another at once, one that did nothing by the
    next poll. Setting `wake` runs it at once instead."""

    name: str
    run: Callable[[], int]
    wake: threading.Event = field(default_factory=threading.Event)


@dataclass
class Service:
    """The parts of one service that its web app, its worker and `hearth dev` share."""

    name: str
    engine: Engine
    outbox: Outbox
    migrations: Path
    subscriptions: list[Subscription] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)


def transactional(
    begin: Callable[[], AbstractContextManager[UnitOfWork]],
    inbox: sa.Table,
    consumer: str,
    handlers: Mapping[str, MessageHandler],
) -> Handler:
    """Wrap message handlers so each runs once per message id, in one transaction with the inbox.

    Types without a handler are acknowledged and ignored: consumers read only what they need.
    """

    def handle(envelope: Envelope) -> None:
        handler = handlers.get(envelope.type)
        if handler is None:
            return
        try:
            with begin() as uow:
                if not claim(uow.conn, inbox, envelope.id, consumer):
                    log.info("%s already handled %s %s", consumer, envelope.type, envelope.id)
                    return
                handler(uow, envelope)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            # The database is away or the transaction lost a deadlock: not the message's fault.
            raise Transient(str(error).splitlines()[0]) from error

    return handle


def flush(services: Iterable[Service], bus: Bus, rounds: int = 50) -> int:
    """Publish every outbox, handle every queued message and run every task until nothing moves
    (tests, demo)."""
    services = list(services)
    publishers = {service.name: bus.publisher() for service in services}
    moved_total = 0
    try:
        for _ in range(rounds):
            moved = 0
            for service in services:
                moved += Relay(
                    service.engine, service.outbox, publishers[service.name]
                ).publish_all()
                for subscription in service.subscriptions:
                    moved += drain(bus, subscription, publishers[service.name])
                for task in service.tasks:
                    moved += task.run()
            moved_total += moved
            if not moved:
                return moved_total
    finally:
        for publisher in publishers.values():
            publisher.close()
    raise RuntimeError(f"messages still moving after {rounds} rounds")


class Worker:
    """Runs one service's outbox relay, consumers and tasks in background threads until stopped."""

    def __init__(self, service: Service, bus: Bus, idle_poll: float = 0.5) -> None:
        self.service = service
        self.bus = bus
        self.idle_poll = idle_poll
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._consumer: ConsumerLoop | None = None

    def start(self) -> None:
        name = self.service.name
        self._threads.append(
            threading.Thread(target=self._relay_loop, name=f"{name}-relay", daemon=True)
        )
        if self.service.subscriptions:
            self._consumer = ConsumerLoop(self.bus, self.service.subscriptions)
            self._threads.append(
                threading.Thread(target=self._consumer.run, name=f"{name}-consumer", daemon=True)
            )
        for task in self.service.tasks:
            self._threads.append(
                threading.Thread(
                    target=self._task_loop, args=(task,), name=f"{name}-{task.name}", daemon=True
                )
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.service.outbox.pending.set()
        for task in self.service.tasks:
            task.wake.set()
        if self._consumer is not None:
            self._consumer.stop()
        for thread in self._threads:
            thread.join(timeout)
        if self._consumer is not None:
            self._consumer.close()

    def wait(self) -> None:
        """Block until stopped (the worker command's main thread)."""
        while not self._stopping.wait(1.0):
            dead = [thread.name for thread in self._threads if not thread.is_alive()]
            # A stop (SIGTERM) that began during this wait ends the threads too: not a crash.
            if dead and not self._stopping.is_set():
                raise RuntimeError(f"worker threads ended unexpectedly: {', '.join(dead)}")

    def _relay_loop(self) -> None:
        outbox = self.service.outbox
        publisher = self.bus.publisher()
        relay = Relay(self.service.engine, outbox, publisher)
        backoff = 1.0
        try:
            while not self._stopping.is_set():
                try:
                    relay.publish_all()
                    backoff = 1.0
                except Exception:
                    # The broker or database is away: the outbox keeps the messages; try again.
                    log.exception(
                        "%s relay could not publish; retrying in %.0fs", self.service.name, backoff
                    )
                    self._stopping.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                outbox.pending.wait(self.idle_poll)
                outbox.pending.clear()
        finally:
            publisher.close()

    def _task_loop(self, task: Task) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                done = task.run()
                backoff = 1.0
            except Exception:
                # What the task talks to (a mail server, the database) is away: nothing was
                # recorded as done, so the next run tries the same work again.
                log.exception(
                    "%s %s failed; retrying in %.0fs", self.service.name, task.name, backoff
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if done:
                continue  # it may have stopped short of all there is to do: again, at once
            task.wake.wait(self.idle_poll)
            task.wake.clear()
