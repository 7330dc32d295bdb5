"""Stopping and starting this machine's RabbitMQ, for the chaos tests: each action returns only
once the broker is back (or fails the test), so no later test finds it down."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from shared.testing import unavailable


def require_rabbitmqctl() -> None:
    """Skip on a machine whose broker this test cannot stop (one in a container, say); under
    CI, fail instead."""
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl, to stop and start the broker,", FileNotFoundError("rabbitmqctl"))


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@contextmanager
def app_stopped() -> Iterator[None]:
    """The broker's application stops on its node, and starts again when the block ends:
    queues and persistent messages survive, every connection is cut."""
    require_rabbitmqctl()
    try:
        rabbitmqctl("stop_app")
        yield
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")


@contextmanager
def node_stopped() -> Iterator[None]:
    """The whole broker node stops, as on a host's reboot, and starts again when the block ends."""
    require_rabbitmqctl()
    try:
        rabbitmqctl("stop")
        yield
    finally:
        subprocess.run(["rabbitmq-server", "-detached"], check=True, timeout=60)
        # `await_startup` needs the node to answer at all: ask until it does.
        deadline = time.monotonic() + 120
        while subprocess.run(
            ["rabbitmqctl", "await_startup"], capture_output=True, timeout=120
        ).returncode:
            assert time.monotonic() < deadline, "RabbitMQ did not start again"
            time.sleep(0.5)


def close_all_connections() -> None:
    """The broker closes every client connection, as an operator or a failing node would."""
    require_rabbitmqctl()
    rabbitmqctl("close_all_connections", "chaos test")
