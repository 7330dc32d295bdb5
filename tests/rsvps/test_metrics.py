"""The rsvps service's metrics count its RSVPs by status, as people answer, on SQLite and
PostgreSQL."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.testing import local, thursday

pytestmark = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

LUNCH = {
    "kind": "peer_lunch",
    "title": "Peer lunch",
    "starts_at": local(thursday()),
    "ends_at": local(thursday() + timedelta(hours=1)),
    "capacity": 2,
}


def rsvps_by_status(client) -> dict[str, float]:
    scraped = client.get("/rsvps/metrics")
    assert scraped.status_code == 200
    (family,) = [
        f for f in text_string_to_metric_families(scraped.text) if f.name == "hearth_rsvps"
    ]
    return {sample.labels["status"]: sample.value for sample in family.samples}


def answer(client, event, who, response):
    body = {"name": who.title(), "email": f"{who}@example.org", "response": response}
    answered = client.post(f"/rsvps/api/events/{event['id']}/rsvps", json=body)
    assert answered.status_code == 201, answered.text
    return answered.json


def test_every_status_is_counted_and_shown_before_anyone_answers(client, schedule):
    nothing = {"confirmed": 0, "waitlisted": 0, "maybe": 0, "declined": 0, "cancelled": 0}
    assert rsvps_by_status(client) == nothing

    lunch = schedule()
    ana = answer(client, lunch, "ana", "yes")
    for who, response in [("ben", "yes"), ("cy", "yes"), ("dee", "yes"), ("eve", "no")]:
        answer(client, lunch, who, response)
    answer(client, lunch, "fay", "maybe")
    assert rsvps_by_status(client) == {
        "confirmed": 2, "waitlisted": 2, "maybe": 1, "declined": 1, "cancelled": 0,
    }  # fmt: skip

    token = ana["manage_url"].rsplit("/", 1)[1]
    cancelled = client.post(f"/rsvps/api/rsvps/{ana['id']}/cancel", json={"token": token})
    assert cancelled.status_code == 200
    # Ana's seat goes to the first on the waitlist.
    assert rsvps_by_status(client) == {
        "confirmed": 2, "waitlisted": 1, "maybe": 1, "declined": 1, "cancelled": 1,
    }  # fmt: skip
