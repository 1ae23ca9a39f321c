"""Hosted Checkout driven through its HTML form, with the SDK reading the results."""

import httpx
import pytest
import stripe

from .conftest import Env, form_fields


def test_subscription_checkout_emits_stripes_events_and_shapes(env: Env) -> None:
    price = env.catalog(amount=2000)
    session = env.checkout(
        price.id,
        customer_email="buyer@example.com",
        client_reference_id="user-7",
        metadata={"user_id": "7"},
        subscription_data={"metadata": {"user_id": "7"}},
    )
    assert session.id.startswith("cs_test_") and session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.url == f"{env.url}/checkout/{session.id}"
    assert session.expires_at - session.created == 24 * 3600

    page = httpx.get(session.url)
    assert "Pro" in page.text and "$20.00 / month" in page.text
    assert '<label for="cardnumber">Card number</label>' in page.text
    assert ">Subscribe</button>" in page.text and 'href="http://app.test/cancel"' in page.text
    action, _, names = form_fields(page.text)
    assert names == ["cardnumber"]  # email is known, so not asked for
    env.settle()
    done = httpx.post(action, data={"cardnumber": "4242 4242 4242 4242"})
    assert done.status_code == 303
    assert done.headers["location"] == f"http://app.test/done?session={session.id}"

    env.control.wait_idle()
    assert env.receiver.types == [
        "customer.created",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    completed = env.receiver.deliveries[-1].event["data"]["object"]
    assert completed["client_reference_id"] == "user-7"
    assert completed["metadata"] == {"user_id": "7"}

    c = env.client.v1
    s = c.checkout.sessions.retrieve(session.id, params={"expand": ["subscription"]})
    assert (s.status, s.payment_status) == ("complete", "paid")
    assert s.customer.startswith("cus_") and s.invoice.startswith("in_")
    sub = s.subscription
    assert sub.status == "active" and sub.metadata["user_id"] == "7"
    item = sub["items"].data[0]
    assert item.price.id == price.id and item.id.startswith("si_")
    assert 28 * 86400 <= item.current_period_end - item.current_period_start <= 31 * 86400

    inv = c.invoices.retrieve(s.invoice)
    assert inv.billing_reason == "subscription_create" and inv.status == "paid"
    assert inv.amount_paid == 2000 and inv.customer == s.customer
    assert inv.parent.type == "subscription_details"
    assert inv.parent.subscription_details.subscription == sub.id
    assert inv.parent.subscription_details.metadata["user_id"] == "7"
    line = inv.lines.data[0]
    assert line.pricing.price_details.price == price.id
    assert (line.period.start, line.period.end) == (
        item.current_period_start,
        item.current_period_end,
    )

    payments = c.invoice_payments.list(params={"invoice": inv.id}).data
    assert len(payments) == 1 and payments[0].status == "paid"
    pi_id = payments[0].payment.payment_intent
    by_pi = c.invoice_payments.list(
        params={"payment": {"type": "payment_intent", "payment_intent": pi_id}}
    )
    assert by_pi.data[0].invoice == inv.id
    pi = c.payment_intents.retrieve(pi_id)
    assert pi.status == "succeeded" and pi.amount_received == 2000
    charge = c.charges.retrieve(pi.latest_charge)
    assert charge.status == "succeeded" and charge.payment_method_details.card.last4 == "4242"

    again = httpx.get(session.url)
    assert "already complete" in again.text


def test_declined_and_invalid_cards_change_nothing(env: Env) -> None:
    price = env.catalog()
    session = env.checkout(price.id)
    env.settle()

    declined = env.pay(session, "4000 0000 0000 0002")
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    invalid = env.pay(session, "1234 5678")
    assert "Your card number is invalid." in invalid.text

    assert env.client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert env.client.v1.customers.list().data == []
    assert env.client.v1.subscriptions.list().data == []
    env.control.wait_idle()
    assert env.receiver.types == []
    # The same session can still be paid afterwards.
    assert env.pay(session).status_code == 303


def test_payment_mode_checkout(env: Env) -> None:
    pack = env.catalog(amount=500, interval=None, name="Credit pack")
    session = env.checkout(
        pack.id,
        mode="payment",
        client_reference_id="user-3",
        metadata={"user_id": "3", "pack": "small"},
        payment_intent_data={"metadata": {"user_id": "3", "pack": "small"}},
    )
    page = httpx.get(session.url)
    assert ">Pay</button>" in page.text and '<label for="email">Email</label>' in page.text
    env.settle()
    assert env.pay(session).status_code == 303
    env.control.wait_idle()
    assert env.receiver.types == [
        "payment_intent.succeeded",
        "charge.succeeded",
        "checkout.session.completed",
    ]
    s = env.client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent", "line_items"]}
    )
    assert s.status == "complete" and s.subscription is None and s.invoice is None
    assert s.customer_details.email == "buyer@example.com"
    assert s.payment_intent.metadata["pack"] == "small"
    assert s.line_items.data[0].price.id == pack.id
    charge = env.client.v1.charges.retrieve(s.payment_intent.latest_charge)
    assert charge.metadata["user_id"] == "3" and charge.amount == 500

    with pytest.raises(stripe.InvalidRequestError, match="recurring price"):
        env.checkout(env.catalog().id, mode="payment")
    with pytest.raises(stripe.InvalidRequestError, match="recurring price"):
        env.checkout(pack.id, mode="subscription")


def test_expire_only_open_sessions(env: Env) -> None:
    session = env.checkout(env.catalog().id)
    expired = env.client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        env.client.v1.checkout.sessions.expire(session.id)
    page = httpx.get(session.url)
    assert page.status_code == 410 and "expired" in page.text
    env.control.wait_idle()
    assert "checkout.session.expired" in env.receiver.types


def test_existing_customer_is_reused(env: Env) -> None:
    cust = env.client.v1.customers.create(params={"email": "known@x.io"})
    session = env.checkout(env.catalog().id, customer=cust.id)
    page = httpx.get(session.url)
    assert "known@x.io" in page.text
    env.settle()
    env.pay(session)
    env.control.wait_idle()
    assert "customer.created" not in env.receiver.types
    assert env.client.v1.checkout.sessions.retrieve(session.id).customer == cust.id


def test_control_can_pay_a_session_without_html(env: Env) -> None:
    session = env.checkout(env.catalog().id, customer_email="json@x.io")
    with pytest.raises(httpx.HTTPStatusError) as declined:
        env.control.pay_checkout(session.id, card="4000000000000002")
    assert declined.value.response.status_code == 402
    paid = env.control.pay_checkout(session.id)
    assert paid["status"] == "complete" and paid["subscription"].startswith("sub_")
