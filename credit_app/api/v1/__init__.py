"""The credits API, version 1: the FastAPI app mounted at /api/v1 beside Reflex.

    api_v1 = create_v1(services, settings)     # a FastAPI app (ASGI), for Mount(PATH, ...)

Endpoints (routes): GET /balance, POST /spend, POST /holds, POST /holds/{id}/capture,
POST /holds/{id}/release, GET /ledger; the OpenAPI document at /openapi.json. Keys are
checked in `auth`, budgets in `limits`, bodies capped in `body_limit`, bodies described in
`schemas`, errors shaped in `errors`; what the endpoints do is credits_api's.
"""

from credit_app.api.v1.app import PATH, create_v1

__all__ = ["PATH", "create_v1"]
