"""HTTP routes mounted next to the Reflex app. No business logic here."""

from starlette.applications import Starlette
from starlette.routing import Route

from credit_app.api.health import health


def build_api() -> Starlette:
    return Starlette(routes=[Route("/api/health", health, methods=["GET"])])
