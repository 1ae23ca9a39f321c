"""POST /api/webhooks/stripe: verify, record and apply Stripe events (DESIGN.md section 5).

2xx once the event is durably recorded or was already seen; 400 for a bad signature or
body (nothing written); 413 over 1 MiB; 503 when the event must wait for another one
(nothing written, Stripe retries); never 5xx for an unknown type (recorded as ignored).
"""

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from credit_app.api import live_updates
from credit_app.billing import runtime
from credit_app.billing.stripe_gateway import WebhookRejected
from credit_app.billing.webhooks import RetryLater, process_event

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


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


async def stripe_webhook(request: Request) -> JSONResponse:
    body = await _read_body(request)
    if body is None:
        return JSONResponse({"error": "body larger than 1 MiB"}, status_code=413)
    gateway = runtime.gateway()
    try:
        event = gateway.verify_event(body, request.headers.get("stripe-signature"))
    except WebhookRejected as exc:
        logger.warning("rejected webhook from %s: %s", request.client, exc)
        return JSONResponse({"error": "invalid signature or body"}, status_code=400)
    try:
        outcome = await process_event(gateway, event, livemode=runtime.payments().livemode)
    except RetryLater as exc:
        logger.info("stripe event %s deferred: %s", event["id"], exc)
        return JSONResponse({"error": "retry later", "detail": str(exc)}, status_code=503)
    try:
        await live_updates.account_changed(outcome.user_ids)
    except Exception:
        # The event is committed; a failed refresh of open tabs must not make Stripe retry
        # it (the retry would be a duplicate). The ledger follower catches the tabs up.
        logger.exception("pushing stripe event %s to open tabs failed", event["id"])
    return JSONResponse(
        {"received": True, "duplicate": outcome.duplicate, "detail": outcome.detail}
    )
