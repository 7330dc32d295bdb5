"""deploy/rabbitmq/definitions.json is the broker topology of the code (`hearth topology
--definitions`, written by `make docs`), and it holds together: every queue dead-letters to a
queue it defines."""

import json
import os
import subprocess
import sys
from pathlib import Path

from shared.bus import DELIVERY_LIMIT, RETRY_DELAYS

COMMITTED = Path(__file__).parents[1] / "deploy" / "rabbitmq" / "definitions.json"


def generated(tmp_path: Path) -> dict:
    env = {
        **{name: value for name, value in os.environ.items() if not name.endswith("_URL")},
        "HEARTH_DATA": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "hearth.cli", "topology", "--definitions"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_the_committed_definitions_are_current(tmp_path):
    assert json.loads(COMMITTED.read_text()) == generated(tmp_path), (
        "deploy/rabbitmq/definitions.json is out of date: run `make docs`"
    )


def test_every_work_queue_has_its_delay_tiers_and_dead_letter_queue():
    definitions = json.loads(COMMITTED.read_text())
    queues = {queue["name"]: queue["arguments"] for queue in definitions["queues"]}
    bound = {binding["destination"] for binding in definitions["bindings"]}
    assert {exchange["name"] for exchange in definitions["exchanges"]} == {"hearth"}
    assert bound == {"events.rsvps", "events.calendar", "rsvps.events", "notifications.events"}
    for work in sorted(bound):
        arguments = queues[work]
        assert arguments["x-queue-type"] == "quorum"
        assert arguments["x-delivery-limit"] == DELIVERY_LIMIT
        assert arguments["x-dead-letter-routing-key"] == f"{work}.dead"
        assert queues[f"{work}.dead"] == {"x-queue-type": "quorum"}
        for delay in RETRY_DELAYS:
            tier = queues[f"{work}.retry.{delay:g}s"]
            assert tier["x-message-ttl"] == delay * 1000
            assert tier["x-dead-letter-routing-key"] == work, "back to its work queue"
            assert tier["x-dead-letter-strategy"] == "at-least-once"
    for name, arguments in queues.items():
        target = arguments.get("x-dead-letter-routing-key")
        assert target is None or target in queues, f"{name} dead-letters to a queue not defined"
    assert len(queues) == len(bound) * (2 + len(RETRY_DELAYS))
