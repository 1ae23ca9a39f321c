"""Stripe's error shape, so the official SDK raises its usual exception classes."""

from typing import Any

from starlette.responses import JSONResponse

from .cards import DECLINE_MESSAGES


class StripeError(Exception):
    """An API failure rendered as `{"error": {...}}` with Stripe's status code semantics.

    The SDK picks the exception class from the status (400/404 invalid request, 401
    authentication, 402 card error) and the `type` (idempotency_error), so both must match.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
        extra: dict[str, Any] | None = None,
        keeps_events: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type_
        self.extra = extra or {}
        # Most errors refuse a request before anything happens, so its events are dropped;
        # a failed payment attempt did happen (a payment intent and a failed charge now
        # exist) and Stripe sends its events with the 402.
        self.keeps_events = keeps_events

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error.update(self.extra)
        return {"error": error}

    def response(self, request_id: str | None = None) -> JSONResponse:
        headers = {"Request-Id": request_id} if request_id else {}
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's 404 for an unknown id: `No such customer: 'cus_x'`, code resource_missing."""
    return StripeError(404, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


def required(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def card_declined(decline_code: str = "generic_decline") -> StripeError:
    return StripeError(
        402,
        DECLINE_MESSAGES[decline_code],
        code="card_declined",
        type_="card_error",
        extra={"decline_code": decline_code},
    )
