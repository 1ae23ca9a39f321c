"""A pure-ASGI guard around the whole app: what reaches Reflex's event socket, and the
security headers on every HTTP response.

Reflex keys each tab's state by the `token` the browser sends when it opens `/_event`
(HTTP polling or websocket), and accepts any string. Our live links are hex secrets, never
UUID-shaped, so refusing every token that is not a canonical UUID means no browser can
connect *as* a link token and read or re-link someone's live account. It runs before
Reflex, because `rx.Middleware` sees events only after the connection is made and
Starlette's BaseHTTPMiddleware ignores websockets.

The Cookie header is stripped from those requests too: the app never reads it there (the
session token travels in the event payload), and Reflex would otherwise keep every header
of the handshake in its state storage.

Each HTTP request gets its id here (credit_app.logs: the caller's X-Request-Id when it is
a short [A-Za-z0-9-] string, else a new one), for every line logged while serving it, and
echoed in the response's X-Request-Id.
"""

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credit_app import logs
from credit_app.settings import is_loopback_host

EVENT_PATH = "/_event"
_REQUEST_ID_HEADER = logs.REQUEST_ID_HEADER.encode()
_CLIENT_TOKEN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

logger = logging.getLogger(__name__)


def is_client_token(value: str) -> bool:
    """The shape of the token Reflex's frontend makes (crypto.randomUUID, lower case)."""
    return _CLIENT_TOKEN.fullmatch(value) is not None


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """Only what the pages need. The session token is readable by script (Reflex writes
    the cookie from JavaScript), so script injection would be account takeover: scripts
    come from our origin (plus the hashes of the build's own inline scripts) and never
    from `eval`. Styles may be inline (Radix sets style attributes); images may be data:
    URLs (QR codes) and https (profile pictures)."""
    scripts = " ".join(["'self'", *(f"'{h}'" for h in sorted(set(script_hashes)))])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: https:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(
    *, https: bool, script_hashes: Iterable[str] = ()
) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", content_security_policy(script_hashes).encode()),
        (b"referrer-policy", b"same-origin"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class AppGuard:
    """Wraps everything the backend serves (see the module doc). With `loopback_only`
    (simulated payments) it answers nobody but this machine, whatever address the server
    was told to bind: REFLEX_BACKEND_HOST or --backend-host can override the 127.0.0.1
    that rxconfig.py asks for."""

    def __init__(
        self, app: ASGIApp, *, headers: list[tuple[bytes, bytes]], loopback_only: bool = False
    ) -> None:
        self.app = app
        self.headers = headers
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = logs.request_id_from(_header(scope, _REQUEST_ID_HEADER))
        token = logs.REQUEST_ID.set(request_id)
        try:
            await self._guard(scope, receive, send, request_id)
        finally:
            logs.REQUEST_ID.reset(token)

    async def _guard(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        if self.loopback_only and not is_loopback_host((scope.get("client") or ("",))[0]):
            await _refuse(
                scope, receive, send, b'{"error": "this test server answers only its own machine"}'
            )
            return
        if scope["path"].startswith(EVENT_PATH):
            tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
            if len(tokens) != 1 or not is_client_token(tokens[0]):
                # The token is not logged: a refused one may be someone's secret.
                logger.warning("refused an event connection with a malformed client token")
                await _refuse(scope, receive, send, b'{"error": "invalid client token"}')
                return
            scope = {
                **scope,
                "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"cookie"],
            }
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A header the response set itself stays: the sandbox's pages send a
                # stricter policy (no script at all) than the app's.
                own = message.get("headers", [])
                present = {name.lower() for name, _ in own}
                added = [(k, v) for k, v in self.headers if k not in present]
                echoed = (_REQUEST_ID_HEADER, request_id.encode())
                message = {**message, "headers": [*own, *added, echoed]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case), if the request has it."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class LinkTokenFilter(logging.Filter):
    """Reflex logs "Attempting to send delta to disconnected client '<token>'", where the
    token can be a live link secret: such records are dropped whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "disconnected client" not in record.getMessage()
