"""Pytest plumbing any Hearth test suite can use (a plugin: `pytest_plugins = ["shared.testing"]`).

Tests marked `postgres` or `broker` run against the real servers named by TEST_POSTGRES_URL and
TEST_AMQP_URL; when those are unreachable such tests skip on a laptop but fail under CI=true, so
a CI run can never pass by skipping them. The fixtures that compose the services themselves are
in the project's tests/conftest.py.
"""

from __future__ import annotations

import html
import os
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import time as clock
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import kombu
import pytest
import requests
import sqlalchemy as sa
from werkzeug.test import Client, TestResponse

from shared.config import SERVICES

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/hearth_test"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672//"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- Dates that stay ahead ------------------------------------------------------------------
# The rsvps service takes answers only for what has not begun, so tests that answer use dates
# relative to the day they run. The tests' communities are in New York.
COMMUNITY_ZONE = ZoneInfo("America/New_York")


@cache
def _in_two_weeks(zone: ZoneInfo) -> date:
    """Today (read once per run and zone, so every test of a run agrees on the dates), plus two
    weeks."""
    return datetime.now(zone).date() + timedelta(weeks=2)


def thursday(weeks_later: int = 0, zone: ZoneInfo = COMMUNITY_ZONE) -> datetime:
    """Noon in `zone` on the first Thursday two weeks or more from today, or on the Thursday
    `weeks_later` weeks after it (before it, if negative)."""
    start = _in_two_weeks(zone)
    day = start + timedelta(days=(3 - start.weekday()) % 7, weeks=weeks_later)
    return datetime.combine(day, time(12), zone)


def local(moment: datetime) -> str:
    """A local wall time as the API takes and gives it, naming a date of a series too:
    "2026-12-03T12:00"."""
    return f"{moment:%Y-%m-%dT%H:%M}"


def unavailable(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message}; under CI this must not be skipped", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _no_outside_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens SMTP to somewhere other than a server on this machine."""
    original = smtplib.SMTP.connect

    def guarded(self: smtplib.SMTP, host: str = "localhost", port: int = 0, *args: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a test tried to open SMTP to {host}")
        return original(self, host, port, *args)

    monkeypatch.setattr(smtplib.SMTP, "connect", guarded)


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        unavailable("PostgreSQL at TEST_POSTGRES_URL", error)
    return url


@contextmanager
def fresh_databases(
    server: str, label: str, services: Sequence[str] = SERVICES
) -> Iterator[dict[str, str]]:
    """One new, empty database per service on `server` (named after `label` and a random run
    id), dropped afterwards even if connections are still open: service name -> URL."""
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    run = uuid.uuid4().hex[:8]
    urls = {}
    try:
        with admin.connect() as conn:
            for service in services:
                name = f"hearth_{label}_{service}_{run}"
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                urls[service] = server.rsplit("/", 1)[0] + f"/{name}"
        yield urls
    finally:
        with admin.connect() as conn:
            for url in urls.values():
                name = url.rsplit("/", 1)[1]
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: str) -> Iterator[dict[str, str]]:
    """One fresh database per service for this test session, dropped at the end."""
    with fresh_databases(postgres_server, "test") as urls:
        yield urls


# --- RabbitMQ ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def amqp_url() -> str:
    url = os.environ.get("TEST_AMQP_URL", DEFAULT_AMQP)
    try:
        with kombu.Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except Exception as error:
        unavailable("RabbitMQ at TEST_AMQP_URL", error)
    return url


class Browser(Client):
    """A cookie-keeping client for the whole origin, with helpers for forms and the API."""

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path} (status {page.status_code})"
        return match.group(1)

    def submit(self, path: str, data: dict[str, Any], form_page: str | None = None) -> TestResponse:
        """POST a form the way a browser does, with the CSRF token from its page."""
        token = self.csrf_token(form_page or path)
        return self.post(path, data={**data, "csrf_token": token})


def form_values(page: TestResponse) -> dict[str, str]:
    """What a browser would post back from a page's form, unchanged (buttons aside)."""
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", page.text):
        name = re.search(r'name="([^"]*)"', tag)
        if not name or name.group(1) == "csrf_token":
            continue
        kind = re.search(r'type="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) in ("radio", "checkbox") and " checked" not in tag:
            continue
        values[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, body in re.findall(
        r'<textarea[^>]*name="([^"]*)"[^>]*>(.*?)</textarea>', page.text, re.S
    ):
        values[name] = html.unescape(body)
    for name, options in re.findall(
        r'<select[^>]*name="([^"]*)"[^>]*>(.*?)</select>', page.text, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        values[name] = html.unescape(chosen.group(1)) if chosen else ""
    return values


# --- Processes -----------------------------------------------------------------------------

# The `hearth` command, as the tests run it.
HEARTH = [sys.executable, "-m", "hearth.cli"]


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def process(
    args: list[str], env: dict[str, str], ready_url: str, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """The command, started and answering `ready_url`; stopped afterwards. Its output goes to
    `log` (or a temporary file), shown if it fails: a pipe nobody reads would fill with its log
    lines and stop it."""
    with open(log, "w+b") if log else tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = clock.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    output.seek(0)
                    pytest.fail(f"{' '.join(args)} exited early:\n{output.read().decode()}")
                try:
                    if requests.get(ready_url, timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if clock.monotonic() > deadline:
                    pytest.fail(f"{ready_url} did not answer within 60 s")
                clock.sleep(0.2)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
