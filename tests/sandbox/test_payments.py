"""Refunds and disputes on real charges."""

import pytest
import stripe

from .conftest import Env


def _paid_charge(env: Env, amount: int = 1500) -> dict:
    pack = env.catalog(amount=amount, interval=None, name="Pack")
    session = env.checkout(pack.id, mode="payment")
    env.pay(session)
    pi = env.client.v1.payment_intents.retrieve(
        env.client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    env.control.wait_idle()
    env.settle()
    return env.client.v1.charges.retrieve(pi.latest_charge)


def test_partial_then_full_refund_and_over_refund(env: Env) -> None:
    charge = _paid_charge(env)
    part = env.client.v1.refunds.create(params={"charge": charge.id, "amount": 500})
    assert part.id.startswith("re_") and part.amount == 500 and part.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        env.client.v1.refunds.create(params={"charge": charge.id, "amount": 1001})
    assert too_much.value.param == "amount"

    rest = env.client.v1.refunds.create(params={"payment_intent": charge.payment_intent})
    assert rest.amount == 1000
    after = env.client.v1.charges.retrieve(charge.id)
    assert after.amount_refunded == 1500 and after.refunded is True
    with pytest.raises(stripe.InvalidRequestError, match="already been refunded"):
        env.client.v1.refunds.create(params={"charge": charge.id})

    env.control.wait_idle()
    assert env.receiver.types == ["charge.refunded", "refund.created"] * 2
    first = env.receiver.deliveries[0].event["data"]
    assert first["object"]["amount_refunded"] == 500
    assert first["previous_attributes"]["amount_refunded"] == 0


def test_full_refund_by_default(env: Env) -> None:
    charge = _paid_charge(env, amount=700)
    refund = env.client.v1.refunds.create(params={"charge": charge.id})
    assert refund.amount == 700 and refund.charge == charge.id
    assert env.client.v1.refunds.retrieve(refund.id).payment_intent == charge.payment_intent


def test_dispute_created_and_closed(env: Env) -> None:
    charge = _paid_charge(env)
    dispute = env.control.dispute(charge.id)
    assert dispute["id"].startswith("dp_") and dispute["status"] == "needs_response"
    assert dispute["amount"] == charge.amount
    assert env.client.v1.charges.retrieve(charge.id).disputed is True
    closed = env.control.close_dispute(dispute["id"], "lost")
    assert closed["status"] == "lost"
    env.control.wait_idle()
    # A chargeback withdraws the funds when it opens (Stripe's funds_withdrawn).
    assert env.receiver.types == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    assert env.receiver.deliveries[2].event["data"]["object"]["status"] == "lost"
