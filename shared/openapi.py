"""Each service's OpenAPI document, generated from the marshmallow schemas that check its input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint
from marshmallow import Schema

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` maps each bad field to what to fix.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["title", "status"],
}
ERRORS = {
    400: "malformed request (not a JSON object)",
    401: "not signed in",
    403: "signed in, but not allowed",
    404: "no such resource, or not visible to the caller",
    409: "conflicts with the current state",
    422: "well-formed but invalid: `errors` names each field",
}


@dataclass(frozen=True)
class Parameter:
    """A query parameter: what it means, whether it must be given, and its string's format."""

    description: str
    required: bool = True
    format: str = "date"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    success: int = 200
    body: type[Schema] | None = None
    errors: tuple[int, ...] = ()
    # name -> a required date's description, or a Parameter
    query: dict[str, str | Parameter] = field(default_factory=dict)


def document(
    title: str, prefix: str, operations: list[Operation], field_types: dict[type, tuple[str, str]]
) -> dict[str, Any]:
    plugin = MarshmallowPlugin()
    spec = APISpec(title=title, version="1", openapi_version="3.1.0", plugins=[plugin])
    for field_class, (type_, format_) in field_types.items():
        plugin.map_to_openapi_type(field_class, type_, format_)
    spec.components.schema("Problem", PROBLEM)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, path in (("healthz", "alive"), ("readyz", "database and broker reachable")):
        spec.path(
            path=f"{prefix}{name}",
            operations={
                "get": {
                    "summary": path,
                    "responses": {"200": {"description": "JSON status"}},
                }
            },
        )
    spec.path(
        path=f"{prefix}metrics",
        operations={
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "text format"}},
            }
        },
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        spec_op: dict[str, Any] = {
            "summary": op.summary,
            "security": [{"bearer": []}],
            "responses": {str(op.success): {"description": "success"}},
        }
        if op.body is not None:
            spec_op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": op.body}},
            }
        if op.query:
            query = {
                name: given if isinstance(given, Parameter) else Parameter(given)
                for name, given in op.query.items()
            }
            spec_op["parameters"] = [
                {
                    "in": "query",
                    "name": name,
                    "required": parameter.required,
                    "description": parameter.description,
                    "schema": {"type": "string", "format": parameter.format},
                }
                for name, parameter in query.items()
            ]
        for status in op.errors:
            spec_op["responses"][str(status)] = {
                "description": ERRORS[status],
                "content": {
                    "application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"},
                    }
                },
            }
        paths.setdefault(op.path, {})[op.method] = spec_op
    for path, ops in paths.items():
        parameters = [
            {"in": "path", "name": part[1:-1], "required": True, "schema": {"type": "string"}}
            for part in path.split("/")
            if part.startswith("{")
        ]
        spec.path(path=path, operations=ops, parameters=parameters)
    return spec.to_dict()


def blueprint(name: str, prefix: str, build: Any) -> Blueprint:
    """Serves `<prefix>api/openapi.json`, built once on first request."""
    bp = Blueprint(f"{name}_openapi", __name__)
    cache: dict[str, Any] = {}

    @bp.get(f"{prefix}api/openapi.json")
    def openapi() -> Any:
        if "doc" not in cache:
            cache["doc"] = build()
        return cache["doc"]

    return bp
