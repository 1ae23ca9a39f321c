"""The credits API as one FastAPI app, for `Mount("/api/v1", ...)` beside Reflex.

Layers, outermost first: CORS (only for API_CORS_ORIGINS; none when empty), the body
cap (body_limit), FastAPI with the error handlers (errors) and the routes (routes).
Everything the routes share is built here and kept in `app.state.v1`: a mounted app's
lifespan never runs, so nothing may wait for a startup event.

The OpenAPI document (3.1) is generated from the routes and served at
/api/v1/openapi.json; its `servers` entry makes the paths in it resolve under the mount.
FastAPI's own docs pages are off: the app's reference page serves self-hosted assets.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from credit_app.api.app_services import AppServices
from credit_app.api.v1 import errors, routes
from credit_app.api.v1.auth import V1Context
from credit_app.api.v1.body_limit import BodyLimit
from credit_app.api.v1.limits import ApiLimits
from credit_app.credits_api.requests import Answer
from credit_app.routes import API_V1
from credit_app.settings import Settings

PATH = API_V1
TITLE = "Credit App credits API"
VERSION = "1"
DESCRIPTION = """Read balances and spend credits from your own backend.

Authenticate with an API key: `Authorization: Bearer cak_...`. A user's key acts for its
own account; a service key (the operator's backend) names the account in every call
(`user_id`). Bodies are JSON, sent with `Content-Type: application/json`. Spends and holds
take an `Idempotency-Key` header: a retry with the same key and body gets the first answer
again, so a request can be retried safely.

Every error has one shape, `{"error": {"code": ..., "message": ...}}`, with a stable
`code`: invalid_request (400), unauthorized (401), insufficient_credits and spending_limit
(402, with `required` and `available`), forbidden (403), not_found (404),
method_not_allowed (405), idempotency_conflict and hold_not_active (409), body_too_large
(413), rate_limited (429, with Retry-After), internal_error (500).
"""


class _ApiCors(CORSMiddleware):
    """Starlette's CORS, refusing a preflight in the API's error shape (a disallowed
    origin still gets no Access-Control-Allow-Origin)."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        refused = Answer.of(
            403,
            errors.error_content(
                errors.FORBIDDEN, "This origin, method or header is not allowed here."
            ),
        )
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.startswith("access-control-")
        }
        return errors.send(refused, headers)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, without FastAPI's 422 answers: this API says 400."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
            servers=app.servers,
        )
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema


def create_v1(services: AppServices, settings: Settings) -> FastAPI:
    """The API app: mount it at PATH. Add routes to it (the reference page) as to any
    FastAPI app; its errors all take the API's shape."""
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        servers=[{"url": PATH}],
        root_path_in_servers=False,
        # operationIds as the functions are named (get_balance, post_spend, ...), for
        # generated clients.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.v1 = V1Context(services=services, limits=ApiLimits.from_settings(settings))
    errors.install(app)
    app.include_router(routes.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    # Added last is outermost: CORS answers preflights before the body cap reads a body.
    app.add_middleware(BodyLimit)
    if origins := settings.api_cors_origin_list:
        app.add_middleware(
            _ApiCors,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed", "WWW-Authenticate"],
        )
    return app
