"""Disputes: inquiries, chargebacks, prevented ones, status updates and money movements."""

import pytest
import stripe

from .conftest import Env


def _charge(env: Env) -> str:
    pack = env.catalog(amount=1500, interval=None, name="Pack")
    session = env.checkout(pack.id, mode="payment")
    env.pay(session)
    pi = env.client.v1.payment_intents.retrieve(
        env.client.v1.checkout.sessions.retrieve(session.id).payment_intent
    )
    env.settle()
    return pi.latest_charge


def _statuses(env: Env) -> list[tuple[str, str]]:
    env.control.wait_idle()
    return [(d.event["type"], d.event["data"]["object"]["status"]) for d in env.receiver.deliveries]


def test_inquiry_moves_no_money_and_closes_as_warning_closed(env: Env) -> None:
    charge = _charge(env)
    inquiry = env.control.dispute(charge, status="warning_needs_response")
    assert inquiry["payment_method_details"]["card"]["case_type"] == "inquiry"
    assert inquiry["balance_transactions"] == [] and inquiry["is_charge_refundable"] is True
    env.control.dispute_status(inquiry["id"], "warning_under_review")
    env.control.dispute_status(inquiry["id"], "warning_closed")
    assert _statuses(env) == [
        ("charge.dispute.created", "warning_needs_response"),
        ("charge.dispute.updated", "warning_under_review"),
        ("charge.dispute.closed", "warning_closed"),
    ]
    updated = env.receiver.deliveries[1].event["data"]
    assert updated["previous_attributes"]["status"] == "warning_needs_response"
    with pytest.raises(Exception, match="400"):
        env.control.dispute_status(inquiry["id"], "won")


def test_escalated_inquiry_withdraws_funds_and_a_won_one_reinstates_them(env: Env) -> None:
    charge = _charge(env)
    dp = env.control.dispute(charge, status="warning_needs_response")
    env.control.dispute_status(dp["id"], "needs_response")
    # Submitting evidence through the API puts it under review.
    c = env.client.v1
    reviewed = c.disputes.update(
        dp["id"], params={"evidence": {"customer_name": "Jo"}, "submit": True}
    )
    assert reviewed.status == "under_review" and reviewed.evidence.customer_name == "Jo"
    won = env.control.dispute_status(dp["id"], "won")
    assert [t["amount"] for t in won["balance_transactions"]] == [-1500, 1500]
    assert _statuses(env) == [
        ("charge.dispute.created", "warning_needs_response"),
        ("charge.dispute.updated", "needs_response"),
        ("charge.dispute.funds_withdrawn", "needs_response"),
        ("charge.dispute.updated", "under_review"),
        ("charge.dispute.closed", "won"),
        ("charge.dispute.funds_reinstated", "won"),
    ]


def test_lost_by_accepting_and_prevented(env: Env) -> None:
    charge = _charge(env)
    dp = env.control.dispute(charge)
    assert dp["status"] == "needs_response"
    lost = env.client.v1.disputes.close(dp["id"])
    assert lost.status == "lost" and len(lost.balance_transactions) == 1
    with pytest.raises(stripe.InvalidRequestError):
        env.client.v1.disputes.close(dp["id"])
    assert _statuses(env) == [
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.funds_withdrawn", "needs_response"),
        ("charge.dispute.closed", "lost"),
    ]

    other = _charge(env)
    prevented = env.control.dispute(other, status="prevented")
    assert prevented["status"] == "prevented" and prevented["balance_transactions"] == []
    assert _statuses(env) == [
        ("charge.dispute.created", "prevented"),
        ("charge.dispute.closed", "prevented"),
    ]
