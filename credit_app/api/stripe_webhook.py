"""POST /api/webhooks/stripe: verify, record and apply Stripe events (DESIGN.md section 5).

2xx once the event is durably recorded as final (applied, ignored, duplicate) or was
already; 400 for a bad signature or a body that is not event-shaped (nothing written;
stripe_gateway.verify_event); 413 over 1 MiB; 202 when the event must wait for another
one (recorded as deferred and completed by our own side: when the payment it waits for
is recorded, by `credit-app replay` or a sync; never days of Stripe retries, which would
get the endpoint disabled); 500 on an unexpected error (recorded as failed with the
error; Stripe retries, `credit-app replay` can too); never 5xx for an unknown type
(recorded as ignored).

Each delivery is timed in the metrics (credit_app.metrics.STRIPE_WEBHOOKS) by event type
(a type the app does not handle counts as "other") and outcome: the event's, or
too_large, rejected (bad signature or body) and error (not even recorded).
"""

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from credit_app import metrics
from credit_app.api.app_services import AppServices
from credit_app.billing.stripe_gateway import WebhookRejected
from credit_app.billing.webhook_handlers import registry
from credit_app.billing.webhooks import process_event
from credit_app.models import EventOutcome

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
WEBHOOK_PATH = "/api/webhooks/stripe"


async def _read_body(request: Request) -> bytes | None:
    """The raw body (the signature covers these exact bytes), or None when too large."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def event_type_label(event_type: object) -> str:
    """The event's type when the app handles it, else "other": a signed body names any
    type it likes, and each label value is a series of its own."""
    handled = event_type in registry.event_types
    return event_type if handled and isinstance(event_type, str) else metrics.OTHER


async def stripe_webhook(request: Request) -> JSONResponse:
    with metrics.timed(
        metrics.STRIPE_WEBHOOKS, event_type=metrics.OTHER, outcome="error"
    ) as labels:
        return await _answer(request, labels)


async def _answer(request: Request, labels: dict[str, str]) -> JSONResponse:
    """The delivery's answer; `labels` say what became of it (the metric's labels)."""
    body = await _read_body(request)
    if body is None:
        labels["outcome"] = "too_large"
        return JSONResponse({"error": "body larger than 1 MiB"}, status_code=413)
    services: AppServices = request.app.state.services
    gateway = services.gateway
    try:
        event = gateway.verify_event(body, request.headers.get("stripe-signature"))
    except WebhookRejected as exc:
        logger.warning("rejected webhook from %s: %s", request.client, exc)
        labels["outcome"] = "rejected"
        return JSONResponse({"error": "invalid signature or body"}, status_code=400)
    labels["event_type"] = event_type_label(event["type"])
    try:
        outcome = await process_event(gateway, event, livemode=services.payments.livemode)
    except Exception:
        # Recording the failure failed too (the database is down): Stripe retries.
        logger.exception("stripe event %s could not be processed or recorded", event["id"])
        return JSONResponse({"error": "internal error"}, status_code=500)
    labels["outcome"] = str(outcome.outcome)
    if outcome.outcome is EventOutcome.DEFERRED:
        answer = {"received": True, "outcome": outcome.outcome, "detail": outcome.detail}
        return JSONResponse(answer, status_code=202)
    if outcome.outcome is EventOutcome.FAILED:
        # The error is in the log and on the event's row (`credit-app events --failed`).
        return JSONResponse({"error": "internal error", "outcome": outcome.outcome}, 500)
    try:
        await services.account_changed(outcome.user_ids)
    except Exception:
        # The event is committed; a failed refresh of open tabs must not make Stripe retry
        # it (the retry would be a duplicate). The ledger follower catches the tabs up.
        logger.exception("pushing stripe event %s to open tabs failed", event["id"])
    return JSONResponse({"received": True, "outcome": outcome.outcome, "detail": outcome.detail})
