"""REST routes for subscriptions, invoices, charges, refunds, disputes and events."""

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .billing import PaymentDeclined
from .core import Sandbox
from .endpoint import paginate, route
from .errors import StripeError, card_declined
from .events import Batch
from .formdata import as_bool, as_int, as_metadata, as_str_list, merge_metadata
from .ids import now

_PRORATION = ("create_prorations", "always_invoice", "none")
_PAYMENT_BEHAVIOR = ("allow_incomplete", "default_incomplete", "error_if_incomplete")
# Stripe keeps events for 30 days.
EVENT_RETENTION_SECONDS = 30 * 24 * 3600


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
    if quantity is not None and quantity < 1:
        raise StripeError(
            400,
            "Quantity must be at least 1.",
            param="items[0][quantity]",
            code="parameter_invalid_integer",
        )
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


def _enum(params: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(name) or default
    if value not in allowed:
        raise StripeError(
            400,
            f"Invalid {name}: must be one of {', '.join(allowed)}",
            param=name,
            code="parameter_invalid_enum",
        )
    return value


def update_subscription(sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch):
    sub = sb.store.get("subscription", _path_id(request))
    behavior = _enum(params, "proration_behavior", _PRORATION, "create_prorations")
    if params.get("payment_behavior") == "pending_if_incomplete":
        raise StripeError(
            400,
            "payment_behavior=pending_if_incomplete is not supported by the sandbox.",
            param="payment_behavior",
        )
    payment_behavior = _enum(params, "payment_behavior", _PAYMENT_BEHAVIOR, "allow_incomplete")
    proration_date = as_int(params, "proration_date")
    if proration_date is not None:
        item = sub["items"]["data"][0]
        if not item["current_period_start"] <= proration_date <= item["current_period_end"]:
            raise StripeError(
                400,
                "proration_date must be within the subscription's current period.",
                param="proration_date",
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
        proration_date=proration_date,
        payment_behavior=payment_behavior
        if payment_behavior != "default_incomplete"
        else ("allow_incomplete"),
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


def _invoice_subscription(inv: dict[str, Any]) -> str | None:
    return ((inv["parent"] or {}).get("subscription_details") or {}).get("subscription")


def get_invoice(sb: Sandbox, request: Request, _: dict[str, Any], __: Batch) -> dict:
    return sb.billing.invoicer.shown(sb.store.get("invoice", _path_id(request)))


def list_invoice_lines(sb: Sandbox, request: Request, params: dict[str, Any], __: Batch) -> dict:
    inv = sb.store.get("invoice", _path_id(request))
    # Lines are listed in invoice order (prorations first), not newest first.
    return paginate(list(inv["lines"]["data"]), params, f"/v1/invoices/{inv['id']}/lines")


def pay_invoice(sb: Sandbox, request: Request, _: dict[str, Any], batch: Batch) -> dict:
    """`POST /v1/invoices/{id}/pay`: an off-session attempt with the saved card."""
    inv = sb.store.get("invoice", _path_id(request))
    try:
        sb.billing.pay_invoice(batch, inv, None, off_session=True)
    except PaymentDeclined:
        raise card_declined() from None
    if inv["status"] != "paid":
        pi = sb.store.get("payment_intent", sb.store.private_of(inv["id"])["payment_intent"])
        if pi["status"] == "requires_action":
            raise StripeError(
                402,
                "This payment requires additional user action before it can be completed "
                "successfully.",
                code="invoice_payment_intent_requires_action",
                type_="card_error",
            )
        raise card_declined()
    return sb.billing.invoicer.shown(inv)


def list_invoices(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = [sb.billing.invoicer.shown(i) for i in sb.store.newest_first("invoice")]
    if params.get("customer"):
        items = [i for i in items if i["customer"] == params["customer"]]
    if params.get("status"):
        items = [i for i in items if i["status"] == params["status"]]
    if params.get("subscription"):
        items = [i for i in items if _invoice_subscription(i) == params["subscription"]]
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


def filter_created(items: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Stripe's `created` filter: an exact timestamp, or a hash of gt/gte/lt/lte."""
    created = params.get("created")
    if created is None:
        return items
    if isinstance(created, str):
        exact = as_int(params, "created")
        return [i for i in items if i["created"] == exact]
    if not isinstance(created, dict) or set(created) - {"gt", "gte", "lt", "lte"}:
        raise StripeError(400, "Invalid created: pass gt, gte, lt or lte.", param="created")
    bounds = {k: as_int(created, k, f"created[{k}]") for k in created}
    checks = {
        "gt": lambda v, b: v > b,
        "gte": lambda v, b: v >= b,
        "lt": lambda v, b: v < b,
        "lte": lambda v, b: v <= b,
    }
    return [i for i in items if all(checks[k](i["created"], b) for k, b in bounds.items())]


def list_events(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    """Newest first, the last 30 days, filtered by created, type (`*` wildcard) or types
    (up to 20), and `delivery_success` (false: not delivered to the webhook URL yet)."""
    oldest = now() - EVENT_RETENTION_SECONDS
    items = [e for e in sb.store.newest_first("event") if e["created"] >= oldest]
    items = filter_created(items, params)
    types = as_str_list(params, "types")
    if params.get("type") and types:
        raise StripeError(400, "You may pass either `type` or `types`, but not both.")
    if len(types) > 20:
        raise StripeError(400, "You may pass at most 20 `types`.", param="types")
    if params.get("type"):
        wanted = params["type"]
        if wanted.endswith("*"):
            items = [e for e in items if e["type"].startswith(wanted[:-1])]
        else:
            items = [e for e in items if e["type"] == wanted]
    if types:
        items = [e for e in items if e["type"] in types]
    success = as_bool(params, "delivery_success")
    if success is not None:
        records = sb.deliverer.records
        items = [e for e in items if (e["id"] in records and records[e["id"]].delivered) == success]
    return paginate(items, params, "/v1/events")


# -- invoice items, schedules, customer balance ------------------------------------------


def list_invoice_items(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("invoiceitem")
    for name in ("customer", "invoice"):
        if params.get(name):
            items = [i for i in items if i[name] == params[name]]
    pending = as_bool(params, "pending")
    if pending is not None:
        items = [i for i in items if (i["invoice"] is None) == pending]
    return paginate(items, params, "/v1/invoiceitems")


def list_schedules(sb: Sandbox, _: Request, params: dict[str, Any], __: Batch) -> dict:
    items = sb.store.newest_first("subscription_schedule")
    if params.get("customer"):
        items = [i for i in items if i["customer"] == params["customer"]]
    return paginate(items, params, "/v1/subscription_schedules")


def release_schedule(sb: Sandbox, request: Request, _: dict[str, Any], batch: Batch) -> dict:
    sched = sb.store.get("subscription_schedule", _path_id(request))
    return sb.billing.release_schedule(batch, sched)


def list_balance_transactions(
    sb: Sandbox, request: Request, params: dict[str, Any], __: Batch
) -> dict:
    cust = sb.store.get("customer", _path_id(request))
    items = [
        t for t in sb.store.newest_first("customer_balance_transaction")
        if t["customer"] == cust["id"]
    ]  # fmt: skip
    return paginate(items, params, f"/v1/customers/{cust['id']}/balance_transactions")


# -- disputes ----------------------------------------------------------------------------


def update_dispute(sb: Sandbox, request: Request, params: dict[str, Any], batch: Batch) -> dict:
    dp = sb.store.get("dispute", _path_id(request))
    evidence = params.get("evidence")
    if evidence is not None and not isinstance(evidence, dict):
        raise StripeError(400, "Invalid hash", param="evidence", code="parameter_invalid_hash")
    update = as_metadata(params)
    if update is not None:
        dp["metadata"] = merge_metadata(dp["metadata"], update, params.get("metadata") == "")
    return sb.disputes.update(batch, dp, evidence, as_bool(params, "submit") or False)


def close_dispute(sb: Sandbox, request: Request, _: dict[str, Any], batch: Batch) -> dict:
    return sb.disputes.accept(batch, sb.store.get("dispute", _path_id(request)))


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
        Route("/v1/invoices/{id}", r(sb, get_invoice), methods=["GET"]),
        Route("/v1/invoices/{id}/lines", r(sb, list_invoice_lines), methods=["GET"]),
        Route("/v1/invoices/{id}/pay", r(sb, pay_invoice), methods=["POST"]),
        Route("/v1/invoiceitems", r(sb, list_invoice_items), methods=["GET"]),
        Route("/v1/invoiceitems/{id}", r(sb, _getter("invoiceitem")), methods=["GET"]),
        Route("/v1/subscription_schedules", r(sb, list_schedules), methods=["GET"]),
        Route(
            "/v1/subscription_schedules/{id}",
            r(sb, _getter("subscription_schedule")),
            methods=["GET"],
        ),
        Route("/v1/subscription_schedules/{id}/release", r(sb, release_schedule), methods=["POST"]),
        Route(
            "/v1/customers/{id}/balance_transactions",
            r(sb, list_balance_transactions),
            methods=["GET"],
        ),
        Route("/v1/invoice_payments", r(sb, list_invoice_payments), methods=["GET"]),
        Route("/v1/invoice_payments/{id}", r(sb, _getter("invoice_payment")), methods=["GET"]),
        Route("/v1/charges", r(sb, list_charges), methods=["GET"]),
        Route("/v1/charges/{id}", r(sb, _getter("charge")), methods=["GET"]),
        Route("/v1/refunds", r(sb, create_refund), methods=["POST"]),
        Route("/v1/refunds", r(sb, list_refunds), methods=["GET"]),
        Route("/v1/refunds/{id}", r(sb, _getter("refund")), methods=["GET"]),
        Route("/v1/disputes", r(sb, list_disputes), methods=["GET"]),
        Route("/v1/disputes/{id}", r(sb, _getter("dispute")), methods=["GET"]),
        Route("/v1/disputes/{id}", r(sb, update_dispute), methods=["POST"]),
        Route("/v1/disputes/{id}/close", r(sb, close_dispute), methods=["POST"]),
        Route("/v1/events", r(sb, list_events), methods=["GET"]),
        Route("/v1/events/{id}", r(sb, _getter("event")), methods=["GET"]),
    ]
