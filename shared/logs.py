"""Log lines of every Hearth process: one JSON object per line for log collectors, or plain text
for a person at a terminal, each carrying the ids of the request or message being handled.

The ids travel in a context variable, set by the code that knows them (the web request hooks,
the consumer around one message) and read when a line is written, so one RSVP can be followed
by its correlation id from the request that made it to every message it caused, in every
service's processes, without passing ids to each `log` call.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

FORMATS = ("json", "text")
# The ids the context may hold (besides a web request's service), in the order the lines show them.
CONTEXT_FIELDS = (
    "correlation_id",
    "request_id",
    "message_id",
    "message_type",
    "queue",
)

# Never changed in place, only replaced: each `bind` makes a new mapping, so that a reset
# restores the one before.
_context: ContextVar[Mapping[str, str]] = ContextVar(
    "hearth_log_context", default=MappingProxyType({})
)

# Attributes every LogRecord has, and those the filter and formatters here add; anything else
# on a record came from `extra=` and becomes a field of its own.
_STANDARD = vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
_NOT_EXTRA = frozenset({*_STANDARD, "message", "asctime", "service", "process_role", "ids"})


def bind(**fields: str | None) -> Token[Mapping[str, str]]:
    """Add `fields` (those not None) to the context of what this thread or task logs next;
    `unbind` with the token returned puts the context back as it was."""
    known = {name: value for name, value in fields.items() if value}
    return _context.set({**_context.get(), **known})


def unbind(token: Token[Mapping[str, str]]) -> None:
    _context.reset(token)


@contextmanager
def context(**fields: str | None) -> Iterator[None]:
    """`fields` in the context of every line logged inside the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


class ContextFilter(logging.Filter):
    """Stamps each record with the process's service and role and the ids in the context, for
    either formatter. On the handler, not a logger, so it sees every logger's records, and in the
    thread that logs, where the context is the right one."""

    def __init__(self, role: str | None = None, service: str | None = None) -> None:
        super().__init__()
        self.role = role
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _context.get()
        # A web request names its service, which in `hearth dev` is one of three in the process.
        record.service = ids.get("service") or self.service
        record.process_role = self.role
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, ids.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: a traceback is a field, not more lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": getattr(record, "service", None),
            "process": getattr(record, "process_role", None),
            "pid": record.process,
        }
        for name in CONTEXT_FIELDS:
            line[name] = getattr(record, name, None)
        # Fields given with `extra=`: the access line's method, path, status and duration...
        for name, value in vars(record).items():
            if name not in _NOT_EXTRA and name not in CONTEXT_FIELDS:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        fields = {name: value for name, value in line.items() if value is not None}
        return json.dumps(fields, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic `time LEVEL logger: message`, with the correlation id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        correlation_id = getattr(record, "correlation_id", None)
        record.ids = f" [{correlation_id}]" if correlation_id else ""
        return super().format(record)


def handler(
    format: str = "json",
    *,
    role: str | None = None,
    service: str | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """A handler writing to `stream` (stderr) in `format` (FORMATS), stamping each line with
    `role`, the kind of process (web, worker, migrate...), and `service`, the one it runs."""
    if format not in FORMATS:
        raise ValueError(f"the log format must be one of {', '.join(FORMATS)}, not {format!r}")
    writer = logging.StreamHandler(sys.stderr if stream is None else stream)
    writer.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    writer.addFilter(ContextFilter(role, service))
    return writer


def configure(
    format: str = "json",
    level: str = "INFO",
    *,
    role: str | None = None,
    service: str | None = None,
) -> logging.Handler:
    """Send every logger's records from `level` up to stderr through one `handler`, replacing
    whatever the root logger had; returns the handler, for other loggers to share."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"the log level must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    writer = handler(format, role=role, service=service)
    logging.basicConfig(level=numeric, handlers=[writer], force=True)
    # Alembic names each of its plugins at INFO on every start: lines that say nothing.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(numeric, logging.WARNING))
    return writer
