"""`loopback_only`: answer only requests addressed to the loopback interface.

A page on another site can make a browser send requests to 127.0.0.1 under a name the
attacker controls (DNS rebinding); such requests carry that name in their Host header. This
ASGI middleware answers them 404 before any route (and so any state) is reached.
"""

import ipaddress
from typing import Any

from .errors import StripeError


def is_loopback_host(host: str) -> bool:
    """True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`, with or without port."""
    host = host.strip().lower()
    if host.startswith("["):
        address, sep, rest = host[1:].partition("]")
        if not sep or (rest and not _is_port(rest)):
            return False
    else:
        address, _, port = host.partition(":")
        if port and not port.isdigit():
            return False
    if address == "localhost" or address.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _is_port(rest: str) -> bool:
    return rest.startswith(":") and rest[1:].isdigit()


class LoopbackOnly:
    """Pure ASGI (not BaseHTTPMiddleware), so request bodies still stream to the routes."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            hosts = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
            if len(hosts) != 1 or not is_loopback_host(hosts[0]):
                response = StripeError(404, "Unrecognized request URL.").response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
