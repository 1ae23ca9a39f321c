"""Coupons on subscriptions and one-off payments: discount amounts per line and per invoice."""

import pytest
import stripe

from .conftest import Env


def test_percent_coupon_on_a_subscription_discounts_every_invoice(env: Env) -> None:
    c = env.client.v1
    coupon = c.coupons.create(params={"percent_off": 25, "duration": "forever", "name": "Q"})
    assert coupon.object == "coupon" and coupon.percent_off == 25
    price = env.catalog(amount=2000)
    with pytest.raises(stripe.InvalidRequestError, match="No such coupon"):
        env.checkout(price.id, discounts=[{"coupon": "nope"}])
    session = env.checkout(price.id, customer_email="c@example.com", discounts=[
        {"coupon": coupon.id}
    ])  # fmt: skip
    assert session.amount_subtotal == 2000 and session.amount_total == 1500
    assert session.total_details.amount_discount == 500
    assert session.discounts[0].coupon == coupon.id
    env.pay(session)
    session = c.checkout.sessions.retrieve(session.id)
    sub = c.subscriptions.retrieve(session.subscription)
    (discount_id,) = sub.discounts
    inv = c.invoices.retrieve(sub.latest_invoice)
    line = inv.lines.data[0]
    assert line.amount == 2000 and line.discount_amounts[0].amount == 500
    assert line.discount_amounts[0].discount == discount_id and line.discounts == [discount_id]
    assert inv.subtotal == 2000 and inv.total == 1500 and inv.amount_paid == 1500
    assert inv.total_discount_amounts[0].amount == 500 and inv.discounts == [discount_id]
    renewal = env.control.advance(sub.id)
    assert renewal["total"] == 1500


def test_once_amount_off_coupon_applies_to_the_first_invoice_only(env: Env) -> None:
    c = env.client.v1
    coupon = c.coupons.create(
        params={"amount_off": 700, "currency": "usd", "duration": "once", "id": "WELCOME"}
    )
    assert coupon.id == "WELCOME"
    price = env.catalog(amount=2000)
    session = env.checkout(price.id, discounts=[{"coupon": "WELCOME"}])
    env.pay(session)
    sub = c.subscriptions.retrieve(c.checkout.sessions.retrieve(session.id).subscription)
    assert c.invoices.retrieve(sub.latest_invoice).amount_paid == 1300
    assert env.control.advance(sub.id)["amount_paid"] == 2000
    assert c.coupons.retrieve("WELCOME").times_redeemed == 1


def test_coupon_on_a_payment_with_an_invoice(env: Env) -> None:
    c = env.client.v1
    coupon = c.coupons.create(params={"percent_off": 10, "duration": "once"})
    pack = env.catalog(amount=1000, interval=None, name="Pack")
    session = env.checkout(
        pack.id,
        mode="payment",
        discounts=[{"coupon": coupon.id}],
        invoice_creation={"enabled": True},
    )
    env.pay(session)
    session = c.checkout.sessions.retrieve(session.id)
    assert c.payment_intents.retrieve(session.payment_intent).amount == 900
    inv = c.invoices.retrieve(session.invoice)
    assert inv.subtotal == 1000 and inv.total == 900 and inv.amount_paid == 900
