"""The notifications service learns communities and members from the events service's messages."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from hearth.stack import Stack
from services.events.store import outbox as events_outbox
from services.notifications.model import Community, Member
from services.notifications.store import Store, inbox

pytestmark = pytest.mark.parametrize(
    "database",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
    indirect=True,
)


def notifications(stack: Stack) -> Store:
    service = stack.services["notifications"]
    return Store(service.engine, service.outbox)


def add_member(client: Any, organizer: dict[str, str], slug: str, **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/communities/{slug}/members", json=fields, headers=organizer)
    assert response.status_code in (200, 201), response.text
    return response.json  # type: ignore[no-any-return]


def create_community(client: Any, organizer: dict[str, str], name: str, timezone: str):
    response = client.post(
        "/api/communities", json={"name": name, "timezone": timezone}, headers=organizer
    )
    assert response.status_code == 201, response.text
    return response.json


def sent_by_events(stack: Stack, type: str) -> list[Any]:
    with stack.services["events"].engine.connect() as conn:
        return conn.execute(
            sa.select(events_outbox)
            .where(events_outbox.c.type == type)
            .order_by(events_outbox.c.id)
        ).all()


def publish(stack: Stack, body: str, *, message_id: str, type: str) -> None:
    publisher = stack.bus.publisher()
    try:
        publisher.publish(body, type=type, message_id=message_id, correlation_id=str(uuid.uuid4()))
    finally:
        publisher.close()


def test_a_new_community_and_its_organizer_are_learned(client, organizer, community, stack):
    with notifications(stack).begin() as uow:
        assert uow.community(community["id"]) is None, "known before any message was delivered"

    stack.flush()

    with notifications(stack).begin() as uow:
        assert uow.community(community["id"]) == Community(
            id=community["id"],
            slug="riverside-clinicians",
            name="Riverside Clinicians",
            timezone="America/New_York",
        )
        [(dana, role)] = uow.members_of(community["id"])
        assert (dana.email, dana.name, dana.phone, role) == (
            "dana@example.org", "Dana Okafor", None, "organizer",
        )  # fmt: skip
        assert uow.member(dana.id) == dana
        assert uow.roles_of(dana.id) == {community["id"]: "organizer"}


def test_a_member_of_two_communities(client, organizer, community, stack):
    lee = add_member(client, organizer, community["slug"], email="lee@example.org", name="Lee Park")
    stack.flush()
    with notifications(stack).begin() as uow:
        assert uow.member(lee["id"]) == Member(lee["id"], "lee@example.org", "Lee Park", None)

    # Joining a second community, Lee gives a phone number.
    second = create_community(client, organizer, "Harbor Counselors", "America/Los_Angeles")
    add_member(
        client, organizer, second["slug"],
        email="lee@example.org", name="Lee Park", phone="+1 415 555 2671",
    )  # fmt: skip
    stack.flush()

    with notifications(stack).begin() as uow:
        assert uow.member(lee["id"]) == Member(
            lee["id"], "lee@example.org", "Lee Park", "+14155552671"
        )
        assert uow.roles_of(lee["id"]) == {community["id"]: "member", second["id"]: "member"}
        harbor = uow.community(second["id"])
        assert harbor is not None
        assert harbor.timezone == "America/Los_Angeles"
        assert [member.email for member, _ in uow.members_of(second["id"])] == [
            "dana@example.org", "lee@example.org",
        ]  # fmt: skip


def test_a_new_phone_number_is_learned_without_a_change_of_role(
    client, organizer, community, stack
):
    lee = add_member(client, organizer, community["slug"], email="lee@example.org", name="Lee Park")
    stack.flush()
    add_member(
        client, organizer, community["slug"],
        email="lee@example.org", name="Lee Park", phone="+1 415 555 2671",
    )  # fmt: skip
    stack.flush()
    with notifications(stack).begin() as uow:
        assert uow.member(lee["id"]).phone == "+14155552671"
        assert uow.roles_of(lee["id"]) == {community["id"]: "member"}


def test_a_changed_role_is_learned(client, organizer, community, stack):
    lee = add_member(client, organizer, community["slug"], email="lee@example.org", name="Lee Park")
    stack.flush()
    add_member(
        client, organizer, community["slug"],
        email="lee@example.org", name="Lee Park", role="organizer",
    )  # fmt: skip
    stack.flush()

    with notifications(stack).begin() as uow:
        assert uow.roles_of(lee["id"]) == {community["id"]: "organizer"}


def test_a_redelivered_message_changes_nothing(client, organizer, community, stack, caplog):
    lee = add_member(client, organizer, community["slug"], email="lee@example.org", name="Lee Park")
    stack.flush()
    added = sent_by_events(stack, "events.member_added")[-1]
    with notifications(stack).begin() as uow:
        before = uow.member(lee["id"]), uow.roles_of(lee["id"])
    assert before[1] == {community["id"]: "member"}, "the first delivery took effect"

    caplog.set_level(logging.INFO, logger="shared.runtime")
    publish(stack, added.body, message_id=added.message_id, type=added.type)
    assert stack.flush() == 2  # delivered again to the notifications and the rsvps queue

    with notifications(stack).begin() as uow:
        assert (uow.member(lee["id"]), uow.roles_of(lee["id"])) == before
    assert f"notifications.events already handled events.member_added {added.message_id}" in (
        caplog.text
    ), "the inbox, not luck, must have absorbed the duplicate"
    with stack.services["notifications"].engine.connect() as conn:
        claims = conn.execute(
            sa.select(sa.func.count()).where(inbox.c.message_id == added.message_id)
        ).scalar()
    assert claims == 1


def test_older_messages_arriving_late_do_not_roll_back(client, organizer, community, stack):
    lee = add_member(client, organizer, community["slug"], email="lee@example.org", name="Lee Park")
    add_member(
        client, organizer, community["slug"],
        email="lee@example.org", name="Lee Park", phone="+1 415 555 2671", role="organizer",
    )  # fmt: skip
    sent = sent_by_events(stack, "events.member_added")
    sent += sent_by_events(stack, "events.community_created")

    # Newest first: the role and phone number of the second message must survive the first.
    for row in sorted(sent, key=lambda row: row.id, reverse=True):
        publish(stack, row.body, message_id=row.message_id, type=row.type)
    stack.flush()

    with notifications(stack).begin() as uow:
        member = uow.member(lee["id"])
        assert member is not None
        assert member.phone == "+14155552671"
        assert uow.roles_of(lee["id"]) == {community["id"]: "organizer"}


def test_a_membership_is_kept_even_before_its_community_is_known(stack):
    """A tolerant reader: only the fields it needs, unknown ones ignored, order not assumed."""
    community = {"id": str(uuid.uuid4()), "slug": "north", "name": "North Group",
                 "timezone": "Europe/Oslo", "banner": "ignored"}  # fmt: skip
    member = {"id": str(uuid.uuid4()), "email": "ola@example.org", "name": "Ola Nordmann",
              "pronouns": "ignored"}  # fmt: skip
    envelope = {
        "id": str(uuid.uuid4()),
        "type": "events.member_added",
        "version": 1,
        "occurred_at": "2026-11-20T09:30:00Z",
        "producer": "events",
        "correlation_id": str(uuid.uuid4()),
        "payload": {"community": community, "member": member, "role": "member", "note": "new"},
    }
    publish(stack, json.dumps(envelope), message_id=envelope["id"], type=envelope["type"])
    stack.flush()

    with notifications(stack).begin() as uow:
        assert uow.community(community["id"]) == Community(
            community["id"], "north", "North Group", "Europe/Oslo"
        )
        assert uow.member(member["id"]) == Member(
            member["id"], "ola@example.org", "Ola Nordmann", None
        )
        assert uow.roles_of(member["id"]) == {community["id"]: "member"}
