"""Limits on what anyone can do over and over without an account: ask for sign-in links (each one
mails a member) and answer RSVPs (each one can take a seat).

Counts are kept by the `limits` library in RATE_LIMIT_STORAGE_URL: Redis in a deployment, so
every web process and host counts together; in memory by default, where each process counts
alone. What is counted is the client's address (request.remote_addr, which behind the gateway
comes from X-Forwarded-For, see HEARTH_TRUSTED_PROXIES). A member's inbox needs no limit of its
own: a member with a few live sign-in links gets no more (events.operations.request_sign_in).
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse_many, storage, strategies

log = logging.getLogger(__name__)

# Generous for people, tight for scripts: an office sharing one address can still answer at once.
SIGN_IN_PER_CLIENT = parse_many("10/minute;50/hour")
ANSWERS_PER_CLIENT = parse_many("30/minute;300/hour")


class RateLimits:
    def __init__(self, storage_url: str = "memory://") -> None:
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_url))

    def reachable(self) -> bool:
        """Whether the store of the counts answers."""
        try:
            return bool(self._limiter.storage.check())
        except Exception:
            return False

    def hit(self, limits: list[RateLimitItem], *identity: str) -> float | None:
        """Count one attempt by `identity` (what, and whose) against each of `limits`: None if
        it is allowed, else how many seconds until it would be.

        If the counts cannot be reached, the attempt is allowed (and logged): a limit is there to
        stop abuse, and must not lock everyone out while its store restarts."""
        wait = None
        for limit in limits:
            try:
                allowed = self._limiter.hit(limit, *identity)
                stats = None if allowed else self._limiter.get_window_stats(limit, *identity)
            except Exception:
                log.exception("rate limits unavailable; allowing %s", identity[0])
                return None
            if stats is not None:
                wait = max(wait or 0.0, stats.reset_time - time.time(), 1.0)
        return wait
