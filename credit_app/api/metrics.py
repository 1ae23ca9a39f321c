"""GET /metrics (Prometheus's text format) for the monitoring system on the private
network, and the latency of the /api routes.

/metrics answers only a direct peer: its address in METRICS_ALLOW, and no header a proxy
adds (X-Forwarded-For, Forwarded, X-Real-IP), so the page never reaches anyone through
the public reverse proxy, however it is configured. Anyone else is passed on to the rest
of the app, which answers as for any unknown path: nothing tells that the page exists.
"""

import asyncio
import ipaddress
import time
from collections.abc import Sequence

from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credit_app import metrics, routes

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PROXY_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})
API_PREFIX = "/api/"


def direct_peer_in(scope: Scope, allow: Sequence[Network]) -> bool:
    """The connection comes from an address in `allow` and carries no proxy header."""
    if any(name.lower() in PROXY_HEADERS for name, _ in scope.get("headers", ())):
        return False
    client = scope.get("client")
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allow)


class MetricsEndpoint:
    """Serves /metrics to allowed direct peers (see the module doc); everything else goes
    to `app` unchanged."""

    def __init__(self, app: ASGIApp, *, allow: Sequence[Network]) -> None:
        self.app = app
        self.allow = tuple(allow)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == routes.METRICS
            and scope["method"] in ("GET", "HEAD")
            and direct_peer_in(scope, self.allow)
        ):
            # Multiprocess mode reads one file per process: off the event loop.
            body, content_type = await asyncio.to_thread(metrics.exposition)
            await Response(body, media_type=content_type)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ApiLatency:
    """Times each HTTP request under /api/ until its response is sent, labelled by the
    route that matched (its path template, never the path itself: ids in paths would
    make a series each) and the status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.HTTP_REQUESTS.labels(
                route=_route_template(scope), status=f"{status // 100}xx"
            ).observe(time.perf_counter() - start)


def _route_template(scope: Scope) -> str:
    """The template of the route Starlette matched (it records the innermost one in the
    scope, a mounted app's route relative to its mount), or "other"."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if route is None or isinstance(route, Mount) or not isinstance(template, str):
        return metrics.OTHER
    root = scope.get("root_path", "")
    return root + template if root.startswith(API_PREFIX.rstrip("/")) else template
