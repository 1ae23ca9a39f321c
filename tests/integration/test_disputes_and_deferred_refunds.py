"""What each dispute status does to the credits of the disputed payment (acted on as
Stripe reports it *now*, re-fetched, whichever of its events arrives), early fraud
warnings, and refunds that arrive before their payment: ours wait (answered 2xx,
recorded as deferred) until the payment is recorded or a replay completes them; another
product's are ignored at once. Events go through `process_event`, signed and verified."""

import time
import uuid

import pytest
from sqlalchemy import select
from sqlmodel import col

from credit_app import credits
from credit_app.admin import audit
from credit_app.admin import shortfalls as shortfall_service
from credit_app.billing.webhooks import Facts, apply_event, replay_event
from credit_app.db import session_scope
from credit_app.models import EventOutcome, GrantSource, Shortfall, StripeEvent, utcnow
from tests import async_run
from tests import stripe_payloads as sp
from tests.integration.conftest import balance
from tests.integration.test_credits_follow_money import (
    Customer,
    StripeAPI,
    deliver,
    deliver_shuffled,
)

APPLIED, IGNORED, DUPLICATE = EventOutcome.APPLIED, EventOutcome.IGNORED, EventOutcome.DUPLICATE
DEFERRED = EventOutcome.DEFERRED
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)


def _bought_pack(engine, api, user_id, customer, plan_id="pack_2000") -> dict:
    checkout = sp.pack_checkout(user_id, customer, plan_id)
    assert deliver(engine, api, sp.event("checkout.session.completed", checkout)).outcome is APPLIED
    return checkout


def _dispute(api: StripeAPI, checkout: dict, status: str) -> dict:
    dp = sp.dispute(sp.charge(checkout["payment_intent"], checkout["amount_total"]), status)
    api.disputes[dp["id"]] = dp
    return dp


def _now(api: StripeAPI, dp: dict, status: str) -> dict:
    """The dispute as Stripe reports it from now on."""
    api.disputes[dp["id"]] = {**dp, "status": status}
    return api.disputes[dp["id"]]


@pytest.mark.parametrize(
    ("status", "left"),
    [
        # Inquiries: no money moved, nothing taken.
        ("warning_needs_response", 2100),
        ("warning_under_review", 2100),
        ("warning_closed", 2100),
        # A chargeback, lost, or appealed after it was lost: the money is withdrawn.
        ("needs_response", 100),
        ("under_review", 100),
        ("lost", 100),
        ("appeal_needs_response", 100),
        ("appeal_under_review", 100),
        # Visa RDR refunded the cardholder before a chargeback: the money went back.
        ("prevented", 100),
        # Won (the money came back to us): nothing is held back.
        ("won", 2100),
    ],
)
def test_each_dispute_status(engine, buyer, status, left):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = _bought_pack(engine, api, user_id, customer)
    dp = _dispute(api, checkout, status)
    events = [sp.event(kind, dp) for kind in DISPUTE_EVENTS]
    outcomes = deliver_shuffled(engine, api, events)
    assert balance(engine, user_id) == left
    if status.startswith("warning_"):
        assert {o.outcome for o in outcomes} <= {IGNORED, DUPLICATE}
        assert any("no money moved" in o.detail for o in outcomes)


def test_an_inquiry_then_a_chargeback_then_won_follows_the_current_status(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = _bought_pack(engine, api, user_id, customer)
    dp = _dispute(api, checkout, "warning_needs_response")
    assert deliver(engine, api, sp.event("charge.dispute.created", dp)).outcome is IGNORED
    assert balance(engine, user_id) == 2100
    # It became a chargeback: charge.dispute.updated, acted on as re-fetched.
    _now(api, dp, "needs_response")
    updated = deliver(engine, api, sp.event("charge.dispute.updated", dp))
    assert updated.outcome is APPLIED and "took back 2000" in updated.detail
    assert balance(engine, user_id) == 100
    _now(api, dp, "under_review")
    assert deliver(engine, api, sp.event("charge.dispute.updated", dp)).outcome is DUPLICATE
    won = _now(api, dp, "won")
    assert deliver(engine, api, sp.event("charge.dispute.closed", won)).outcome is APPLIED
    assert deliver(engine, api, sp.event("charge.dispute.funds_reinstated", won)).outcome is (
        DUPLICATE
    )
    assert balance(engine, user_id) == 2100


def test_a_lost_dispute_appealed_stays_taken_until_won(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = _bought_pack(engine, api, user_id, customer)
    dp = _dispute(api, checkout, "lost")
    deliver(engine, api, sp.event("charge.dispute.closed", dp))
    for status in ("appeal_needs_response", "appeal_under_review"):
        _now(api, dp, status)
        assert deliver(engine, api, sp.event("charge.dispute.updated", dp)).outcome is DUPLICATE
        assert balance(engine, user_id) == 100
    _now(api, dp, "won")
    assert deliver(engine, api, sp.event("charge.dispute.updated", dp)).outcome is APPLIED
    assert balance(engine, user_id) == 2100


def test_a_prevented_dispute_and_its_refund_take_back_once(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = _bought_pack(engine, api, user_id, customer)
    dp = _dispute(api, checkout, "prevented")
    refund = sp.event(
        "charge.refunded", sp.charge(checkout["payment_intent"], 2800, 2800, customer=customer)
    )
    outcomes = deliver_shuffled(engine, api, [sp.event("charge.dispute.closed", dp), refund])
    assert balance(engine, user_id) == 100  # 2,000 taken back, not 4,000
    assert sum(o.outcome is APPLIED for o in outcomes) == 1


def test_an_unknown_dispute_status_changes_nothing(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = _bought_pack(engine, api, user_id, customer)
    dp = _dispute(api, checkout, "something_new")
    outcome = deliver(engine, api, sp.event("charge.dispute.updated", dp))
    assert outcome.outcome is IGNORED and "'something_new'" in outcome.detail
    assert balance(engine, user_id) == 2100


def test_a_subscription_payment_disputed_takes_back_what_its_invoice_granted(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "business_monthly")
    inv = sub.first_invoice()
    deliver(engine, api, sp.event("invoice.paid", inv))
    charge = sp.charge(sp.new_id("pi"), 4900, customer=customer)

    async def paid_invoice(_payment_intent):
        return inv["id"]

    api.invoice_for_payment_intent = paid_invoice
    dp = sp.dispute(charge, "needs_response")
    api.disputes[dp["id"]] = dp
    assert deliver(engine, api, sp.event("charge.dispute.created", dp)).outcome is APPLIED
    assert balance(engine, user_id) == 100


def test_an_early_fraud_warning_takes_nothing(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = _bought_pack(engine, api, user_id, customer)
    warning = {
        "id": sp.new_id("issfr"),
        "object": "radar.early_fraud_warning",
        "actionable": True,
        "charge": sp.new_id("ch"),
        "payment_intent": checkout["payment_intent"],
        "fraud_type": "made_with_stolen_card",
        "livemode": False,
    }
    for kind in ("radar.early_fraud_warning.created", "radar.early_fraud_warning.updated"):
        assert deliver(engine, api, sp.event(kind, warning)).outcome is IGNORED
    assert balance(engine, user_id) == 2100


# --- refunds before their payment -------------------------------------------------------


def _refund(checkout: dict, customer: str | None, *, created: int | None = None) -> dict:
    amount = checkout["amount_total"]
    return sp.event(
        "charge.refunded",
        sp.charge(checkout["payment_intent"], amount, amount, customer=customer),
        created=created,
    )


def test_our_refund_before_its_payment_waits_then_completes_when_the_payment_lands(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    # Days old: deferred all the same (it is our customer's), never dropped.
    refund = _refund(checkout, customer, created=int(time.time()) - 5 * 86400)
    waiting = deliver(engine, api, refund)
    assert (waiting.outcome, waiting.final) == (DEFERRED, False)
    assert "no purchase recorded yet" in waiting.detail
    assert deliver(engine, api, refund).outcome is DEFERRED
    assert balance(engine, user_id) == 100
    # The payment's event lands: the waiting refund is completed with it.
    paid = deliver(engine, api, sp.event("checkout.session.completed", checkout))
    assert paid.outcome is APPLIED and paid.user_ids == (user_id,)
    with session_scope(engine) as session:
        row = session.get(StripeEvent, refund["id"])
        assert (row.outcome, row.attempts) == (APPLIED, 3)
    assert balance(engine, user_id) == 100  # granted 500, refunded in full


def test_our_refund_before_its_payment_is_completed_by_replay(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    refund = _refund(checkout, customer)
    assert deliver(engine, api, refund).outcome is DEFERRED
    # The payment recorded by a path that does not look for waiting refunds.
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    assert balance(engine, user_id) == 600
    replayed = async_run.run(replay_event(api, refund["id"], engine=engine))
    assert replayed.outcome is APPLIED
    assert async_run.run(replay_event(api, refund["id"], engine=engine)).outcome is DUPLICATE
    assert balance(engine, user_id) == 100


def test_a_refund_by_metadata_alone_is_ours_and_waits(engine, buyer):
    user_id, _ = buyer
    api = StripeAPI()
    charge = sp.charge(sp.new_id("pi"), 800, 800)
    charge["metadata"] = {"user_id": user_id, "plan_id": "pack_500"}
    assert deliver(engine, api, sp.event("charge.refunded", charge)).outcome is DEFERRED


@pytest.mark.parametrize("customer", [None, "cus_someone_else"])
def test_a_refund_of_another_products_charge_is_ignored_at_once(engine, buyer, customer):
    api = StripeAPI()
    checkout = sp.pack_checkout(buyer[0], buyer[1], "pack_500")
    outcome = deliver(engine, api, _refund(checkout, customer))
    assert outcome.outcome is IGNORED and "no purchase of ours" in outcome.detail


def test_a_young_dispute_of_an_unknown_payment_waits_an_old_one_is_not_ours(engine, buyer):
    api = StripeAPI()
    checkout = sp.pack_checkout(buyer[0], buyer[1], "pack_500")
    young = _dispute(api, checkout, "needs_response")
    young_event = sp.event("charge.dispute.created", young)
    assert deliver(engine, api, young_event).outcome is DEFERRED
    old = _dispute(api, checkout, "needs_response")
    aged = sp.event("charge.dispute.created", old, created=int(time.time()) - 7 * 3600)
    assert deliver(engine, api, aged).outcome is IGNORED
    # A dispute names no customer, but it names the payment the checkout names: the
    # young one is completed when that checkout lands; the old one stays ignored.
    landed = deliver(engine, api, sp.event("checkout.session.completed", checkout))
    assert landed.outcome is APPLIED
    with session_scope(engine) as session:
        assert session.get(StripeEvent, young_event["id"]).outcome == APPLIED
        assert session.get(StripeEvent, aged["id"]).outcome == IGNORED
    assert balance(engine, buyer[0]) == 100  # 500 granted, 500 taken back by the dispute


def test_a_won_dispute_cancels_its_shortfall_and_gives_back_what_recovery_took(engine, buyer):
    """The pack's credits were spent, so the chargeback left a shortfall an operator chose
    to recover from the next paid grant; then the dispute is won: nothing is owed, the
    shortfall is cancelled and the recovered credits come back."""
    user_id, customer = buyer
    user = uuid.UUID(user_id)
    api = StripeAPI()
    checkout = _bought_pack(engine, api, user_id, customer)
    with session_scope(engine) as session:
        credits.spend(session, user_id=user, amount=2050, idempotency_key="all-in", feature="qr")
    dp = _dispute(api, checkout, "needs_response")
    assert deliver(engine, api, sp.event("charge.dispute.created", dp)).outcome is APPLIED
    assert balance(engine, user_id) == 0  # 50 taken, 1,950 short
    with session_scope(engine) as session:
        shortfall = session.scalars(select(Shortfall).where(col(Shortfall.user_id) == user)).one()
        assert shortfall.credits == 1950
        shortfall_service.recover(
            session, actor=audit.Actor.cli(), shortfall_id=shortfall.id, reason="r", now=utcnow()
        )
        credits.grant(
            session,
            user_id=user,
            amount=500,
            idempotency_key="stripe:payment:pi_next",
            source=GrantSource.PACK,
        )
    assert balance(engine, user_id) == 0  # all 500 recovered

    won = _now(api, dp, "won")
    assert deliver(engine, api, sp.event("charge.dispute.closed", won)).outcome is APPLIED
    # The 50 the dispute took and the 500 recovery took come back; nothing more is owed.
    assert balance(engine, user_id) == 550
    with session_scope(engine) as session:
        row = session.get(Shortfall, shortfall.id)
        assert (row.status, row.recovered) == ("cancelled", 500)
        assert credits.find_drift(session) == [] and credits.find_lot_drift(session) == []
        credits.grant(
            session,
            user_id=user,
            amount=100,
            idempotency_key="stripe:payment:pi_after",
            source=GrantSource.PACK,
        )
    assert balance(engine, user_id) == 650  # no more recovery
