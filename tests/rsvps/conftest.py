"""Fixtures of the rsvps service's tests."""

import pytest


@pytest.fixture
def schedule(request, client, organizer, community, stack):
    """Schedules an event through the events API, from the test module's LUNCH with the fields
    given, and lets the rsvps service learn it."""

    def schedule(**fields):
        response = client.post(
            f"/api/communities/{community['slug']}/events",
            json={**request.module.LUNCH, **fields},
            headers=organizer,
        )
        assert response.status_code == 201, response.text
        stack.flush()
        return response.json

    return schedule
