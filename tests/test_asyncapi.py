"""The message catalogue in docs/ is generated from the code, and real messages match it."""

import json
from pathlib import Path

import jsonschema
import sqlalchemy as sa

from hearth.stack import catalogues
from services.events import store as events_store
from shared.asyncapi import document

COMMITTED = Path(__file__).parents[1] / "docs" / "asyncapi.json"


def test_the_committed_document_is_current():
    assert json.loads(COMMITTED.read_text()) == document(catalogues()), (
        "docs/asyncapi.json is out of date: run `make docs`"
    )


def test_every_published_message_matches_its_channel(client, stack, organizer, community):
    event = client.post(
        f"/api/communities/{community['slug']}/events",
        json={
            "kind": "consult_group",
            "title": "Consult",
            "starts_at": "2026-12-03T12:00",
            "ends_at": "2026-12-03T13:00",
            "rrule": "FREQ=WEEKLY;BYDAY=TH",
        },
        headers=organizer,
    ).json
    client.patch(f"/api/events/{event['id']}", json={"capacity": 5}, headers=organizer)
    client.post(
        f"/api/events/{event['id']}/cancel",
        json={"occurrence": "2026-12-10T12:00"},
        headers=organizer,
    )
    client.post(f"/api/events/{event['id']}/cancel", json={}, headers=organizer)
    client.post(
        f"/api/communities/{community['slug']}/members",
        json={"email": "sam@example.org", "name": "Sam"},
        headers=organizer,
    )
    spec = document(catalogues())
    with stack.services["events"].engine.connect() as conn:
        bodies = conn.execute(sa.select(events_store.outbox.c.body)).scalars().all()
    seen = set()
    for body in bodies:
        message = json.loads(body)
        payload_schema = spec["channels"][message["type"]]["subscribe"]["message"]["payload"]
        jsonschema.validate(message, {**payload_schema, "components": spec["components"]})
        seen.add(message["type"])
    assert seen == {
        "events.api_token_issued",  # the organizer's token
        "events.community_created",
        "events.member_added",
        "events.event_scheduled",
        "events.event_updated",
        "events.occurrence_cancelled",
        "events.event_cancelled",
    }
