"""The credits API's one error shape, its stable codes, and the handlers that give every
error under /api/v1 that shape (FastAPI's validation errors and Starlette's 404/405
included):

    {"error": {"code": "insufficient_credits", "message": "...", "required": 50,
               "available": 20}}

`code` is stable (clients branch on it), `message` is for people, and a few codes carry
their numbers or the `param` at fault. Nothing about the server (a stack, SQL, a path on
disk) is ever in a body: a crash is 500 internal_error, logged with its traceback. A
database that cannot be reached is 503 service_unavailable with Retry-After: the change
almost surely did not happen (unless the connection broke during its commit), and a retry
with the same Idempotency-Key is safe either way.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from credit_app import credits, db
from credit_app.credits_api import operations
from credit_app.credits_api.requests import Answer, KeyReused

logger = logging.getLogger(__name__)

# The stable codes and their statuses.
INVALID_REQUEST = "invalid_request"  # 400
UNAUTHORIZED = "unauthorized"  # 401
INSUFFICIENT_CREDITS = "insufficient_credits"  # 402
SPENDING_LIMIT = "spending_limit"  # 402
FORBIDDEN = "forbidden"  # 403
NOT_FOUND = "not_found"  # 404
METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
IDEMPOTENCY_CONFLICT = "idempotency_conflict"  # 409
HOLD_NOT_ACTIVE = "hold_not_active"  # 409
BODY_TOO_LARGE = "body_too_large"  # 413
RATE_LIMITED = "rate_limited"  # 429
INTERNAL_ERROR = "internal_error"  # 500
SERVICE_UNAVAILABLE = "service_unavailable"  # 503
# Seconds a client is asked to wait after a 503 (the database restarting).
UNAVAILABLE_RETRY_AFTER = 5

_CODE_OF_STATUS = {
    400: INVALID_REQUEST,
    401: UNAUTHORIZED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: BODY_TOO_LARGE,
    429: RATE_LIMITED,
}
_MESSAGE_OF_STATUS = {
    404: "There is no such endpoint in the credits API.",
    405: "This endpoint does not take that method.",
}
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
IDEMPOTENCY_KEY = "Idempotency-Key"


def error_content(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


class ApiError(Exception):
    """An error answer raised from anywhere in a request (never stored)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.answer = Answer.of(status, error_content(code, message, **extra))
        self.headers = headers or {}


def unauthorized() -> ApiError:
    return ApiError(
        401,
        UNAUTHORIZED,
        "Send a valid API key: Authorization: Bearer <key>.",
        headers=_UNAUTHORIZED,
    )


def rate_limited(wait: int) -> ApiError:
    return ApiError(
        429,
        RATE_LIMITED,
        f"Too many requests; try again in {wait} s.",
        headers={"Retry-After": str(wait)},
        retry_after=wait,
    )


def invalid(param: str, message: str, **extra: Any) -> ApiError:
    return ApiError(400, INVALID_REQUEST, message, param=param, **extra)


def refusal(exc: Exception) -> Answer:
    """The answer to a refusal the ledger made (stored with the request): not enough
    credits, the monthly limit, a hold that is not there or no longer active."""
    if isinstance(exc, credits.SpendingLimitReached):
        return Answer.of(
            402,
            error_content(
                SPENDING_LIMIT,
                f"This would pass the account's monthly spending limit of {exc.limit} "
                f"credits ({exc.available} left this month).",
                required=exc.required,
                available=exc.available,
                limit=exc.limit,
                used=exc.used,
            ),
        )
    if isinstance(exc, credits.InsufficientCredits):
        return Answer.of(
            402,
            error_content(
                INSUFFICIENT_CREDITS,
                f"Needs {exc.required} credits; {exc.available} available.",
                required=exc.required,
                available=exc.available,
            ),
        )
    if isinstance(exc, operations.NoSuchHold) or (
        isinstance(exc, credits.HoldNotActive) and exc.status == "unknown"
    ):
        return Answer.of(404, error_content(NOT_FOUND, "There is no such hold."))
    if isinstance(exc, credits.HoldNotActive):
        return Answer.of(
            409,
            error_content(HOLD_NOT_ACTIVE, f"The hold is {exc.status}.", status=exc.status),
        )
    raise TypeError(f"not a ledger refusal: {exc!r}")


# What `refusal` answers: catch these around a request's work.
REFUSALS = (credits.InsufficientCredits, credits.HoldNotActive, operations.NoSuchHold)


def send(answer: Answer, headers: dict[str, str] | None = None) -> Response:
    headers = dict(headers or {})
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        answer.body, status_code=answer.status, headers=headers, media_type="application/json"
    )


class ErrorDetail(BaseModel):
    """Extra fields some codes carry: `param` (invalid_request), `required` and
    `available` (insufficient_credits, spending_limit), `limit` and `used`
    (spending_limit), `status` (hold_not_active), `held` (a capture of more than the
    hold), `retry_after` (rate_limited)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "invalid_request: a malformed body, header or query (`param` names it).",
    401: "unauthorized: no key, or an unknown, revoked or expired one.",
    402: "insufficient_credits or spending_limit, with `required` and `available`.",
    403: "forbidden: a read key spending, a user key naming another account, or an "
    "account that must verify its e-mail address before it spends.",
    404: "not_found: no such account, hold or endpoint.",
    409: "idempotency_conflict (the key was used for another request) or hold_not_active.",
    413: "body_too_large: the body is over 16 KiB.",
    429: "rate_limited: too many requests for this key; see Retry-After.",
    500: "internal_error.",
    503: "service_unavailable: the database cannot be reached right now; retry after "
    "Retry-After seconds with the same Idempotency-Key (a change is never made twice).",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for these error statuses, each with the error shape."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def _param(location: tuple[Any, ...]) -> str:
    """ "amount" for ("body", "amount"), "Idempotency-Key" for ("header", ...), "body"
    for the body as a whole (("body",), or ("body", 12) for bad JSON at char 12)."""
    names = [str(part) for part in location[1:] if not isinstance(part, int)]
    return ".".join(names) if names else str(location[0]) if location else "body"


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return send(exc.answer, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid"}
    param = _param(tuple(first.get("loc", ("body",))))
    if first.get("type") == "json_invalid":
        message = "The body is not valid JSON."
    elif param == "body":
        message = "The body must be a JSON object, sent with Content-Type: application/json."
    elif param == IDEMPOTENCY_KEY:
        message = (
            f"{IDEMPOTENCY_KEY}: 1 to 255 printable ASCII characters (required to spend or "
            "reserve)."
        )
    else:
        # pydantic's message names the rule, never the value sent.
        message = f"{param}: {first.get('msg', 'invalid')}"
    return send(invalid(param, message).answer)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_OF_STATUS.get(exc.status_code, INVALID_REQUEST)
    status = exc.status_code if exc.status_code in _CODE_OF_STATUS else 400
    message = _MESSAGE_OF_STATUS.get(exc.status_code, "The request could not be read.")
    headers = dict(exc.headers or {})
    if status == 401:
        headers.update(_UNAUTHORIZED)
    return send(Answer.of(status, error_content(code, message)), headers)


async def _key_reused(_request: Request, _exc: Exception) -> Response:
    message = "This Idempotency-Key was used for a different request; use a new key."
    return send(Answer.of(409, error_content(IDEMPOTENCY_CONFLICT, message)))


async def _user_required(_request: Request, _exc: Exception) -> Response:
    message = "A service key must name the account it acts for: user_id."
    return send(invalid("user_id", message).answer)


async def _not_permitted(_request: Request, exc: Exception) -> Response:
    return send(Answer.of(403, error_content(FORBIDDEN, str(exc))))


async def _no_such_account(_request: Request, _exc: Exception) -> Response:
    return send(Answer.of(404, error_content(NOT_FOUND, "There is no such account.")))


async def _invalid_capture(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, credits.InvalidCapture)
    message = f"A capture takes 1 to the {exc.held} credits held."
    return send(invalid("amount", message, held=exc.held).answer)


async def _database_error(request: Request, exc: Exception) -> Response:
    """A database error, answered here rather than by the catch-all below, which Starlette
    follows by re-raising: uvicorn then closes the connection, and a client's next request
    on it (keep-alive) would be reset instead of answered."""
    if db.is_unavailable(exc):
        logger.warning(
            "%s %s: the database is unavailable (%s)", request.method, request.url.path, exc
        )
        message = "The service cannot reach its database right now. Try again shortly."
        return send(
            Answer.of(503, error_content(SERVICE_UNAVAILABLE, message)),
            {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
        )
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _crashed()


async def _internal_error(_request: Request, _exc: Exception) -> Response:
    # Starlette re-raises the exception once this is sent, so the server logs its
    # traceback; the body says nothing more.
    return _crashed()


def _crashed() -> Response:
    message = "Something went wrong on our side."
    return send(Answer.of(500, error_content(INTERNAL_ERROR, message)))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(KeyReused, _key_reused)
    app.add_exception_handler(operations.UserRequired, _user_required)
    app.add_exception_handler(operations.NotPermitted, _not_permitted)
    app.add_exception_handler(operations.NoSuchAccount, _no_such_account)
    app.add_exception_handler(credits.InvalidCapture, _invalid_capture)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _internal_error)
