"""An AsyncAPI document of every message on the bus, generated from the publishers' schemas."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from shared.envelope import Catalogue

ENVELOPE = {
    "type": "object",
    "required": ["id", "type", "version", "occurred_at", "producer", "correlation_id", "payload"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "description": "also the AMQP message_id"},
        "type": {"type": "string", "description": "the routing key; also the AMQP type"},
        "version": {"type": "integer", "minimum": 1},
        "occurred_at": {"type": "string", "format": "date-time"},
        "producer": {"type": "string"},
        "correlation_id": {"type": "string"},
        "payload": {"type": "object"},
    },
}


def document(catalogues: Mapping[str, Catalogue]) -> dict[str, Any]:
    """AsyncAPI 2.6: one channel per message type on the `hearth` topic exchange."""
    spec = APISpec(
        title="schemas", version="1", openapi_version="3.1.0", plugins=[MarshmallowPlugin()]
    )
    channels: dict[str, Any] = {}
    for producer, catalogue in sorted(catalogues.items()):
        for type_, (version, schema) in sorted(catalogue.items()):
            name = schema.__name__
            if name not in spec.components.schemas:
                spec.components.schema(name, schema=schema)
            channels[type_] = {
                "description": f"published by the {producer} service",
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {
                            "name": "hearth",
                            "type": "topic",
                            "durable": True,
                            "autoDelete": False,
                        },
                    }
                },
                "subscribe": {
                    "message": {
                        "name": type_,
                        "contentType": "application/json",
                        "headers": {"type": "object"},
                        "payload": {
                            "allOf": [
                                ENVELOPE,
                                {
                                    "properties": {
                                        "type": {"const": type_},
                                        "version": {"const": version},
                                        "producer": {"const": producer},
                                        "payload": {"$ref": f"#/components/schemas/{name}"},
                                    }
                                },
                            ]
                        },
                        "bindings": {"amqp": {"deliveryMode": 2}},
                    }
                },
            }
    schemas = json.loads(json.dumps(spec.to_dict()["components"]["schemas"]))
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "Hearth messages",
            "version": "1",
            "description": "Every message on the `hearth` topic exchange, in its JSON envelope. "
            "Generated from the schemas the publishers validate against; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"schemas": schemas},
    }
