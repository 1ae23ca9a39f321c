"""JSON log lines (LOG_FORMAT=json) carry the request id the guard gives each HTTP request
(the caller's own when well formed, echoed back) and the event id of a Reflex event."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from credit_app import logs
from credit_app.api.guard import AppGuard, security_headers
from credit_app.settings import Settings

logger = logging.getLogger("credit_app.tests.logs")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines to a buffer (its handlers restored after)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.configure("json", stream=out)
    root.setLevel(logging.INFO)
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def _logs_a_line(_request: Request) -> PlainTextResponse:
    logger.warning("charged %d credits", 3)
    return PlainTextResponse("ok")


def _client() -> TestClient:
    inner = Starlette(routes=[Route("/work", _logs_a_line)])
    return TestClient(AppGuard(inner, headers=security_headers(https=False)))


def test_each_line_is_one_json_object_with_the_request_id(json_lines):
    response = _client().get("/work", headers={"X-Request-Id": "edge-7f3a"})
    assert response.headers["x-request-id"] == "edge-7f3a"
    [line] = [line for line in _lines(json_lines) if line["logger"] == logger.name]
    assert line["message"] == "charged 3 credits"
    assert line["level"] == "WARNING"
    assert line["request_id"] == "edge-7f3a"
    assert line["event_id"] is None
    assert line["time"].endswith("+00:00")


@pytest.mark.parametrize(
    "sent",
    ["", "a" * 65, "x y", "id\nforged", '"}{"level":"ERROR'],
    ids=["empty", "too-long", "space", "newline", "json-breaking"],
)
def test_an_ill_formed_request_id_is_replaced_by_a_new_one(json_lines, sent):
    response = _client().get("/work", headers={"X-Request-Id": sent})
    made = response.headers["x-request-id"]
    assert made != sent and made.isalnum()
    [line] = [line for line in _lines(json_lines) if line["logger"] == logger.name]
    assert line["request_id"] == made


def test_without_a_request_id_every_request_gets_its_own():
    client = _client()
    first, second = (client.get("/work").headers["x-request-id"] for _ in range(2))
    assert first != second


def test_a_line_logged_during_an_event_carries_its_event_id(json_lines):
    token = logs.EVENT_ID.set("e-1")
    try:
        logger.warning("in an event")
    finally:
        logs.EVENT_ID.reset(token)
    logger.warning("after it")
    during, after = (line for line in _lines(json_lines) if line["logger"] == logger.name)
    assert (during["event_id"], after["event_id"]) == ("e-1", None)


def test_an_exception_is_kept_in_the_line(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    [line] = _lines(json_lines)
    assert "ValueError: boom" in line["exc_info"]


def test_configuring_twice_writes_each_line_once(json_lines):
    logs.configure("json", stream=json_lines)
    logger.warning("once")
    assert len(_lines(json_lines)) == 1


def test_text_leaves_logging_as_it_was():
    root = logging.getLogger()
    before = list(root.handlers)
    logs.configure("text")
    assert root.handlers == before


def test_an_unknown_log_format_refuses_to_start(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert Settings().log_format == "json"
