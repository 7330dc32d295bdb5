"""Fixtures that compose Hearth's services for the tests: the stack, a browser-like client, an
organizer and a community. Plumbing (databases, broker, the SMTP guard) is in shared.testing,
loaded as a plugin by pyproject.toml."""

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from hearth.stack import Stack
from services.events import operations
from services.events.store import Store
from services.events.store import outbox as events_outbox
from shared.config import Config
from shared.links import sign_in_url
from shared.testing import Browser


def _empty_tables(stack: Stack) -> None:
    for service in stack.services.values():
        with service.engine.begin() as conn:
            names = [
                name for name in sa.inspect(conn).get_table_names() if name != "alembic_version"
            ]
            if names:
                quoted = ", ".join(f'"{name}"' for name in names)
                conn.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


def delete_topology(stack: Stack) -> None:
    """Remove a test's exchange and queues from the broker."""
    topology = stack.bus.topology
    with stack.bus.connection() as connection:
        channel = connection.default_channel
        for subscription in stack.subscriptions:
            for queue in topology.queues(subscription):
                queue(channel).delete()
        topology.exchange(channel).delete()


# --- The stack -----------------------------------------------------------------------------


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """Which database backend the stack uses; parametrize indirectly to run on PostgreSQL."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def bus_url(request: pytest.FixtureRequest) -> str:
    """Which bus the stack uses: `memory://` unless parametrized with "rabbitmq"."""
    if getattr(request, "param", "memory") == "rabbitmq":
        return str(request.getfixturevalue("amqp_url"))
    return "memory://"


@pytest.fixture
def config(tmp_path: Path, database: str, bus_url: str, request: pytest.FixtureRequest) -> Config:
    run = uuid.uuid4().hex[:8]
    env = {"HEARTH_DATA": str(tmp_path / "var"), "HEARTH_PORT": "8000"}
    config = Config.from_env(env, dev=True).with_changes(
        amqp_url=bus_url,
        demo=False,
        exchange=f"hearth-test-{run}",
        queue_prefix=f"test-{run}.",
        retry_delays=(0.05, 0.1, 0.2),
    )
    if database == "postgres":
        config = config.with_changes(database_urls=request.getfixturevalue("postgres_databases"))
    return config


@pytest.fixture
def stack(config: Config) -> Iterator[Stack]:
    stack = Stack(config)
    stack.migrate()
    stack.declare()
    yield stack
    if not stack.bus.in_process:
        delete_topology(stack)
    if config.database_url("events").startswith("postgresql"):
        _empty_tables(stack)
    stack.stop()


@pytest.fixture
def client(stack: Stack) -> Browser:
    return Browser(stack.wsgi())


@pytest.fixture
def issue_token(stack: Stack) -> Callable[..., str]:
    """Makes a new API token for an email (creating the member), as `hearth token` does."""

    def issue(email: str, name: str | None = None) -> str:
        events = stack.services["events"]
        with Store(events.engine, events.outbox).begin() as uow:
            _, token = operations.issue_api_token(uow, email, name)
        return token

    return issue


@pytest.fixture
def organizer(issue_token: Callable[..., str]) -> dict[str, str]:
    """Authorization headers of an organizer-to-be (anyone who creates a community organizes it)."""
    return {"Authorization": f"Bearer {issue_token('dana@example.org', 'Dana Okafor')}"}


@pytest.fixture
def community(client: Browser, organizer: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        "/api/communities",
        json={"name": "Riverside Clinicians", "timezone": "America/New_York"},
        headers=organizer,
    )
    assert response.status_code == 201, response.text
    body = response.json
    assert isinstance(body, dict)
    return body


@pytest.fixture
def sign_in(stack: Stack) -> Callable[..., Any]:
    """Signs a browser in the way a person does: asks for the link, opens it from the email
    (rebuilt from the message's link id, as the mailer does) and presses the button."""

    def sign_in(client: Browser, email: str, next_url: str | None = None) -> Any:
        form_page = f"/sign-in?next={next_url}" if next_url else "/sign-in"
        data = {"email": email, **({"next": next_url} if next_url else {})}
        assert client.submit("/sign-in", data, form_page).status_code == 200
        with stack.services["events"].engine.connect() as conn:
            bodies = conn.execute(
                sa.select(events_outbox.c.body).order_by(events_outbox.c.id)
            ).scalars()
            link_ids = [
                message["payload"]["link_id"]
                for message in map(json.loads, bodies)
                if message["type"] == "events.sign_in_requested"
                and message["payload"]["member"]["email"] == email
            ]
        assert link_ids, f"no sign-in link was sent to {email}"
        path = urlsplit(sign_in_url(stack.config.secret_key, "", link_ids[-1])).path
        response = client.submit(path, {})
        assert response.status_code == 302, response.text
        return response

    return sign_in


@pytest.fixture
def schedule(request, client, organizer, community, stack):
    """Schedules an event through the events API, from the test module's LUNCH with the fields
    given, and lets every service learn it."""

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
