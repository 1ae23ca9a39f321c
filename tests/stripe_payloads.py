"""Stripe-shaped objects (API 2026-10-28.endive field names, as in Stripe's fixtures3.json)
for tests that feed the webhook processor directly."""

import itertools
import time

from credit_app.billing import catalog

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_test{next(_ids):08d}"


def event(kind: str, obj: dict, *, created: int | None = None) -> dict:
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def price(plan_id: str, interval: str | None = "month", *, unit_amount: int | None = None) -> dict:
    """One of our prices (seed-plans puts `plan_id` in its metadata); its unit amount is
    the catalog's price unless given."""
    spec = catalog.plan_by_id(plan_id)
    return {
        "id": new_id("price"),
        "object": "price",
        "active": True,
        "currency": spec.currency if spec else "usd",
        "unit_amount": unit_amount if unit_amount is not None else (spec.price if spec else 0),
        "lookup_key": plan_id,
        "metadata": {"plan_id": plan_id},
        "recurring": {"interval": interval} if interval else None,
        "type": "recurring" if interval else "one_time",
    }


def subscription(
    user_id: str,
    customer: str,
    plan_id: str,
    *,
    status: str = "active",
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    sub_id: str | None = None,
) -> dict:
    now = int(time.time())
    return {
        "id": sub_id or new_id("sub"),
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": None,
        "metadata": {"user_id": user_id, "plan_id": plan_id},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": new_id("si"),
                    "object": "subscription_item",
                    "price": price(plan_id),
                    "quantity": 1,
                    "current_period_start": now,
                    "current_period_end": period_end or now + 30 * 86400,
                }
            ],
        },
    }


def line(
    price_ref: dict | str,
    amount: int,
    *,
    sub: dict | None = None,
    proration: bool = False,
    start: int | None = None,
    end: int | None = None,
    discount: int = 0,
    currency: str = "usd",
    quantity: int = 1,
) -> dict:
    """An invoice line (`line_item`) billing `price_ref` (a Price, or only its id as in a
    webhook payload): `amount` before discounts (`subtotal`); `discount` is listed in
    `discount_amounts` and taken off `amount`, as Stripe reports a coupon on a line."""
    price_id = price_ref if isinstance(price_ref, str) else price_ref["id"]
    now = int(time.time())
    sub_id = sub["id"] if sub else None
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount - discount,
        "subtotal": amount,
        "currency": currency,
        "discount_amounts": [{"amount": discount, "discount": new_id("di")}] if discount else [],
        "discountable": not proration,
        "discounts": [],
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": new_id("ii") if proration else None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
                "subscription_item": new_id("si"),
            },
        },
        "period": {"start": start or now, "end": end or now + 30 * 86400},
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price_id, "product": "prod_credit_app"},
            "unit_amount_decimal": None,
        },
        "quantity": quantity,
        "subscription": None,
    }


def invoice(
    sub: dict,
    *,
    amount: int,
    reason: str = "subscription_cycle",
    paid: bool = True,
    lines: list[dict] | None = None,
    has_more: bool = False,
) -> dict:
    """A subscription invoice. Without `lines`, one full-period line of the subscription's
    own price for `amount` (what Stripe sends on a renewal), its price given by id."""
    if lines is None:
        lines = [line(sub["items"]["data"][0]["price"]["id"], amount, sub=sub)]
    invoice_id = new_id("in")
    for each in lines:
        each["invoice"] = invoice_id
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": sub["customer"],
        "status": "paid" if paid else "open",
        "amount_paid": amount if paid else 0,
        "amount_due": amount,
        "total": amount,
        "currency": "usd",
        "billing_reason": reason,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": has_more,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": sub["id"], "metadata": sub["metadata"]},
        },
    }


def pack_checkout(
    user_id: str, customer: str, plan_id: str, amount: int | None = None, currency: str = "usd"
) -> dict:
    """A paid pack checkout; `amount` is the pack's price unless given."""
    if amount is None:
        amount = catalog.plan_by_id(plan_id).price
    return {
        "id": new_id("cs_test"),
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "customer": customer,
        "client_reference_id": user_id,
        "metadata": {"user_id": user_id, "plan_id": plan_id},
        "payment_intent": new_id("pi"),
        "subscription": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "currency": currency,
        "currency_conversion": None,
    }


def charge(
    payment_intent: str, amount: int, refunded: int = 0, *, customer: str | None = None
) -> dict:
    return {
        "id": new_id("ch"),
        "object": "charge",
        "customer": customer,
        "metadata": {},
        "amount": amount,
        "amount_refunded": refunded,
        "refunded": refunded >= amount,
        "payment_intent": payment_intent,
        "currency": "usd",
    }


def dispute(ch: dict, status: str = "needs_response") -> dict:
    return {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": ch["amount"],
        "charge": ch["id"],
        "payment_intent": ch["payment_intent"],
        "status": status,
        "currency": "usd",
    }
