"""`/_sandbox/*` JSON endpoints that let tests drive time, faults and delivery.

They are not part of Stripe's API. When the sandbox was given an api_key they require it
too, so a sandbox mounted into a shared app cannot be reset by any passer-by; with
`controls=False` (see SandboxSettings) they are not routed at all.
"""

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .api_faults import ApiFault
from .billing import PaymentDeclined
from .bodies import read_body
from .core import Sandbox
from .errors import StripeError
from .store import Store
from .webhooks import Faults, faults_json


def _authorised(sb: Sandbox, request: Request) -> bool:
    expected = sb.settings.api_key
    # Constant-time, on bytes (compare_digest refuses non-ASCII str).
    given = request.headers.get("authorization", "").encode()
    return not expected or hmac.compare_digest(given, f"Bearer {expected}".encode())


async def _body(sb: Sandbox, request: Request) -> dict[str, Any]:
    raw = await read_body(request, sb.settings.max_body_bytes)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested absurdly deep
        raise StripeError(400, "Body must be JSON.") from None
    if not isinstance(data, dict):
        raise StripeError(400, "Body must be a JSON object.")
    return data


def _endpoint(sb: Sandbox, fn: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        if not _authorised(sb, request):
            return StripeError(401, "Invalid API Key provided.").response()
        try:
            body = await _body(sb, request)
            result = await fn(sb, request, body)
        except StripeError as exc:
            return exc.response()
        return JSONResponse(result)

    return endpoint


async def _in_batch(sb: Sandbox, action: Any) -> dict[str, Any]:
    """Run a billing action under the lock, then deliver its events like any other action."""
    batch = sb.batch()
    with sb.store.lock:
        result = Store.snapshot(action(batch))
    sb.deliverer.enqueue(batch.events)
    return result


async def get_faults(sb: Sandbox, _: Request, __: dict) -> dict:
    return faults_json(sb.deliverer.faults)


async def set_faults(sb: Sandbox, _: Request, body: dict) -> dict:
    try:
        faults = Faults.from_json(body)
    except (TypeError, ValueError) as exc:
        raise StripeError(400, str(exc)) from None
    sb.deliverer.set_faults(faults)
    return faults_json(faults)


async def clear_faults(sb: Sandbox, _: Request, __: dict) -> dict:
    sb.deliverer.set_faults(Faults())
    return faults_json(sb.deliverer.faults)


async def deliveries(sb: Sandbox, _: Request, __: dict) -> dict:
    return {"data": [r.as_json() for r in sb.deliverer.records.values()]}


async def idle(sb: Sandbox, _: Request, __: dict) -> dict:
    return {"pending": sb.deliverer.pending()}


async def advance(sb: Sandbox, request: Request, _: dict) -> dict:
    sub_id = request.path_params["id"]
    return await _in_batch(
        sb, lambda batch: sb.billing.advance(batch, sb.store.get("subscription", sub_id))
    )


async def clock(sb: Sandbox, request: Request, body: dict) -> dict:
    """Let time pass for one subscription inside its period (for mid-period changes)."""
    sub_id = request.path_params["id"]
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise StripeError(400, "seconds must be an integer.", param="seconds")
    with sb.store.lock:
        return sb.billing.move_clock(sb.store.get("subscription", sub_id), seconds)


async def dispute(sb: Sandbox, request: Request, body: dict) -> dict:
    """Open a dispute: a chargeback (default), an inquiry (`status`
    warning_needs_response) or one `prevented` at once."""
    charge_id = request.path_params["id"]
    reason = str(body.get("reason", "fraudulent"))
    status = str(body.get("status", "needs_response"))
    return await _in_batch(
        sb,
        lambda batch: sb.disputes.open(batch, sb.store.get("charge", charge_id), reason, status),
    )


async def dispute_status(sb: Sandbox, request: Request, body: dict) -> dict:
    """Move a dispute to another status (updated, escalated, won, lost, closed...)."""
    dispute_id = request.path_params["id"]
    status = str(body.get("status", ""))
    return await _in_batch(
        sb, lambda batch: sb.disputes.move(batch, sb.store.get("dispute", dispute_id), status)
    )


async def close_dispute(sb: Sandbox, request: Request, body: dict) -> dict:
    """Kept for older callers: `won` or `lost` (also from under_review)."""
    status = str(body.get("status", ""))
    if status not in ("won", "lost"):
        raise StripeError(400, "status must be 'won' or 'lost'", param="status")
    return await dispute_status(sb, request, body)


async def get_api_faults(sb: Sandbox, _: Request, __: dict) -> dict:
    return {"data": sb.api_faults.as_json()}


async def add_api_fault(sb: Sandbox, _: Request, body: dict) -> dict:
    try:
        fault = ApiFault.from_json(body)
    except (TypeError, ValueError) as exc:
        raise StripeError(400, str(exc)) from None
    sb.api_faults.add(fault)
    return {"data": sb.api_faults.as_json()}


async def clear_api_faults(sb: Sandbox, _: Request, __: dict) -> dict:
    sb.api_faults.clear()
    return {"data": []}


async def pay_checkout(sb: Sandbox, request: Request, body: dict) -> dict:
    """What the hosted checkout form does, as JSON (for tests that do not drive HTML)."""
    session_id = request.path_params["id"]

    def pay(batch: Any) -> dict[str, Any]:
        session = sb.store.get("checkout.session", session_id)
        email = body.get("email")
        try:
            return sb.billing.complete_checkout(
                batch,
                session,
                str(body.get("card", "4242424242424242")),
                email if isinstance(email, str) and email else None,
            )
        except PaymentDeclined as exc:
            raise StripeError(402, exc.message, type_="card_error", code="card_declined") from None

    return await _in_batch(sb, pay)


async def set_card(sb: Sandbox, request: Request, body: dict) -> dict:
    """Make a saved payment method another test card (e.g. one that starts declining)."""
    number = body.get("number")
    if not isinstance(number, str):
        raise StripeError(400, "number must be a test card number.", param="number")
    pm_id = request.path_params["id"]
    with sb.store.lock:
        return Store.snapshot(sb.payments.set_card(sb.store.get("payment_method", pm_id), number))


async def resend(sb: Sandbox, request: Request, _: dict) -> dict:
    evt = sb.store.get("event", request.path_params["id"])
    sb.deliverer.enqueue([evt])
    return {"id": evt["id"], "resent": True}


async def reset(sb: Sandbox, _: Request, __: dict) -> dict:
    await sb.deliverer.reset()
    sb.store.reset()
    sb.api_faults.clear()
    return {"reset": True}


def routes(sb: Sandbox) -> list[Route]:
    e = _endpoint
    return [
        Route("/_sandbox/faults", e(sb, get_faults), methods=["GET"]),
        Route("/_sandbox/faults", e(sb, set_faults), methods=["POST"]),
        Route("/_sandbox/faults", e(sb, clear_faults), methods=["DELETE"]),
        Route("/_sandbox/deliveries", e(sb, deliveries), methods=["GET"]),
        Route("/_sandbox/idle", e(sb, idle), methods=["GET"]),
        Route("/_sandbox/subscriptions/{id}/advance", e(sb, advance), methods=["POST"]),
        Route("/_sandbox/subscriptions/{id}/clock", e(sb, clock), methods=["POST"]),
        Route("/_sandbox/charges/{id}/dispute", e(sb, dispute), methods=["POST"]),
        Route("/_sandbox/disputes/{id}/close", e(sb, close_dispute), methods=["POST"]),
        Route("/_sandbox/disputes/{id}/status", e(sb, dispute_status), methods=["POST"]),
        Route("/_sandbox/api_faults", e(sb, get_api_faults), methods=["GET"]),
        Route("/_sandbox/api_faults", e(sb, add_api_fault), methods=["POST"]),
        Route("/_sandbox/api_faults", e(sb, clear_api_faults), methods=["DELETE"]),
        Route("/_sandbox/checkout/{id}/pay", e(sb, pay_checkout), methods=["POST"]),
        Route("/_sandbox/payment_methods/{id}/card", e(sb, set_card), methods=["POST"]),
        Route("/_sandbox/events/{id}/resend", e(sb, resend), methods=["POST"]),
        Route("/_sandbox/reset", e(sb, reset), methods=["POST"]),
    ]
