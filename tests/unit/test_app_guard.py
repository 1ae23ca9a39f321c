"""The ASGI guard: only client-token-shaped tokens reach Reflex's event socket, without the
Cookie header, and every HTTP response carries the security headers."""

import logging
import uuid

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from credit_app.api.csp import script_hashes
from credit_app.api.guard import (
    AppGuard,
    LinkTokenFilter,
    content_security_policy,
    security_headers,
)


async def _echo_headers(request: Request) -> JSONResponse:
    return JSONResponse({"cookie": request.headers.get("cookie")})


async def _event_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"cookie": websocket.headers.get("cookie")})
    await websocket.close()


async def _strict_page(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("x", headers={"content-security-policy": "default-src 'none'"})


def _client(
    *, https: bool = False, loopback_only: bool = False, client: tuple[str, int] | None = None
) -> TestClient:
    inner = Starlette(
        routes=[
            Route("/_event/", _echo_headers),
            Route("/page", _echo_headers),
            Route("/strict", _strict_page),
            WebSocketRoute("/_event/", _event_socket),
        ]
    )
    guard = AppGuard(inner, headers=security_headers(https=https), loopback_only=loopback_only)
    return TestClient(guard, client=client or ("127.0.0.1", 50000))


@pytest.mark.parametrize(
    "token",
    [
        "user-" + uuid.uuid4().hex,  # the old per-user link token
        uuid.uuid4().hex,  # a hex live token has no dashes
        str(uuid.uuid4()).upper(),
        str(uuid.uuid4()) + "x",
        "",
    ],
    # Ids by position: every pytest-xdist worker must collect the same test names.
    ids=["old-link-token", "hex-without-dashes", "upper-case", "trailing-junk", "empty"],
)
def test_event_socket_refuses_tokens_that_are_not_client_tokens(token):
    client = _client()
    path = f"/_event/?EIO=4&transport=websocket&token={token}"
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(path):
        pass
    assert refused.value.code == 1008
    # The polling transport is the same door.
    assert client.get(f"/_event/?EIO=4&transport=polling&token={token}").status_code == 403


def test_event_socket_refuses_a_second_token():
    first, second = uuid.uuid4(), uuid.uuid4()
    response = _client().get(f"/_event/?token={first}&token={second}")
    assert response.status_code == 403


def test_a_client_token_connects_without_its_cookies():
    client = _client()
    path = f"/_event/?EIO=4&transport=websocket&token={uuid.uuid4()}"
    with client.websocket_connect(path, headers={"cookie": "credit_session=secret"}) as ws:
        assert ws.receive_json() == {"cookie": None}
    polled = client.get(path.replace("websocket", "polling"), headers={"cookie": "a=b"})
    assert polled.json() == {"cookie": None}


def test_pages_get_security_headers_and_keep_their_cookies():
    response = _client().get("/page", headers={"cookie": "a=b"})
    assert response.json() == {"cookie": "a=b"}
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in response.headers
    https = _client(https=True).get("/page")
    assert https.headers["strict-transport-security"].startswith("max-age=")


def test_inline_scripts_are_allowed_by_their_hash_only():
    html = (
        "<script>window.a = 1;</script><script src='/x.js'></script>"
        "<script type='module'>import '/y.js';</script><script> </script>"
    )
    hashes = script_hashes(html)
    assert len(hashes) == 2
    policy = content_security_policy(hashes)
    assert all(f"'{h}'" in policy for h in hashes)


def test_log_records_that_name_a_disconnected_clients_token_are_dropped():
    live_token = "ab" * 32
    dropped = logging.LogRecord(
        "reflex.app",
        logging.WARNING,
        __file__,
        1,
        "Attempting to send delta to disconnected client %r",
        (live_token,),
        None,
    )
    kept = logging.LogRecord("reflex.app", logging.WARNING, __file__, 1, "other", (), None)
    assert not LinkTokenFilter().filter(dropped)
    assert LinkTokenFilter().filter(kept)


def test_a_response_keeps_its_own_stricter_policy():
    response = _client().get("/strict")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert response.headers["referrer-policy"] == "same-origin"


def test_a_loopback_only_server_answers_no_other_machine():
    remote = _client(loopback_only=True, client=("203.0.113.9", 40000))
    assert remote.get("/page").status_code == 403
    socket = remote.websocket_connect(f"/_event/?token={uuid.uuid4()}")
    with pytest.raises(WebSocketDisconnect), socket:
        pass
    assert _client(loopback_only=True).get("/page").status_code == 200
    assert _client(client=("203.0.113.9", 40000)).get("/page").status_code == 200
