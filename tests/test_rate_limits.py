"""Rate limits on sign-in requests and RSVP answers: a 429 that says when to try again, counted
per client (behind a trusted proxy, the client the proxy names), and in a deployment counted
together by every process through Redis."""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from limits import parse_many

from hearth.stack import Stack
from shared.ratelimit import ANSWERS_PER_CLIENT, SIGN_IN_PER_CLIENT, RateLimits
from shared.testing import Browser, local, thursday, unavailable

PER_MINUTE = {"sign-in": SIGN_IN_PER_CLIENT[0].amount, "rsvp": ANSWERS_PER_CLIENT[0].amount}


def test_sign_in_requests_from_one_client_are_limited(client):
    for _ in range(PER_MINUTE["sign-in"]):
        assert client.submit("/sign-in", {"email": "dana@example.org"}).status_code == 200
    refused = client.submit("/sign-in", {"email": "dana@example.org"})
    assert refused.status_code == 429
    assert "Try again in a minute." in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_rsvp_answers_from_one_client_are_limited(client, stack, issue_token):
    auth = {"Authorization": f"Bearer {issue_token('dana@example.org')}"}
    community = client.post(
        "/api/communities", json={"name": "Riverside", "timezone": "America/New_York"}, headers=auth
    ).json
    event = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "peer_lunch",
            "title": "Peer lunch",
            "starts_at": local(thursday()),
            "ends_at": local(thursday().replace(hour=13)),
            "visibility": "public",
        },
        headers=auth,
    ).json
    stack.flush()  # the rsvps service learns of the event
    answers = f"/rsvps/api/events/{event['id']}/rsvps"

    def answer(number: int):
        body = {"name": f"P {number}", "email": f"p{number}@example.org", "response": "yes"}
        return client.post(answers, json=body)

    for number in range(PER_MINUTE["rsvp"]):
        assert answer(number).status_code == 201
    refused = answer(PER_MINUTE["rsvp"])
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.json["detail"].startswith("That was a lot of requests in a short time.")
    assert int(refused.headers["Retry-After"]) > 0


def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_alone(config):
    stack = Stack(config.with_changes(trusted_proxies=1))
    stack.migrate()
    try:
        browser = Browser(stack.wsgi())

        def sign_in_from(address: str) -> int:
            form = {"email": "dana@example.org", "csrf_token": browser.csrf_token("/sign-in")}
            forwarded = {"X-Forwarded-For": address}
            return browser.post("/sign-in", data=form, headers=forwarded).status_code

        assert {sign_in_from("203.0.113.7") for _ in range(PER_MINUTE["sign-in"])} == {200}
        assert sign_in_from("203.0.113.7") == 429
        assert sign_in_from("198.51.100.20") == 200
    finally:
        stack.stop()


def test_without_rate_limits_nothing_is_counted(config):
    stack = Stack(config.with_changes(rate_limits=False))
    stack.migrate()
    try:
        browser = Browser(stack.wsgi())
        for _ in range(PER_MINUTE["sign-in"] + 1):
            assert browser.submit("/sign-in", {"email": "dana@example.org"}).status_code == 200
    finally:
        stack.stop()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if not RateLimits(url).reachable():
        unavailable("Redis at TEST_REDIS_URL", ConnectionError("no answer to PING"))
    return url


def test_processes_sharing_redis_count_together(redis_url):
    """Two web processes (here two counters on one Redis) share each client's allowance."""
    first, second = RateLimits(redis_url), RateLimits(redis_url)
    client = f"test-{uuid.uuid4()}"
    limit = parse_many("4/minute")
    assert [counter.hit(limit, "sign-in", client) for counter in (first, second) * 2] == [None] * 4
    assert first.hit(limit, "sign-in", client) is not None
    assert second.hit(limit, "sign-in", client) is not None


def test_an_unreachable_store_lets_requests_through():
    """A limit stops abuse; while its store restarts it must not lock everyone out."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    counter = RateLimits(f"redis://127.0.0.1:{port}/0")
    assert counter.hit(parse_many("1/minute"), "sign-in", "someone") is None
    assert counter.hit(parse_many("1/minute"), "sign-in", "someone") is None
