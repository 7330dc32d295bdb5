"""The `hearth` command under a test's own exchange and queue names, so real worker processes of
tests that share one broker never consume each other's messages.

A deployment has one exchange and fixed queue names, so `Config.from_env` reads none; this entry
point is `hearth` with `exchange` and `queue_prefix` taken from HEARTH_TEST_EXCHANGE and
HEARTH_TEST_QUEUE_PREFIX; if HEARTH_TEST_RETRY_DELAYS is set (seconds, comma-separated), failed
messages wait that long before each retry instead of up to a minute; and, if
HEARTH_TEST_CLAIM_SECONDS is set, senders' claims last that long (sending.CLAIM), so a test does
not wait minutes for what a killed worker had claimed. Nothing else changes:

    python tests/integration/hearth_with_test_topology.py worker notifications
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta

from hearth import cli
from services.notifications import sending
from shared.config import Config

deployment_config = Config.from_env


def config_with_test_names(
    env: Mapping[str, str] | None = None, *, dev: bool = False, strict: bool = True
) -> Config:
    delays = os.environ.get("HEARTH_TEST_RETRY_DELAYS")
    return deployment_config(env, dev=dev, strict=strict).with_changes(
        exchange=os.environ["HEARTH_TEST_EXCHANGE"],
        queue_prefix=os.environ["HEARTH_TEST_QUEUE_PREFIX"],
        retry_delays=tuple(float(delay) for delay in delays.split(",")) if delays else None,
    )


if __name__ == "__main__":
    Config.from_env = staticmethod(config_with_test_names)  # type: ignore[method-assign,assignment]
    if "HEARTH_TEST_CLAIM_SECONDS" in os.environ:
        sending.CLAIM = timedelta(seconds=float(os.environ["HEARTH_TEST_CLAIM_SECONDS"]))
    sys.exit(cli.main())
