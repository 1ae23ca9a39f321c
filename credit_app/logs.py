"""Log lines as text (the default) or one JSON object per line (LOG_FORMAT=json), and the
ids that tie a line to what it was written for.

    request_id   one per HTTP request (api/guard.py sets it; a caller's own X-Request-Id
                 is kept when it is a short [A-Za-z0-9-] string, and echoed back)
    event_id     one per Reflex event (state/event_timing.py sets it): random, never the
                 client token, which would let anyone reading logs act as that tab

Both live in context variables, so every line logged while serving a request or an
event carries them, whichever module logs it. JSON lines have `time` (ISO-8601, UTC),
`level`, `logger`, `message`, `request_id`, `event_id` (null outside one), and
`exc_info` with a traceback.
"""

import logging
import re
import secrets
import sys
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
EVENT_ID: ContextVar[str | None] = ContextVar("event_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
# What a caller (a proxy, a load balancer) may choose as the id: short, and nothing that
# could forge another field or line in a log.
_CALLER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def new_id() -> str:
    return secrets.token_hex(8)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-Id when it is a short [A-Za-z0-9-] string, else a new id."""
    if header is not None and _CALLER_ID.fullmatch(header):
        return header
    return new_id()


class ContextIds(logging.Filter):
    """Puts the current request and event ids on every record a handler formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.event_id = EVENT_ID.get()
        return True


def json_formatter() -> JsonFormatter:
    return JsonFormatter(
        "{levelname}{name}{message}{request_id}{event_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


class _JsonHandler(logging.StreamHandler):
    """The handler `configure` installs (a class of its own, so a second call replaces it
    instead of writing every line twice)."""


def configure(log_format: str, stream: TextIO | None = None) -> None:
    """With "json", every record reaching the root logger is written as one JSON line to
    `stream` (stderr), in place of the root's other handlers (levels stay as they are);
    "text" leaves logging as the server set it up."""
    if log_format != "json":
        return
    handler = _JsonHandler(stream or sys.stderr)
    handler.addFilter(ContextIds())
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
