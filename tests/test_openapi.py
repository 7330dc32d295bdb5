"""Every service publishes a valid OpenAPI document at <prefix>api/openapi.json."""

import pytest
from openapi_spec_validator import validate

PREFIXES = {"events": "/", "rsvps": "/rsvps/", "notifications": "/notifications/"}


@pytest.mark.parametrize("service", ["events", "rsvps", "notifications"])
def test_the_openapi_document_is_valid(client, service):
    response = client.get(f"{PREFIXES[service]}api/openapi.json")
    assert response.status_code == 200
    document = response.json
    validate(document)
    assert f"{PREFIXES[service]}healthz" in document["paths"]


def test_the_events_document_describes_the_contract(client):
    document = client.get("/api/openapi.json").json
    paths = document["paths"]
    assert set(paths["/api/events/{event_id}"]) == {"get", "patch", "parameters"}
    body = paths["/api/communities/{slug}/events"]["post"]["requestBody"]
    schema_ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"kind", "title", "starts_at", "ends_at"} <= set(schema["required"])
    assert schema["properties"]["starts_at"]["type"] == "string"
