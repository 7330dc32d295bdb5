"""What the tests that run against the real broker share."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hearth.stack import Stack
from shared.bus import Subscription


@pytest.fixture
def declare(stack: Stack) -> Iterator[Callable[[Subscription], Subscription]]:
    """Declare a test's own subscriptions on its exchange, and delete their queues afterwards."""
    declared: list[Subscription] = []

    def declare(subscription: Subscription) -> Subscription:
        declared.append(subscription)
        stack.bus.declare([subscription])
        return subscription

    yield declare
    topology = stack.bus.topology
    with stack.bus.connection() as connection:
        channel = connection.default_channel
        for subscription in declared:
            for queue in topology.queues(subscription):
                queue(channel).delete()
