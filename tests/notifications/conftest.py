"""Fixtures of the notifications service's tests: a real SMTP server on 127.0.0.1."""

from collections.abc import Iterator

import pytest

from .smtp_server import Handler, smtp_server


@pytest.fixture
def smtp() -> Iterator[tuple[Handler, str]]:
    """The server's handler (what it received) and its smtp:// URL."""
    with smtp_server() as server:
        yield server


@pytest.fixture
def inbox(smtp: tuple[Handler, str]) -> Handler:
    return smtp[0]
