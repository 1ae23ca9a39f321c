"""Checkout's post-purchase invoice, tax settings recorded, price rules, and what the hosted
Checkout page shows."""

import httpx
import pytest
import stripe

from stripe_sandbox import SandboxControl

from .conftest import Env, sandbox_with, submit_form


def test_invoice_creation_makes_a_paid_invoice_without_a_subscription(env: Env) -> None:
    c = env.client.v1
    pack = env.catalog(amount=1500, interval=None, name="Pack")
    env.settle()
    session = env.checkout(
        pack.id,
        mode="payment",
        invoice_creation={"enabled": True, "invoice_data": {"description": "500 credits"}},
        automatic_tax={"enabled": True},
    )
    assert session.invoice_creation.enabled is True and session.automatic_tax.enabled is True
    env.pay(session)
    env.control.wait_idle()
    session = c.checkout.sessions.retrieve(session.id)
    assert session.customer and session.invoice
    assert session.total_details.amount_tax == 0  # no tax is computed
    inv = c.invoices.retrieve(session.invoice)
    assert inv.parent is None and inv.status == "paid" and inv.amount_paid == 1500
    assert inv.billing_reason == "manual" and inv.description == "500 credits"
    assert inv.automatic_tax.enabled is True and inv.total_taxes == []
    (line,) = inv.lines.data
    assert line.parent.type == "invoice_item_details"
    assert line.parent.invoice_item_details.proration is False
    assert line.pricing.price_details.price == pack.id
    payment = c.invoice_payments.list(params={"invoice": inv.id}).data[0]
    assert payment.payment.payment_intent == session.payment_intent
    types = env.receiver.types
    assert types.index("checkout.session.completed") < types.index("invoice.paid")
    paid = next(d.event for d in env.receiver.deliveries if d.event["type"] == "invoice.paid")
    assert paid["data"]["object"]["parent"] is None
    with pytest.raises(stripe.InvalidRequestError, match="payment"):
        env.checkout(env.catalog().id, invoice_creation={"enabled": True})


def test_tax_behavior_is_immutable_once_set_archiving_and_lookup_keys(env: Env) -> None:
    c = env.client.v1
    prod = c.products.create(params={"name": "Pro"})
    base = {"product": prod.id, "currency": "usd", "recurring": {"interval": "month"}}
    old = c.prices.create(params={**base, "unit_amount": 2000, "lookup_key": "app_pro"})
    assert old.tax_behavior == "unspecified"
    assert c.prices.update(old.id, params={"tax_behavior": "exclusive"}).tax_behavior == (
        "exclusive"
    )
    with pytest.raises(stripe.InvalidRequestError, match="cannot be changed"):
        c.prices.update(old.id, params={"tax_behavior": "inclusive"})
    new = c.prices.create(
        params={
            **base,
            "unit_amount": 2500,
            "lookup_key": "app_pro",
            "transfer_lookup_key": True,
            "tax_behavior": "exclusive",
        }
    )
    assert c.prices.retrieve(old.id).lookup_key is None
    c.prices.update(old.id, params={"active": False})
    found = c.prices.list(params={"lookup_keys": ["app_pro"], "active": True}).data
    assert [p.id for p in found] == [new.id]
    with pytest.raises(stripe.InvalidRequestError, match="inactive"):
        env.checkout(old.id)


def test_checkout_page_shows_merchant_description_and_keeps_the_card(env: Env) -> None:
    c = env.client.v1
    prod = c.products.create(params={"name": "Pro", "description": "5,000 credits every month"})
    price = c.prices.create(
        params={
            "product": prod.id,
            "unit_amount": 2000,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    session = env.checkout(price.id)
    page = httpx.get(session.url).text
    assert "Stripe Sandbox" in page and "5,000 credits every month" in page
    assert "Total due today" in page and "$20.00" in page
    declined = submit_form(page, {"cardnumber": "4000 0000 0000 0002", "email": "k@x.io"})
    assert declined.status_code == 402
    assert 'value="4000 0000 0000 0002"' in declined.text and 'value="k@x.io"' in declined.text
    ok = submit_form(declined.text, {"cardnumber": "4242 4242 4242 4242", "email": "k@x.io"})
    assert ok.status_code == 303


def test_the_merchant_name_is_a_setting() -> None:
    with sandbox_with(business_name="Credit Tools Ltd") as url:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": url})
        prod = client.v1.products.create(params={"name": "Pack"})
        price = client.v1.prices.create(
            params={"product": prod.id, "unit_amount": 500, "currency": "usd"}
        )
        session = client.v1.checkout.sessions.create(
            params={"mode": "payment", "line_items": [{"price": price.id}]}
        )
        assert "Credit Tools Ltd" in httpx.get(session.url).text
        with SandboxControl(url) as control:
            control.pay_checkout(session.id)
        assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"
