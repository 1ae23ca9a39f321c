"""Stripe-shaped objects (API 2026-10-28.endive field names, as in Stripe's fixtures3.json)
for tests that feed the webhook processor directly."""

import itertools
import time

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


def price(plan_id: str, interval: str | None = "month") -> dict:
    return {
        "id": new_id("price"),
        "object": "price",
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


def invoice(
    sub: dict, *, amount: int, reason: str = "subscription_cycle", paid: bool = True
) -> dict:
    return {
        "id": new_id("in"),
        "object": "invoice",
        "customer": sub["customer"],
        "status": "paid" if paid else "open",
        "amount_paid": amount if paid else 0,
        "amount_due": amount,
        "currency": "usd",
        "billing_reason": reason,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": sub["id"], "metadata": sub["metadata"]},
        },
    }


def pack_checkout(user_id: str, customer: str, plan_id: str, amount: int) -> dict:
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
        "amount_total": amount,
        "currency": "usd",
    }


def charge(payment_intent: str, amount: int, refunded: int = 0) -> dict:
    return {
        "id": new_id("ch"),
        "object": "charge",
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
