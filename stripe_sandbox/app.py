"""The Starlette application that serves one sandbox."""

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import (
    api_billing,
    api_catalog,
    api_checkout,
    api_payments,
    api_portal,
    control_api,
    portal_pages,
)
from .core import Sandbox
from .errors import StripeError
from .hosts import LoopbackOnly
from .settings import SandboxSettings


def create_app(settings: SandboxSettings) -> Starlette:
    """A fresh sandbox (empty store) as an ASGI app, usable standalone or under a Mount."""
    sandbox = Sandbox(settings)

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True, "public_url": settings.public_url})

    async def not_found(request: Request, _: Exception) -> Response:
        # Unknown /v1 paths answer like Stripe, so the SDK raises InvalidRequestError.
        return StripeError(
            404,
            f"Unrecognized request URL ({request.method}: {request.url.path}).",
        ).response()

    routes = [
        *api_catalog.routes(sandbox),
        *api_checkout.routes(sandbox),
        *api_billing.routes(sandbox),
        *api_payments.routes(sandbox),
        *api_portal.routes(sandbox),
        *portal_pages.routes(sandbox),
    ]
    if settings.controls:
        # Without controls no /_sandbox/* path exists: they answer like any unknown path.
        routes += [Route("/_sandbox/health", health, methods=["GET"]), *control_api.routes(sandbox)]
    middleware = [Middleware(LoopbackOnly)] if settings.loopback_only else []
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.sandbox = sandbox
    return app
