def test_create_and_read_event(client, organizer, community, stack):
    response = client.post(
        f"/api/communities/{community['slug']}/events",
        json={"kind": "peer_lunch", "title": "Lunch", "starts_at": "2026-12-03T12:00",
              "ends_at": "2026-12-03T13:00", "capacity": 6},
        headers=organizer,
    )
    assert response.status_code == 201, response.text
    assert response.json["starts_at"] == "2026-12-03T12:00:00-05:00"
    assert stack.flush() > 0


import pytest


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_on_postgres(client, organizer, community, stack):
    test_create_and_read_event(client, organizer, community, stack)


@pytest.mark.broker
@pytest.mark.parametrize("bus_url", ["rabbitmq"], indirect=True)
def test_on_rabbitmq(client, organizer, community, stack):
    test_create_and_read_event(client, organizer, community, stack)
