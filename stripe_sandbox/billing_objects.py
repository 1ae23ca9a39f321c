"""Builders for the billing objects added on top of `objects.py`: invoice lines and invoice
items, coupons and discounts, customer balance transactions, subscription schedules and
billing-portal configurations. Field sets follow Stripe's fixtures (fixtures3.json) and the
SDK of API version 2026-10-28.endive."""

from typing import Any

from .ids import new_id, now


def pricing(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "price_details": {"price": p["id"], "product": p["product"]},
        "type": "price_details",
        "unit_amount_decimal": p["unit_amount_decimal"],
    }


def credited_items(invoice_id: str | None, line_ids: list[str]) -> dict[str, Any] | None:
    if not invoice_id:
        return None
    return {"invoice": invoice_id, "invoice_line_items": list(line_ids)}


def invoice_item(
    *,
    customer_id: str,
    sub_id: str | None,
    item_id: str | None,
    p: dict[str, Any],
    quantity: int,
    amount: int,
    description: str,
    period: dict[str, int],
    proration: bool,
    credited: dict[str, Any] | None,
    discount_amounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A pending invoice item (`ii_`): a proration waiting for the subscription's next
    invoice, or a one-off item of Checkout's post-purchase invoice. `discount_amounts`:
    an itemized proration's discounts (its `amount` is then before them)."""
    discount_amounts = [dict(d) for d in discount_amounts or []]
    net = amount - sum(d["amount"] for d in discount_amounts)
    parent = (
        {
            "subscription_details": {"subscription": sub_id, "subscription_item": item_id},
            "type": "subscription_details",
        }
        if sub_id
        else None
    )
    return {
        "id": new_id("ii_"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": p["currency"],
        "customer": customer_id,
        "customer_account": None,
        "date": now(),
        "description": description,
        "discountable": not proration,
        "discounts": [d["discount"] for d in discount_amounts],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "net_amount": net,
        "parent": parent,
        "period": dict(period),
        "pricing": pricing(p),
        "proration": proration,
        "proration_details": {
            "credited_items": credited,
            "discount_amounts": discount_amounts,
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }


def invoice_line(
    *,
    invoice_id: str,
    p: dict[str, Any],
    quantity: int,
    amount: int,
    description: str,
    period: dict[str, int],
    proration: bool,
    sub_id: str | None,
    item_id: str | None,
    invoice_item_id: str | None,
    credited: dict[str, Any] | None,
) -> dict[str, Any]:
    """One `line_item` of an invoice. Lines of a subscription (its item, or a proration
    pending item swept into the invoice) have `parent.type = subscription_item_details`;
    lines of one-off invoice items have `invoice_item_details`."""
    if sub_id:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item_id,
                "proration": proration,
                "proration_details": {"credited_items": credited},
                "subscription": sub_id,
                "subscription_item": item_id,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item_id,
                "proration": proration,
                "proration_details": {"credited_items": credited},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": p["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": not proration,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": parent,
        "period": dict(period),
        "pretax_credit_amounts": [],
        "pricing": pricing(p),
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": sub_id,
        "subtotal": amount,
        "taxes": [],
    }


def coupon(
    *,
    coupon_id: str | None,
    percent_off: float | None,
    amount_off: int | None,
    currency: str | None,
    duration: str,
    duration_in_months: int | None,
    name: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    return {
        "id": coupon_id or new_id("", 8),
        "object": "coupon",
        "amount_off": amount_off,
        "applies_to": None,
        "created": now(),
        "currency": currency,
        "currency_options": None,
        "duration": duration,
        "duration_in_months": duration_in_months,
        "livemode": False,
        "max_redemptions": None,
        "metadata": metadata,
        "name": name,
        "percent_off": percent_off,
        "redeem_by": None,
        "times_redeemed": 0,
        "valid": True,
    }


def discount(
    *,
    cpn: dict[str, Any],
    customer_id: str | None,
    sub_id: str | None,
    session_id: str | None,
    invoice_id: str | None,
    start: int,
    end: int | None,
) -> dict[str, Any]:
    return {
        "id": new_id("di_"),
        "object": "discount",
        "checkout_session": session_id,
        "customer": customer_id,
        "customer_account": None,
        "end": end,
        "invoice": invoice_id,
        "invoice_item": None,
        "promotion_code": None,
        "source": {"coupon": cpn["id"], "type": "coupon"},
        "start": start,
        "subscription": sub_id,
        "subscription_item": None,
    }


def balance_transaction(
    *, customer_id: str, amount: int, ending: int, currency: str, invoice_id: str | None, kind: str
) -> dict[str, Any]:
    return {
        "id": new_id("cbtxn_"),
        "object": "customer_balance_transaction",
        "amount": amount,
        "checkout_session": None,
        "created": now(),
        "credit_note": None,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "description": None,
        "ending_balance": ending,
        "invoice": invoice_id,
        "livemode": False,
        "metadata": None,
        "type": kind,
    }


def schedule_phase(
    p: dict[str, Any], quantity: int, start: int, end: int, proration_behavior: str
) -> dict[str, Any]:
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": p["currency"],
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": {},
                "price": p["id"],
                "quantity": quantity,
                "tax_rates": [],
            }
        ],
        "metadata": {},
        "on_behalf_of": None,
        "proration_behavior": proration_behavior,
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def subscription_schedule(
    sub: dict[str, Any], phases: list[dict[str, Any]], current: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": new_id("sub_sched_"),
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": dict(sub["billing_mode"]),
        "canceled_at": None,
        "completed_at": None,
        "created": now(),
        "current_phase": {"end_date": current["end_date"], "start_date": current["start_date"]},
        "customer": sub["customer"],
        "customer_account": None,
        "default_settings": {
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "description": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "days_until_due": None,
                "issuer": {"type": "self"},
            },
            "on_behalf_of": None,
            "transfer_data": None,
        },
        "end_behavior": "release",
        "livemode": False,
        "metadata": {},
        "phases": phases,
        "released_at": None,
        "released_subscription": None,
        "status": "active",
        "subscription": sub["id"],
        "test_clock": None,
    }


def portal_configuration(is_default: bool) -> dict[str, Any]:
    """A configuration with Stripe's defaults for every field; callers apply the request."""
    created = now()
    return {
        "id": new_id("bpc_"),
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {
            "headline": None,
            "privacy_policy_url": None,
            "terms_of_service_url": None,
        },
        "created": created,
        "default_return_url": None,
        "features": {
            "customer_update": {"allowed_updates": [], "enabled": False},
            "invoice_history": {"enabled": False},
            "payment_method_update": {"enabled": False, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "options": []},
                "enabled": False,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_update": {
                "billing_cycle_anchor": None,
                "default_allowed_updates": [],
                "enabled": False,
                "products": [],
                "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": is_default,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": created,
    }
