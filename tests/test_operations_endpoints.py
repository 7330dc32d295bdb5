"""Every service answers healthz, readyz and metrics under its own prefix."""

import socket

import pytest

from hearth.stack import Stack

PREFIXES = ["/", "/rsvps/", "/notifications/"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_health_and_readiness(client, prefix):
    health = client.get(f"{prefix}healthz")
    assert health.status_code == 200
    assert health.json["status"] == "ok"
    ready = client.get(f"{prefix}readyz")
    assert ready.status_code == 200
    assert ready.json == {**ready.json, "status": "ready", "database": "ok", "broker": "ok"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("name", ["events", "rsvps", "notifications"])
def test_readiness_fails_while_the_broker_is_unreachable(config, name):
    unreachable = config.with_changes(amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}//")
    stack = Stack(unreachable, [name])
    stack.migrate()
    try:
        prefix = PREFIXES[["events", "rsvps", "notifications"].index(name)]
        response = stack.app(name).test_client().get(f"{prefix}readyz")
        assert response.status_code == 503
        assert response.json["status"] == "unavailable"
        assert response.json["database"] == "ok"
        assert response.json["broker"].startswith("unreachable")
        # Liveness does not depend on the broker: a restart would not help.
        assert stack.app(name).test_client().get(f"{prefix}healthz").status_code == 200
    finally:
        stack.stop()


def test_metrics_count_requests_and_the_outbox_backlog(client, organizer, community, stack):
    text = client.get("/metrics").text
    assert 'hearth_http_requests_total{endpoint="/api/communities",method="POST"' in text
    # the organizer's token, the community, the organizer added
    assert 'hearth_outbox_backlog{service="events"} 3.0' in text
    stack.flush()
    assert 'hearth_outbox_backlog{service="events"} 0.0' in client.get("/metrics").text
    rsvps = client.get("/rsvps/metrics")
    assert rsvps.status_code == 200
    assert 'hearth_outbox_backlog{service="rsvps"}' in rsvps.text


@pytest.mark.parametrize("path", ["/", "/sign-in", "/rsvps/healthz", "/notifications/healthz"])
def test_every_answer_forbids_inline_script_and_framing(client, path):
    """No inline script or style runs, whatever markup got into a page, and no other site can
    frame a page of one button (such as "cancel my RSVP") to have it clicked unseen."""
    headers = client.get(path).headers
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert "script-src" not in policy and "style-src" not in policy  # both only 'self'
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
