"""Saved cards and off-session payment intents (automatic top-ups): a card saved by Checkout
is charged later without the customer, and behaves by the test card it was saved with."""

from typing import Any

import httpx
import pytest
import stripe

from .conftest import Env


def _saved_card(env: Env, card: str = "4242 4242 4242 4242") -> tuple[str, str]:
    """A customer who bought a pack with `setup_future_usage=off_session`: (customer, card)."""
    cust = env.client.v1.customers.create(params={"email": "saver@example.com"})
    pack = env.catalog(amount=1000, interval=None, name="Pack")
    session = env.checkout(
        pack.id,
        mode="payment",
        customer=cust.id,
        payment_intent_data={"setup_future_usage": "off_session", "metadata": {"u": "1"}},
    )
    assert env.pay(session, card).status_code == 303
    pi = env.client.v1.checkout.sessions.retrieve(session.id).payment_intent
    pm_id = env.client.v1.payment_intents.retrieve(pi).payment_method
    env.settle()
    return cust.id, pm_id


def _charge(env: Env, cust: str, pm: str, amount: int = 500, **options: Any) -> Any:
    return env.client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": cust,
            "payment_method": pm,
            "off_session": True,
            "confirm": True,
            "description": "Automatic top-up",
            "metadata": {"user_id": "7", "kind": "auto_top_up"},
        },
        options=options,
    )


def _events(env: Env, event_type: str) -> list[dict[str, Any]]:
    env.control.wait_idle()
    return [d.event for d in env.receiver.deliveries if d.event["type"] == event_type]


def test_checkout_with_setup_future_usage_saves_the_card(env: Env) -> None:
    cust = env.client.v1.customers.create(params={"email": "saver@example.com"})
    pack = env.catalog(amount=1000, interval=None, name="Pack")
    session = env.checkout(
        pack.id,
        mode="payment",
        customer=cust.id,
        payment_intent_data={"setup_future_usage": "off_session"},
    )
    page = httpx.get(session.url).text
    assert "to charge your card for future payments" in page
    assert "4000 0000 0000 9995" in page and "4000 0025 0000 3155" in page
    assert env.pay(session, "4242 4242 4242 4242").status_code == 303

    s = env.client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.payment_method"]}
    )
    pi = s.payment_intent
    assert pi.setup_future_usage == "off_session" and pi.livemode is False
    pm = pi.payment_method
    assert pm.id.startswith("pm_") and pm.object == "payment_method" and pm.type == "card"
    assert pm.customer == cust.id and pm.livemode is False
    assert (pm.card.brand, pm.card.last4, pm.card.exp_month) == ("visa", "4242", 12)
    assert pm.card.fingerprint and pm.card.exp_year > 2030
    # Saved, not made the customer's default (Checkout leaves invoice_settings alone).
    assert env.client.v1.customers.retrieve(cust.id).invoice_settings.default_payment_method is None

    listed = env.client.v1.payment_methods.list(params={"customer": cust.id, "type": "card"})
    assert listed.object == "list" and [m.id for m in listed.data] == [pm.id]
    by_customer = env.client.v1.customers.payment_methods.list(cust.id)
    assert [m.id for m in by_customer.data] == [pm.id]
    assert env.client.v1.payment_methods.retrieve(pm.id).card.last4 == "4242"


def test_payment_without_setup_future_usage_saves_nothing(env: Env) -> None:
    cust = env.client.v1.customers.create(params={"email": "once@example.com"})
    pack = env.catalog(amount=1000, interval=None, name="Pack")
    session = env.checkout(pack.id, mode="payment", customer=cust.id)
    assert "save-notice" not in httpx.get(session.url).text
    assert env.pay(session).status_code == 303
    pi = env.client.v1.payment_intents.retrieve(
        env.client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    assert pi.setup_future_usage is None and pi.payment_method.startswith("pm_")
    assert env.client.v1.payment_methods.retrieve(pi.payment_method).customer is None
    assert env.client.v1.customers.payment_methods.list(cust.id).data == []
    with pytest.raises(stripe.InvalidRequestError) as unsaved:
        _charge(env, cust.id, pi.payment_method)
    assert unsaved.value.param == "payment_method"


def test_subscription_checkout_saves_the_card_for_renewals(env: Env) -> None:
    session = env.subscribe()
    inv = env.client.v1.invoices.retrieve(session.invoice)
    pi_id = env.client.v1.invoice_payments.list(params={"invoice": inv.id}).data[0]
    pi = env.client.v1.payment_intents.retrieve(pi_id.payment.payment_intent)
    assert pi.setup_future_usage == "off_session"
    pm = env.client.v1.payment_methods.retrieve(pi.payment_method)
    assert pm.customer == session.customer
    assert _charge(env, session.customer, pm.id).status == "succeeded"


def test_off_session_charge_succeeds_with_a_refundable_charge(env: Env) -> None:
    cust, pm = _saved_card(env)
    pi = _charge(env, cust, pm, amount=1500)
    assert pi.id.startswith("pi_") and pi.status == "succeeded" and pi.livemode is False
    assert (pi.amount, pi.amount_received, pi.currency) == (1500, 1500, "usd")
    assert (pi.customer, pi.payment_method, pi.description) == (cust, pm, "Automatic top-up")
    assert pi.metadata.to_dict() == {"user_id": "7", "kind": "auto_top_up"}
    assert env.client.v1.payment_intents.retrieve(pi.id).status == "succeeded"

    succeeded = _events(env, "payment_intent.succeeded")
    assert len(succeeded) == 1
    payload = succeeded[0]["data"]["object"]
    assert (payload["id"], payload["customer"], payload["payment_method"]) == (pi.id, cust, pm)
    assert payload["metadata"] == {"user_id": "7", "kind": "auto_top_up"}
    assert env.receiver.types == [
        "payment_intent.created",
        "payment_intent.succeeded",
        "charge.succeeded",
    ]
    assert env.receiver.rejected == 0  # every delivery carried a valid Stripe signature

    charge = env.client.v1.charges.retrieve(pi.latest_charge)
    assert charge.status == "succeeded" and charge.payment_intent == pi.id
    assert charge.metadata["user_id"] == "7"
    env.settle()
    refund = env.client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500})
    assert refund.amount == 500 and refund.charge == charge.id
    dispute = env.control.dispute(charge.id)
    assert dispute["payment_intent"] == pi.id
    env.control.wait_idle()
    assert env.receiver.types[:2] == ["charge.refunded", "refund.created"]
    assert "charge.dispute.created" in env.receiver.types


def test_insufficient_funds_is_a_card_error_naming_the_payment_intent(env: Env) -> None:
    cust, pm = _saved_card(env)
    changed = env.control.set_card(pm, "4000000000009995")
    assert changed["card"]["last4"] == "9995" and changed["id"] == pm

    with pytest.raises(stripe.CardError) as declined:
        _charge(env, cust, pm)
    error = declined.value
    assert error.http_status == 402 and error.code == "card_declined"
    assert error.error.decline_code == "insufficient_funds"
    assert error.user_message == "Your card has insufficient funds."
    pi = error.error.payment_intent
    assert pi.status == "requires_payment_method" and pi.customer == cust
    assert pi.last_payment_error.decline_code == "insufficient_funds"
    assert pi.last_payment_error.payment_method.id == pm

    stored = env.client.v1.payment_intents.retrieve(pi.id)
    assert stored.status == "requires_payment_method" and stored.payment_method is None
    assert env.client.v1.charges.retrieve(stored.latest_charge).failure_code == "card_declined"

    failed = _events(env, "payment_intent.payment_failed")
    assert len(failed) == 1
    payload = failed[0]["data"]["object"]
    assert payload["id"] == pi.id and payload["metadata"]["kind"] == "auto_top_up"
    assert payload["last_payment_error"]["code"] == "card_declined"
    assert payload["last_payment_error"]["decline_code"] == "insufficient_funds"
    assert env.receiver.types == [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "charge.failed",
    ]


@pytest.mark.parametrize("card", ["4000 0025 0000 3155", "4000 0027 6000 3184"])
def test_cards_needing_authentication_fail_off_session(env: Env, card: str) -> None:
    # Checkout authenticates on the page, so the first payment goes through.
    cust, pm = _saved_card(env, card)
    with pytest.raises(stripe.CardError) as needs_auth:
        _charge(env, cust, pm)
    error = needs_auth.value
    assert error.code == "authentication_required"
    assert error.error.decline_code == "authentication_required"
    pi = error.error.payment_intent
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "authentication_required"
    failed = _events(env, "payment_intent.payment_failed")
    assert [e["data"]["object"]["id"] for e in failed] == [pi.id]


def test_insufficient_funds_card_is_declined_at_checkout(env: Env) -> None:
    pack = env.catalog(amount=1000, interval=None, name="Pack")
    session = env.checkout(
        pack.id, mode="payment", payment_intent_data={"setup_future_usage": "off_session"}
    )
    declined = env.pay(session, "4000 0000 0000 9995")
    assert declined.status_code == 402 and "Your card has insufficient funds." in declined.text
    assert env.client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_another_customers_card_and_bad_parameters_are_refused(env: Env) -> None:
    cust, pm = _saved_card(env)
    other = env.client.v1.customers.create(params={"email": "other@example.com"})
    env.settle()
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        _charge(env, other.id, pm)
    assert foreign.value.http_status == 400 and foreign.value.param == "payment_method"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        _charge(env, cust, "pm_doesnotexist")
    assert missing.value.param == "payment_method" and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as zero:
        _charge(env, cust, pm, amount=0)
    assert zero.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as no_currency:
        env.client.v1.payment_intents.create(
            params={"amount": 500, "customer": cust, "payment_method": pm, "confirm": True}
        )
    assert no_currency.value.param == "currency"
    assert env.client.v1.charges.list(params={"customer": other.id}).data == []
    env.control.wait_idle()
    assert env.receiver.types == []


def test_idempotency_key_replays_the_payment_intent(env: Env) -> None:
    cust, pm = _saved_card(env)
    first = _charge(env, cust, pm, idempotency_key="top-up-1")
    again = _charge(env, cust, pm, idempotency_key="top-up-1")
    assert again.id == first.id and again.latest_charge == first.latest_charge
    assert len(env.client.v1.charges.list(params={"payment_intent": first.id}).data) == 1
    assert len(_events(env, "payment_intent.succeeded")) == 1
    with pytest.raises(stripe.IdempotencyError):
        _charge(env, cust, pm, amount=900, idempotency_key="top-up-1")

    # A declined attempt is replayed as the same error, naming the same payment intent.
    env.control.set_card(pm, "4000000000009995")
    with pytest.raises(stripe.CardError) as first_decline:
        _charge(env, cust, pm, idempotency_key="top-up-2")
    with pytest.raises(stripe.CardError) as replayed:
        _charge(env, cust, pm, idempotency_key="top-up-2")
    assert replayed.value.error.payment_intent.id == first_decline.value.error.payment_intent.id
    assert len(_events(env, "payment_intent.payment_failed")) == 1


def test_detached_card_can_no_longer_be_charged(env: Env) -> None:
    cust, pm = _saved_card(env)
    detached = env.client.v1.payment_methods.detach(pm)
    assert detached.customer is None
    assert env.client.v1.payment_methods.list(params={"customer": cust}).data == []
    with pytest.raises(stripe.InvalidRequestError) as gone:
        _charge(env, cust, pm)
    assert gone.value.param == "payment_method"
    with pytest.raises(stripe.InvalidRequestError):
        env.client.v1.payment_methods.detach(pm)
    event = _events(env, "payment_method.detached")[0]
    assert event["data"]["previous_attributes"] == {"customer": cust}


def test_set_card_control_refuses_unknown_numbers(env: Env) -> None:
    _, pm = _saved_card(env)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        env.control.set_card(pm, "1234 5678")
    assert refused.value.response.status_code == 400
