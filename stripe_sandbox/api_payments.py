"""REST routes for payment methods (saved cards) and payment intents (off-session charges)."""

import re
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .billing import money
from .core import Sandbox
from .endpoint import paginate, route
from .errors import StripeError, required
from .events import Batch
from .formdata import as_bool, as_int, as_metadata

# Stripe's smallest and largest charge (minimum per currency, where the sandbox knows it).
_MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30}
_MAXIMUM_AMOUNT = 99_999_999


def _path_id(request: Request) -> str:
    return request.path_params["id"]


# -- payment methods ---------------------------------------------------------------------


def get_payment_method(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    return sb.store.get("payment_method", _path_id(request))


def _cards_of(sb: Sandbox, customer_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = [pm for pm in sb.store.newest_first("payment_method") if pm["customer"] == customer_id]
    if params.get("type"):
        items = [pm for pm in items if pm["type"] == params["type"]]
    return items


def list_payment_methods(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    """`GET /v1/payment_methods?customer=...`: without `customer` Stripe lists only
    Treasury payment methods, which the sandbox has none of."""
    customer_id = params.get("customer")
    if not customer_id:
        return paginate([], params, "/v1/payment_methods")
    if sb.store.maybe("customer", customer_id) is None:
        raise StripeError(
            400, f"No such customer: '{customer_id}'", param="customer", code="resource_missing"
        )
    return paginate(_cards_of(sb, customer_id, params), params, "/v1/payment_methods")


def list_customer_payment_methods(
    sb: Sandbox, request: Request, params: dict[str, Any], __: Batch
) -> dict:
    cust = sb.store.get("customer", _path_id(request))
    url = f"/v1/customers/{cust['id']}/payment_methods"
    return paginate(_cards_of(sb, cust["id"], params), params, url)


def detach_payment_method(sb: Sandbox, request: Request, _: dict[str, Any], batch: Batch) -> dict:
    return sb.payments.detach(batch, sb.store.get("payment_method", _path_id(request)))


# -- payment intents ---------------------------------------------------------------------


def _amount(params: dict[str, Any], currency: str) -> int:
    amount = as_int(params, "amount")
    if amount is None:
        raise required("amount")
    if amount < 1:
        raise StripeError(
            400, "Invalid positive integer", param="amount", code="parameter_invalid_integer"
        )
    minimum = _MINIMUM_AMOUNTS.get(currency, 1)
    if amount < minimum:
        raise StripeError(
            400,
            f"Amount must be at least {money(minimum, currency)} {currency}",
            param="amount",
            code="amount_too_small",
        )
    if amount > _MAXIMUM_AMOUNT:
        raise StripeError(
            400,
            f"Amount must be no more than {money(_MAXIMUM_AMOUNT, currency)}",
            param="amount",
            code="amount_too_large",
        )
    return amount


def _currency(params: dict[str, Any]) -> str:
    currency = params.get("currency")
    if not currency:
        raise required("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise StripeError(400, f"Invalid currency: {currency}.", param="currency")
    return currency.lower()


def _off_session(params: dict[str, Any]) -> bool:
    """`off_session` is a boolean or, on Stripe, `one_off` | `recurring` (both off-session)."""
    if params.get("off_session") in ("one_off", "recurring"):
        return True
    return as_bool(params, "off_session") or False


def _saved_card(sb: Sandbox, params: dict[str, Any], customer_id: str | None) -> dict[str, Any]:
    """The payment method to charge: it must be saved to (attached to) the customer."""
    pm_id = params.get("payment_method")
    if not pm_id:
        raise required("payment_method")
    pm = sb.store.maybe("payment_method", pm_id)
    if pm is None:
        raise StripeError(
            400,
            f"No such PaymentMethod: '{pm_id}'",
            param="payment_method",
            code="resource_missing",
        )
    if pm["customer"] is None:
        raise StripeError(
            400,
            "The provided PaymentMethod was previously used with a PaymentIntent without "
            "Customer attachment, shared with a connected account without Customer "
            "attachment, or was detached from a Customer. It may not be used again. To use "
            "a PaymentMethod multiple times, you must attach it to a Customer first.",
            param="payment_method",
        )
    if pm["customer"] != customer_id:
        raise StripeError(
            400,
            f"The `payment_method` parameter supplied {pm_id} belongs to the Customer "
            f"{pm['customer']}. Please include the Customer in the `customer` parameter on "
            "the PaymentIntent.",
            param="payment_method",
        )
    return pm


def create_payment_intent(sb: Sandbox, _: Request, params: dict[str, Any], batch: Batch) -> dict:
    """Only what charging a saved card without the customer needs: `confirm=true` and
    `off_session=true` (a payment intent confirmed later, or on-session with a
    client-side 3-D Secure step, is not emulated)."""
    currency = _currency(params)
    amount = _amount(params, currency)
    if not as_bool(params, "confirm"):
        raise StripeError(
            400,
            "The sandbox creates payment intents only with confirm=true (and off_session=true).",
            param="confirm",
        )
    if not _off_session(params):
        raise StripeError(
            400,
            "The sandbox creates payment intents only off-session: pass off_session=true.",
            param="off_session",
        )
    customer_id = params.get("customer") or None
    if customer_id and sb.store.maybe("customer", customer_id) is None:
        raise StripeError(
            400, f"No such customer: '{customer_id}'", param="customer", code="resource_missing"
        )
    pm = _saved_card(sb, params, customer_id)
    description = params.get("description")
    return sb.payments.charge_off_session(
        batch,
        amount=amount,
        currency=currency,
        cust=sb.store.get("customer", pm["customer"]),
        pm=pm,
        description=description if isinstance(description, str) and description else None,
        metadata=as_metadata(params) or {},
    )


def get_payment_intent(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    return sb.store.get("payment_intent", _path_id(request))


def routes(sb: Sandbox) -> list[Route]:
    r = route
    return [
        Route("/v1/payment_methods", r(sb, list_payment_methods), methods=["GET"]),
        Route("/v1/payment_methods/{id}", r(sb, get_payment_method), methods=["GET"]),
        Route("/v1/payment_methods/{id}/detach", r(sb, detach_payment_method), methods=["POST"]),
        Route(
            "/v1/customers/{id}/payment_methods",
            r(sb, list_customer_payment_methods),
            methods=["GET"],
        ),
        Route("/v1/payment_intents", r(sb, create_payment_intent), methods=["POST"]),
        Route("/v1/payment_intents/{id}", r(sb, get_payment_intent), methods=["GET"]),
    ]
