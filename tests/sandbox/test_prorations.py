"""Plan changes as Stripe documents them: prorations by the second (placed first on the
invoice), always_invoice / create_prorations / none, interval changes, customer balance."""

import time
from typing import Any

import pytest
import stripe

from .conftest import Env


def _start(env: Env, amount: int = 2000, interval: str = "month", name: str = "Pro") -> Any:
    price = env.catalog(amount=amount, interval=interval, name=name)
    session = env.checkout(price.id, customer_email="p@example.com")
    assert env.pay(session).status_code == 303
    env.control.wait_idle()
    session = env.client.v1.checkout.sessions.retrieve(session.id)
    return env.client.v1.subscriptions.retrieve(session.subscription)


def _to_middle(env: Env, sub: Any) -> int:
    """Move the subscription's clock to the middle of its period; returns that time."""
    item = sub["items"].data[0]
    middle = (item.current_period_start + item.current_period_end) // 2
    env.control.clock(sub.id, middle - int(time.time()))
    return middle


def _change(env: Env, sub: Any, price_id: str, behavior: str, **extra: Any) -> Any:
    params = {
        "items": [{"id": sub["items"].data[0].id, "price": price_id}],
        "proration_behavior": behavior,
        **extra,
    }
    return env.client.v1.subscriptions.update(sub.id, params=params)


def _prorated(amount: int, at: int, start: int, end: int) -> int:
    return int(amount * (end - at) / (end - start) + 0.5)


def _events(env: Env, type_: str) -> list[dict]:
    return [d.event["data"]["object"] for d in env.receiver.deliveries if d.event["type"] == type_]


def test_mid_period_upgrade_always_invoice_bills_the_prorated_difference(env: Env) -> None:
    sub = _start(env, 2000)
    first = env.client.v1.invoices.retrieve(sub.latest_invoice)
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    business = env.catalog(amount=5000, name="Business")
    _to_middle(env, sub)
    env.settle()

    updated = _change(env, sub, business.id, "always_invoice")
    assert updated["items"].data[0].price.id == business.id
    assert updated["items"].data[0].id == item.id  # the same item, a new price
    assert updated["items"].data[0].current_period_end == end  # the cycle is unchanged
    inv = env.client.v1.invoices.retrieve(updated.latest_invoice)
    credit, debit = inv.lines.data
    at = credit.period.start
    assert debit.period.start == at and credit.period.end == debit.period.end == end
    assert credit.amount == -_prorated(2000, at, start, end)
    assert debit.amount == _prorated(5000, at, start, end)
    assert 1400 < inv.total < 1600  # about half of $30
    assert (
        inv.subtotal
        == inv.total
        == inv.amount_due
        == inv.amount_paid
        == sum(line.amount for line in inv.lines.data)
    )
    assert inv.status == "paid" and inv.billing_reason == "subscription_update"
    assert credit.description.startswith("Unused time on Pro after")
    assert debit.description.startswith("Remaining time on Business after")
    assert credit.pricing.price_details.price == item.price.id
    assert debit.pricing.price_details.price == business.id
    for line in (credit, debit):
        details = line.parent.subscription_item_details
        assert line.parent.type == "subscription_item_details"
        assert details.proration is True and details.subscription == sub.id
        assert details.subscription_item == item.id and details.invoice_item.startswith("ii_")
        assert line.discountable is False
    credited = credit.parent.subscription_item_details.proration_details.credited_items
    assert credited.invoice == first.id
    assert credited.invoice_line_items == [first.lines.data[0].id]
    assert debit.parent.subscription_item_details.proration_details.credited_items is None
    env.control.wait_idle()
    assert env.receiver.types[:3] == [
        "customer.subscription.updated",
        "invoiceitem.created",
        "invoiceitem.created",
    ]
    assert _events(env, "invoice.paid")[0]["lines"]["data"][0]["amount"] == credit.amount

    renewal = env.control.advance(sub.id)
    assert [line["amount"] for line in renewal["lines"]["data"]] == [5000]


def test_create_prorations_waits_for_the_next_invoice_and_comes_first(env: Env) -> None:
    sub = _start(env, 2000)
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    business = env.catalog(amount=5000, name="Business")
    _to_middle(env, sub)

    updated = _change(env, sub, business.id, "create_prorations")
    assert updated.latest_invoice == sub.latest_invoice  # nothing invoiced now
    pending = env.client.v1.invoice_items.list(
        params={"customer": sub.customer, "pending": True}
    ).data
    assert len(pending) == 2 and all(ii.proration and ii.invoice is None for ii in pending)
    assert sorted(ii.amount for ii in pending)[0] < 0

    renewal = env.control.advance(sub.id)
    lines = renewal["lines"]["data"]
    at = lines[0]["period"]["start"]
    assert [line["amount"] for line in lines] == [
        -_prorated(2000, at, start, end),
        _prorated(5000, at, start, end),
        5000,
    ]
    assert [line["parent"]["subscription_item_details"]["proration"] for line in lines] == [
        True,
        True,
        False,
    ]
    assert lines[2]["period"] == {"start": end, "end": renewal["lines"]["data"][2]["period"]["end"]}
    assert renewal["billing_reason"] == "subscription_cycle"
    assert renewal["total"] == renewal["amount_paid"] == sum(line["amount"] for line in lines)
    listed = env.client.v1.invoices.line_items.list(renewal["id"]).data
    assert [line.id for line in listed] == [line["id"] for line in lines]
    assert not env.client.v1.invoice_items.list(
        params={"customer": sub.customer, "pending": True}
    ).data


def test_none_changes_the_price_now_without_prorations(env: Env) -> None:
    sub = _start(env, 2000)
    cheaper = env.catalog(amount=1000, name="Lite")
    _to_middle(env, sub)
    updated = _change(env, sub, cheaper.id, "none")
    assert updated["items"].data[0].price.id == cheaper.id
    assert updated.latest_invoice == sub.latest_invoice
    assert not env.client.v1.invoice_items.list(params={"customer": sub.customer}).data
    renewal = env.control.advance(sub.id)
    assert [line["amount"] for line in renewal["lines"]["data"]] == [1000]


def test_monthly_to_yearly_resets_the_anchor_and_bills_a_year_minus_unused_time(env: Env) -> None:
    sub = _start(env, 2000)
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    yearly = env.catalog(amount=20000, interval="year", name="Pro yearly")
    _to_middle(env, sub)

    updated = _change(env, sub, yearly.id, "create_prorations")  # invoiced now all the same
    inv = env.client.v1.invoices.retrieve(updated.latest_invoice)
    credit, full = inv.lines.data
    at = credit.period.start
    assert credit.amount == -_prorated(2000, at, start, end)
    assert full.amount == 20000 and not full.parent.subscription_item_details.proration
    new_item = updated["items"].data[0]
    assert updated.billing_cycle_anchor == new_item.current_period_start == full.period.start
    assert new_item.current_period_end - new_item.current_period_start >= 365 * 86400
    assert inv.amount_paid == 20000 + credit.amount and inv.status == "paid"


def test_yearly_to_monthly_on_day_one_credits_the_balance_then_zero_invoices(env: Env) -> None:
    sub = _start(env, 20000, interval="year", name="Business yearly")
    monthly = env.catalog(amount=2000, name="Business monthly")
    env.settle()

    updated = _change(env, sub, monthly.id, "always_invoice")
    inv = env.client.v1.invoices.retrieve(updated.latest_invoice)
    assert [line.amount for line in inv.lines.data][1] == 2000
    assert inv.total < -17000 and inv.amount_due == 0 and inv.amount_paid == 0
    assert inv.status == "paid" and inv.starting_balance == 0
    assert inv.ending_balance == inv.total
    customer = env.client.v1.customers.retrieve(sub.customer)
    assert customer.balance == inv.total
    env.control.wait_idle()
    paid = _events(env, "invoice.paid")
    assert [p["amount_paid"] for p in paid] == [0]
    updates = [d.event for d in env.receiver.deliveries if d.event["type"] == "customer.updated"]
    assert updates[0]["data"]["previous_attributes"] == {"balance": 0}

    env.settle()
    renewal = env.control.advance(sub.id)
    assert renewal["total"] == 2000 and renewal["amount_due"] == 0
    assert renewal["amount_paid"] == 0 and renewal["status"] == "paid"
    assert renewal["starting_balance"] == inv.total
    assert renewal["ending_balance"] == inv.total + 2000
    env.control.wait_idle()
    assert "invoice.paid" in env.receiver.types
    txns = env.client.v1.customers.balance_transactions.list(sub.customer).data
    assert [t.amount for t in txns] == [2000, inv.total]
    assert txns[0].type == "applied_to_invoice" and txns[0].invoice == renewal["id"]


def test_proration_date_and_a_failed_upgrade_payment(env: Env) -> None:
    price = env.catalog(amount=2000, name="Pro")
    session = env.checkout(price.id, customer_email="f@example.com")
    env.pay(session, card="4000 0000 0000 0341")
    env.control.wait_idle()
    sub = env.client.v1.subscriptions.retrieve(
        env.client.v1.checkout.sessions.retrieve(session.id).subscription
    )
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    quarter = start + (end - start) // 4
    dearer = env.catalog(amount=4000, name="Max")
    env.settle()

    # Stripe's default payment_behavior (allow_incomplete): the change stays, the invoice
    # stays open and the subscription is past_due.
    updated = _change(env, sub, dearer.id, "always_invoice", proration_date=quarter)
    assert updated.status == "past_due" and updated["items"].data[0].price.id == dearer.id
    inv = env.client.v1.invoices.retrieve(updated.latest_invoice)
    assert inv.status == "open" and inv.lines.data[0].period.start == quarter
    assert inv.lines.data[0].amount == -_prorated(2000, quarter, start, end)
    env.control.wait_idle()
    assert "invoice.payment_failed" in env.receiver.types

    with pytest.raises(Exception, match="current period"):
        _change(env, updated, price.id, "none", proration_date=end + 10)


def _start_with_coupon(env: Env, proration_discounts: str | None) -> tuple[Any, Any]:
    """Pro at $20 with a 50%-off forever coupon; `proration_discounts` None: no billing_mode
    passed (Stripe's default, flexible with `included`)."""
    coupon = env.client.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    price = env.catalog(amount=2000)
    extra: dict[str, Any] = {"discounts": [{"coupon": coupon.id}]}
    if proration_discounts:
        extra["subscription_data"] = {
            "billing_mode": {
                "type": "flexible",
                "flexible": {"proration_discounts": proration_discounts},
            }
        }
    session = env.checkout(price.id, customer_email="c@example.com", **extra)
    assert env.pay(session).status_code == 303
    env.control.wait_idle()
    session = env.client.v1.checkout.sessions.retrieve(session.id)
    return env.client.v1.subscriptions.retrieve(session.subscription), coupon


@pytest.mark.parametrize("proration_discounts", [None, "included"])
def test_included_proration_discounts_bill_prorations_net_of_the_coupon(
    env: Env, proration_discounts: str | None
) -> None:
    sub, _ = _start_with_coupon(env, proration_discounts)
    assert sub.billing_mode.type == "flexible"
    assert sub.billing_mode.flexible.proration_discounts == "included"
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    business = env.catalog(amount=5000, name="Business")
    _to_middle(env, sub)
    inv = env.client.v1.invoices.retrieve(
        _change(env, sub, business.id, "always_invoice").latest_invoice
    )
    credit, debit = inv.lines.data
    at = credit.period.start
    # Net of the coupon: half of what the prorations would be without it.
    assert credit.amount == credit.subtotal == -_prorated(1000, at, start, end)
    assert debit.amount == debit.subtotal == _prorated(2500, at, start, end)
    assert [d.amount for d in credit.discount_amounts + debit.discount_amounts] == [0, 0]
    assert inv.subtotal == inv.total == inv.amount_paid == credit.amount + debit.amount
    assert inv.total_discount_amounts[0].amount == 0


def test_itemized_proration_discounts_show_gross_prorations_and_the_coupons_share(
    env: Env,
) -> None:
    sub, _ = _start_with_coupon(env, "itemized")
    assert sub.billing_mode.type == "flexible"
    assert sub.billing_mode.flexible.proration_discounts == "itemized"
    (discount_id,) = sub.discounts
    item = sub["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    business = env.catalog(amount=5000, name="Business")
    _to_middle(env, sub)

    # always_invoice: the invoice lists the gross prorations and the coupon's share of each.
    inv = env.client.v1.invoices.retrieve(
        _change(env, sub, business.id, "always_invoice").latest_invoice
    )
    credit, debit = inv.lines.data
    at = credit.period.start
    gross_credit, gross_debit = -_prorated(2000, at, start, end), _prorated(5000, at, start, end)
    assert (credit.amount, credit.subtotal) == (gross_credit, gross_credit)
    assert (debit.amount, debit.subtotal) == (gross_debit, gross_debit)
    (credit_off,) = credit.discount_amounts
    (debit_off,) = debit.discount_amounts
    assert credit_off.discount == debit_off.discount == discount_id
    assert credit.discounts == debit.discounts == [discount_id]
    assert credit_off.amount == -round(-gross_credit / 2 + 0.01)  # a credit gives its share back
    assert debit_off.amount == round(gross_debit / 2 + 0.01)
    taken = credit_off.amount + debit_off.amount
    assert inv.subtotal == gross_credit + gross_debit
    assert inv.total_discount_amounts[0].amount == taken and inv.discounts == [discount_id]
    assert inv.total == inv.amount_paid == inv.subtotal - taken
    assert 700 < inv.total < 800  # about half of $30, halved by the coupon

    # create_prorations: the pending items carry the same split to the renewal.
    pro = env.catalog(amount=2000, name="Pro again")
    sub = env.client.v1.subscriptions.retrieve(sub.id)
    _change(env, sub, pro.id, "create_prorations")
    pending = env.client.v1.invoice_items.list(params={"pending": True}).data
    assert pending and all(ii.proration for ii in pending)
    for ii in pending:
        (off,) = ii.proration_details.discount_amounts
        assert off.discount == discount_id and ii.discounts == [discount_id]
        assert ii.net_amount == ii.amount - off.amount
    renewal = env.control.advance(sub.id)
    lines = renewal["lines"]["data"]
    prorations = [
        line for line in lines if line["parent"]["subscription_item_details"]["proration"]
    ]
    assert sorted(line["amount"] for line in prorations) == sorted(ii.amount for ii in pending)
    full = [line for line in lines if line not in prorations]
    assert [line["amount"] for line in full] == [2000]
    assert renewal["subtotal"] == sum(line["amount"] for line in lines)
    discounts = sum(d["amount"] for line in lines for d in line["discount_amounts"])
    assert renewal["total_discount_amounts"] == [{"amount": discounts, "discount": discount_id}]
    assert renewal["total"] == renewal["subtotal"] - discounts


def test_billing_mode_is_checked(env: Env) -> None:
    price = env.catalog(amount=2000)
    with pytest.raises(stripe.InvalidRequestError, match="proration_discounts"):
        env.checkout(
            price.id,
            subscription_data={
                "billing_mode": {"type": "flexible", "flexible": {"proration_discounts": "x"}}
            },
        )
    with pytest.raises(stripe.InvalidRequestError, match="type"):
        env.checkout(price.id, subscription_data={"billing_mode": {"type": "weekly"}})
    with pytest.raises(stripe.InvalidRequestError, match="flexible"):
        env.checkout(
            price.id,
            subscription_data={
                "billing_mode": {"type": "classic", "flexible": {"proration_discounts": "itemized"}}
            },
        )
    session = env.checkout(
        price.id,
        customer_email="c@example.com",
        subscription_data={"billing_mode": {"type": "classic"}},
    )
    env.pay(session)
    sub = env.client.v1.subscriptions.retrieve(
        env.client.v1.checkout.sessions.retrieve(session.id).subscription
    )
    assert sub.billing_mode.type == "classic" and sub.billing_mode.flexible is None
