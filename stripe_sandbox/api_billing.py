"""REST routes for subscriptions, invoices, payments, refunds, disputes and events."""

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .core import Sandbox
from .endpoint import paginate, route
from .errors import StripeError
from .events import Batch
from .formdata import as_bool, as_int, as_metadata, as_str_list, merge_metadata

_PRORATION = ("create_prorations", "always_invoice", "none")


def _path_id(request: Request) -> str:
    return request.path_params["id"]


def _getter(kind: str):
    def get(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
        return sb.store.get(kind, _path_id(request))

    return get


# -- subscriptions -----------------------------------------------------------------------


def _requested_price(
    sb: Sandbox, sub: dict[str, Any], params: dict[str, Any]
) -> tuple[dict[str, Any] | None, int | None]:
    items = params.get("items")
    if items is None:
        return None, None
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise StripeError(
            400, "The sandbox supports updating exactly one subscription item.", param="items"
        )
    item = items[0]
    current = sub["items"]["data"][0]
    if item.get("id") != current["id"]:
        raise StripeError(
            400,
            "Pass items[0][id] of the subscription's item to change its price "
            "(the sandbox keeps one item per subscription).",
            param="items[0][id]",
        )
    if as_bool(item, "deleted"):
        raise StripeError(400, "A subscription must keep one item.", param="items[0][deleted]")
    quantity = as_int(item, "quantity", "items[0][quantity]")
    price_id = item.get("price")
    if not price_id:
        return None, quantity
    p = sb.store.maybe("price", price_id)
    if p is None:
        raise StripeError(
            400, f"No such price: '{price_id}'", param="items[0][price]", code="resource_missing"
        )
    if not p["active"] or p["type"] != "recurring":
        raise StripeError(
            400,
            "The price specified must be an active recurring price.",
            param="items[0][price]",
        )
    if p["currency"] != sub["currency"]:
        raise StripeError(
            400, "The price's currency must match the subscription's.", param="items[0][price]"
        )
    return p, quantity


def update_subscription(sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch):
    sub = sb.store.get("subscription", _path_id(request))
    behavior = params.get("proration_behavior") or "create_prorations"
    if behavior not in _PRORATION:
        raise StripeError(
            400,
            f"Invalid proration_behavior: must be one of {', '.join(_PRORATION)}",
            param="proration_behavior",
            code="parameter_invalid_enum",
        )
    new_price, quantity = _requested_price(sb, sub, params)
    update = as_metadata(params)
    metadata = (
        merge_metadata(sub["metadata"], update, params.get("metadata") == "")
        if update is not None
        else None
    )
    return sb.billing.update_subscription(
        batch,
        sub,
        cancel_at_period_end=as_bool(params, "cancel_at_period_end"),
        new_price=new_price,
        quantity=quantity,
        proration_behavior=behavior,
        metadata=metadata,
    )


def cancel_subscription(sb: Sandbox, request: Request, _: dict[str, Any], batch: Batch) -> dict:
    return sb.billing.cancel_now(batch, sb.store.get("subscription", _path_id(request)))


def list_subscriptions(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("subscription")
    status = params.get("status")
    if status and status != "all":
        items = [s for s in items if s["status"] == status]
    elif not status:
        items = [s for s in items if s["status"] != "canceled"]
    if params.get("customer"):
        items = [s for s in items if s["customer"] == params["customer"]]
    if params.get("price"):
        items = [s for s in items if s["items"]["data"][0]["price"]["id"] == params["price"]]
    return paginate(items, params, "/v1/subscriptions")


# -- invoices and payments ---------------------------------------------------------------


def list_invoices(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("invoice")
    if params.get("customer"):
        items = [i for i in items if i["customer"] == params["customer"]]
    if params.get("status"):
        items = [i for i in items if i["status"] == params["status"]]
    if params.get("subscription"):
        items = [
            i for i in items
            if (i["parent"]["subscription_details"] or {}).get("subscription")
            == params["subscription"]
        ]  # fmt: skip
    return paginate(items, params, "/v1/invoices")


def list_invoice_payments(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("invoice_payment")
    if params.get("invoice"):
        items = [i for i in items if i["invoice"] == params["invoice"]]
    payment = params.get("payment")
    if payment is not None:
        if not isinstance(payment, dict) or payment.get("type") != "payment_intent":
            raise StripeError(
                400,
                "payment[type] must be `payment_intent` in the sandbox.",
                param="payment[type]",
            )
        if payment.get("payment_intent"):
            items = [
                i for i in items if i["payment"]["payment_intent"] == payment["payment_intent"]
            ]
    if params.get("status"):
        items = [i for i in items if i["status"] == params["status"]]
    return paginate(items, params, "/v1/invoice_payments")


def list_charges(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("charge")
    for name in ("customer", "payment_intent"):
        if params.get(name):
            items = [c for c in items if c[name] == params[name]]
    return paginate(items, params, "/v1/charges")


# -- refunds -----------------------------------------------------------------------------


def create_refund(sb: Sandbox, _: Request, params: dict[str, Any], batch: Batch) -> dict:
    charge_id = params.get("charge")
    pi_id = params.get("payment_intent")
    if not charge_id and not pi_id:
        raise StripeError(
            400,
            "One of the following params should be provided for this request: "
            "payment_intent or charge.",
            code="parameter_missing",
        )
    if pi_id:
        pi = sb.store.maybe("payment_intent", pi_id)
        if pi is None:
            raise StripeError(
                400,
                f"No such payment_intent: '{pi_id}'",
                param="payment_intent",
                code="resource_missing",
            )
        if not pi["latest_charge"] or pi["status"] != "succeeded":
            raise StripeError(
                400,
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        if charge_id and charge_id != pi["latest_charge"]:
            raise StripeError(
                400, "The charge does not belong to that payment_intent.", param="charge"
            )
        charge_id = pi["latest_charge"]
    ch = sb.store.maybe("charge", charge_id)
    if ch is None:
        raise StripeError(
            400, f"No such charge: '{charge_id}'", param="charge", code="resource_missing"
        )
    reason = params.get("reason") or None
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise StripeError(
            400, f"Invalid reason: {reason}", param="reason", code="parameter_invalid_enum"
        )
    return sb.billing.refund(batch, ch, as_int(params, "amount"), reason, as_metadata(params) or {})


def list_refunds(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("refund")
    for name in ("charge", "payment_intent"):
        if params.get(name):
            items = [r for r in items if r[name] == params[name]]
    return paginate(items, params, "/v1/refunds")


# -- events ------------------------------------------------------------------------------


def list_events(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("event")
    types = as_str_list(params, "types")
    if params.get("type"):
        wanted = params["type"]
        if wanted.endswith("*"):
            items = [e for e in items if e["type"].startswith(wanted[:-1])]
        else:
            items = [e for e in items if e["type"] == wanted]
    if types:
        items = [e for e in items if e["type"] in types]
    return paginate(items, params, "/v1/events")


def list_disputes(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("dispute")
    if params.get("charge"):
        items = [d for d in items if d["charge"] == params["charge"]]
    return paginate(items, params, "/v1/disputes")


def routes(sb: Sandbox) -> list[Route]:
    r = route
    return [
        Route("/v1/subscriptions", r(sb, list_subscriptions), methods=["GET"]),
        Route("/v1/subscriptions/{id}", r(sb, _getter("subscription")), methods=["GET"]),
        Route("/v1/subscriptions/{id}", r(sb, update_subscription), methods=["POST"]),
        Route("/v1/subscriptions/{id}", r(sb, cancel_subscription), methods=["DELETE"]),
        Route("/v1/invoices", r(sb, list_invoices), methods=["GET"]),
        Route("/v1/invoices/{id}", r(sb, _getter("invoice")), methods=["GET"]),
        Route("/v1/invoice_payments", r(sb, list_invoice_payments), methods=["GET"]),
        Route("/v1/invoice_payments/{id}", r(sb, _getter("invoice_payment")), methods=["GET"]),
        Route("/v1/payment_intents/{id}", r(sb, _getter("payment_intent")), methods=["GET"]),
        Route("/v1/payment_methods/{id}", r(sb, _getter("payment_method")), methods=["GET"]),
        Route("/v1/charges", r(sb, list_charges), methods=["GET"]),
        Route("/v1/charges/{id}", r(sb, _getter("charge")), methods=["GET"]),
        Route("/v1/refunds", r(sb, create_refund), methods=["POST"]),
        Route("/v1/refunds", r(sb, list_refunds), methods=["GET"]),
        Route("/v1/refunds/{id}", r(sb, _getter("refund")), methods=["GET"]),
        Route("/v1/disputes", r(sb, list_disputes), methods=["GET"]),
        Route("/v1/disputes/{id}", r(sb, _getter("dispute")), methods=["GET"]),
        Route("/v1/events", r(sb, list_events), methods=["GET"]),
        Route("/v1/events/{id}", r(sb, _getter("event")), methods=["GET"]),
    ]
