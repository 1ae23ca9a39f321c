"""The webhook processor on a real database: grants exactly once, subscription state never
goes back in time, refunds and disputes take back at most what was granted."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from credit_app import credits
from credit_app.billing import purchases
from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway
from credit_app.billing.webhooks import Facts, apply_event, process_event
from credit_app.db import session_scope
from credit_app.models import (
    CreditDrip,
    DripStatus,
    EventOutcome,
    Purchase,
    Shortfall,
    StripeEvent,
    UserSubscription,
    utcnow,
)
from tests import async_run
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.integration.conftest import balance

APPLIED, IGNORED, DUPLICATE = EventOutcome.APPLIED, EventOutcome.IGNORED, EventOutcome.DUPLICATE
DEFERRED, FAILED = EventOutcome.DEFERRED, EventOutcome.FAILED


def _stored(engine, event_id) -> StripeEvent:
    with session_scope(engine) as session:
        row = session.get(StripeEvent, event_id)
    assert row is not None
    return row


def _paid_invoice(engine, sub, amount=1200):
    inv = sp.invoice(sub, amount=amount)
    return apply_event(sp.event("invoice.paid", inv), Facts(subscription=sub), engine)


def test_each_paid_invoice_grants_once_whatever_the_duplicates(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    inv = sp.invoice(sub, amount=1200, reason="subscription_create")
    paid = sp.event("invoice.paid", inv)
    outcomes = [apply_event(paid, Facts(subscription=sub), engine) for _ in range(3)]
    assert [o.outcome for o in outcomes] == [APPLIED, DUPLICATE, DUPLICATE]
    # The same invoice reported by another event id still grants nothing more.
    again = apply_event(sp.event("invoice.paid", inv), Facts(subscription=sub), engine)
    assert again.outcome is DUPLICATE and "already granted" in again.detail
    assert _stored(engine, again.event_id).outcome == DUPLICATE
    assert balance(engine, user_id) == 100 + 1000
    with session_scope(engine) as session:
        row = session.get(UserSubscription, uuid.UUID(user_id))
        assert (row.plan_id, row.status) == ("pro_monthly", "active")


def test_concurrent_duplicate_deliveries_apply_once(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "business_monthly")
    paid = sp.event("invoice.paid", sp.invoice(sub, amount=4900))
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(
            pool.map(lambda _: apply_event(paid, Facts(subscription=sub), engine), range(6))
        )
    assert sorted(o.outcome for o in outcomes) == [APPLIED] + [DUPLICATE] * 5
    assert balance(engine, user_id) == 100 + 5000


def test_twelve_renewals_grant_twelve_times(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    for _ in range(12):
        _paid_invoice(engine, sub)
    assert balance(engine, user_id) == 100 + 12 * 1000


def test_a_yearly_invoice_grants_its_first_month_and_schedules_eleven(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_yearly")
    paid = sp.event("invoice.paid", sp.invoice(sub, amount=12000))
    for _ in range(2):  # a second delivery schedules and grants nothing more
        apply_event(paid, Facts(subscription=sub), engine)
    assert balance(engine, user_id) == 100 + 1000
    with session_scope(engine) as session:
        months = session.scalars(select(CreditDrip).order_by(col(CreditDrip.month))).all()
        assert [(m.month, m.credits, m.status) for m in months] == [
            (0, 1000, DripStatus.GRANTED),
            *[(n, 1000, DripStatus.PENDING) for n in range(1, 12)],
        ]


def test_a_failed_payment_marks_past_due_and_grants_nothing(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    _paid_invoice(engine, sub)
    past_due = {**sub, "status": "past_due"}
    inv = sp.invoice(past_due, amount=1200, paid=False)
    failed = sp.event("invoice.payment_failed", inv)
    assert apply_event(failed, Facts(subscription=past_due), engine).outcome is APPLIED
    # An unpaid invoice delivered as "paid" by mistake still grants nothing.
    unpaid = apply_event(sp.event("invoice.paid", inv), Facts(subscription=past_due), engine)
    assert unpaid.outcome is IGNORED
    assert balance(engine, user_id) == 1100
    with session_scope(engine) as session:
        assert session.get(UserSubscription, uuid.UUID(user_id)).status == "past_due"


def test_an_older_subscription_event_never_overwrites_a_newer_one(engine, buyer):
    user_id, customer = buyer
    now = int(time.time())
    active = sp.subscription(user_id, customer, "pro_monthly", sub_id="sub_order")
    canceling = {**active, "cancel_at_period_end": True}
    newer = sp.event("customer.subscription.updated", canceling, created=now + 10)
    older = sp.event("customer.subscription.updated", active, created=now)
    assert apply_event(newer, Facts(subscription=canceling), engine).outcome is APPLIED
    outcome = apply_event(older, Facts(subscription=active), engine)
    assert outcome.outcome is IGNORED and "older than the state" in outcome.detail
    assert _stored(engine, older["id"]).outcome == IGNORED
    with session_scope(engine) as session:
        assert session.get(UserSubscription, uuid.UUID(user_id)).cancel_at_period_end is True


def test_unknown_event_types_are_recorded_as_ignored(engine):
    outcome = apply_event(sp.event("radar.early_fraud_warning.created", {}), Facts(), engine)
    assert outcome.outcome is IGNORED
    row = _stored(engine, outcome.event_id)
    assert (row.outcome, row.attempts) == (IGNORED, 1)
    assert row.type == "radar.early_fraud_warning.created"


def test_pack_purchase_grants_once_and_refunds_take_back_proportionally(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    outcomes = [
        apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine).outcome
        for _ in range(2)
    ]
    assert outcomes == [APPLIED, DUPLICATE]
    assert balance(engine, user_id) == 600
    ch = sp.charge(checkout["payment_intent"], 500, refunded=250)
    assert apply_event(sp.event("charge.refunded", ch), Facts(), engine).outcome is APPLIED
    assert balance(engine, user_id) == 350
    # A later full refund takes the rest; replaying the half refund takes nothing more.
    full = sp.event("charge.refunded", {**ch, "amount_refunded": 500})
    assert apply_event(full, Facts(), engine).outcome is APPLIED
    assert apply_event(sp.event("charge.refunded", ch), Facts(), engine).outcome is DUPLICATE
    assert balance(engine, user_id) == 100


def test_a_refund_never_goes_below_zero_and_records_the_shortfall(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    with session_scope(engine) as session:
        credits.spend(
            session, user_id=uuid.UUID(user_id), amount=550, idempotency_key="s", feature="qr"
        )
    apply_event(
        sp.event("charge.refunded", sp.charge(checkout["payment_intent"], 500, 500)),
        Facts(),
        engine,
    )
    assert balance(engine, user_id) == 0
    with session_scope(engine) as session:
        assert session.scalars(select(Shortfall.credits)).all() == [450]
        assert credits.find_drift(session) == []


def test_a_dispute_takes_back_and_a_won_dispute_restores(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_2000")
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    ch = sp.charge(checkout["payment_intent"], 1500)
    dp = sp.dispute(ch)
    assert apply_event(sp.event("charge.dispute.created", dp), Facts(), engine).outcome is APPLIED
    assert balance(engine, user_id) == 100
    won = [
        apply_event(sp.event("charge.dispute.closed", {**dp, "status": "won"}), Facts(), engine)
        for _ in range(2)
    ]
    assert [o.outcome for o in won] == [APPLIED, DUPLICATE]
    assert balance(engine, user_id) == 2100


def test_a_lost_dispute_takes_back_even_if_its_created_event_was_lost(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    dp = sp.dispute(sp.charge(checkout["payment_intent"], 500), status="lost")
    apply_event(sp.event("charge.dispute.closed", dp), Facts(), engine)
    assert balance(engine, user_id) == 100


def test_a_refund_before_its_purchase_is_deferred_then_applied_when_delivered_again(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    refund = sp.event(
        "charge.refunded", sp.charge(checkout["payment_intent"], 500, 500, customer=customer)
    )
    deferred = apply_event(refund, Facts(), engine)
    assert (deferred.outcome, deferred.final) == (DEFERRED, False)
    assert "no purchase recorded yet" in deferred.detail
    row = _stored(engine, refund["id"])
    assert (row.outcome, row.attempts, row.error) == (DEFERRED, 1, None)
    assert json.loads(row.payload) == refund  # kept whole, for replay
    assert balance(engine, user_id) == 100  # nothing applied

    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    assert balance(engine, user_id) == 600
    # A replay (or the sync) claims the deferred row again and applies it once.
    assert apply_event(refund, Facts(), engine).outcome is APPLIED
    assert apply_event(refund, Facts(), engine).outcome is DUPLICATE
    assert balance(engine, user_id) == 100
    row = _stored(engine, refund["id"])
    assert (row.outcome, row.attempts, row.error) == (APPLIED, 2, None)
    assert row.updated_at > row.received_at


def test_invoice_paid_before_checkout_completed_still_finds_the_user(engine):
    user_id = str(make_user(engine))  # no customer id stored yet
    sub = sp.subscription(user_id, sp.new_id("cus"), "pro_monthly")
    _paid_invoice(engine, sub)
    assert balance(engine, user_id) == 1100


# PostgreSQL only: SQLite runs write transactions one at a time, so nothing interleaves.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_refund_and_a_dispute_at_once_take_back_at_most_the_purchase(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    ch = sp.charge(checkout["payment_intent"], 500)
    with session_scope(engine) as session:
        purchase = session.scalar(select(Purchase))
        # The half refund is applied but not yet committed when the dispute arrives.
        purchases.clawback_refund(session, purchase, {**ch, "amount_refunded": 250})
        with ThreadPoolExecutor(1) as pool:
            dispute = pool.submit(
                apply_event, sp.event("charge.dispute.created", sp.dispute(ch)), Facts(), engine
            )
            _wait_until_a_transaction_waits_for_a_lock(engine)
            session.commit()  # lets the dispute go on
        dispute.result(timeout=30)
    assert balance(engine, user_id) == 100  # 600 - 250 - 250: never more than the 500
    with session_scope(engine) as session:
        assert session.scalars(select(Shortfall)).all() == []


def _wait_until_a_transaction_waits_for_a_lock(engine, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first")


def test_an_invoice_grants_the_plan_it_billed_even_after_an_upgrade(engine, buyer):
    user_id, customer = buyer
    upgraded = sp.subscription(user_id, customer, "business_monthly")
    pro = sp.price("pro_monthly")
    billed_pro = sp.invoice(upgraded, amount=1200, lines=[sp.line(pro["id"], 1200)])
    apply_event(
        sp.event("invoice.paid", billed_pro),
        Facts(subscription=upgraded, invoice_prices={pro["id"]: pro}),
        engine,
    )
    assert balance(engine, user_id) == 100 + 1000


def test_a_won_dispute_arriving_first_means_its_created_event_takes_nothing(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    dp = sp.dispute(sp.charge(checkout["payment_intent"], 500))
    won_now = {**dp, "status": "won"}
    apply_event(sp.event("charge.dispute.closed", won_now), Facts(dispute=won_now), engine)
    apply_event(sp.event("charge.dispute.created", dp), Facts(dispute=won_now), engine)
    assert balance(engine, user_id) == 600


def test_a_long_unmatched_refund_is_recorded_as_not_ours(engine):
    old = sp.event(
        "charge.refunded", sp.charge(sp.new_id("pi"), 500, 500), created=int(time.time()) - 7 * 3600
    )
    outcome = apply_event(old, Facts(), engine)
    assert outcome.outcome is IGNORED and "no purchase of ours" in outcome.detail


SEVEN_HOURS_AGO = -7 * 3600


def _old_refund(payment_intent: str, amount: int = 500) -> dict:
    """A refund older than DEFER_AT_MOST, for a payment we have not recorded."""
    return sp.event(
        "charge.refunded",
        sp.charge(payment_intent, amount, amount),
        created=int(time.time()) + SEVEN_HOURS_AGO,
    )


def test_an_old_refund_waits_while_its_invoice_paid_event_is_failed(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    paid = sp.event("invoice.paid", sp.invoice(sub, amount=1200))
    without_items = {key: value for key, value in sub.items() if key != "items"}
    assert apply_event(paid, Facts(subscription=without_items), engine).outcome is FAILED
    refund = _old_refund(sp.new_id("pi"), 1200)
    # The invoice the refunded payment paid (what Fetch.PAYMENT_INVOICE finds).
    facts = Facts(invoice_id=paid["data"]["object"]["id"])

    waiting = apply_event(refund, facts, engine)
    assert waiting.outcome is DEFERRED  # not "not ours": its payment's event is failed
    assert paid["id"] in waiting.detail and "replay it first" in waiting.detail
    # Replayed in Stripe's order: the payment, then the refund.
    assert apply_event(paid, Facts(subscription=sub), engine).outcome is APPLIED
    assert balance(engine, user_id) == 1100
    assert apply_event(refund, facts, engine).outcome is APPLIED
    assert balance(engine, user_id) == 100


def test_an_old_refund_waits_while_its_pack_checkout_event_is_not_applied(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    completed = sp.event("checkout.session.completed", checkout)
    with session_scope(engine) as session:  # as a failed attempt records it
        session.add(
            StripeEvent(
                id=completed["id"],
                type=completed["type"],
                stripe_created=utcnow(),
                outcome=FAILED,
                error="OperationalError: the database went away",
                payload=json.dumps(completed),
            )
        )
    refund = _old_refund(checkout["payment_intent"])
    assert apply_event(refund, Facts(), engine).outcome is DEFERRED
    assert apply_event(completed, Facts(), engine).outcome is APPLIED
    assert apply_event(refund, Facts(), engine).outcome is APPLIED
    assert balance(engine, user_id) == 100


def test_an_old_refund_is_not_ours_whatever_else_is_unfinished(engine, buyer):
    user_id, customer = buyer
    payment_intent = sp.new_id("pi")
    # A failed checkout naming a payment intent that LIKE's `_` wildcard would match...
    lookalike = sp.pack_checkout(user_id, customer, "pack_500")
    lookalike["payment_intent"] = payment_intent.replace("_", "X")
    with session_scope(engine) as session:
        event = sp.event("checkout.session.completed", lookalike)
        session.add(
            StripeEvent(
                id=event["id"],
                type=event["type"],
                stripe_created=utcnow(),
                outcome=FAILED,
                payload=json.dumps(event),
            )
        )
    # ...and another refund of the same payment, of our customer's, deferred: neither
    # records a purchase.
    young = sp.event("charge.refunded", sp.charge(payment_intent, 500, 500, customer=customer))
    assert apply_event(young, Facts(), engine).outcome is DEFERRED
    outcome = apply_event(_old_refund(payment_intent), Facts(), engine)
    assert outcome.outcome is IGNORED and "no purchase of ours" in outcome.detail


@pytest.mark.parametrize("app_livemode", [False, True])
def test_an_event_from_the_other_stripe_mode_is_recorded_as_ignored(engine, buyer, app_livemode):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    other_mode = {**sp.event("checkout.session.completed", checkout), "livemode": not app_livemode}
    # Nothing is fetched for a refused event, so the gateway is never called.
    gateway = StripeGateway(StripeConfig(secret_key="sk_test_unused", webhook_secret="whsec_x"))

    def process(event):
        return async_run.run(process_event(gateway, event, livemode=app_livemode, engine=engine))

    first, again = process(other_mode), process(other_mode)
    assert "livemode=" in first.detail
    assert (first.outcome, again.outcome) == (IGNORED, DUPLICATE)
    assert balance(engine, user_id) == 100
    assert _stored(engine, other_mode["id"]).outcome == IGNORED
    # The same purchase announced in this app's own mode is granted.
    same_mode = {**sp.event("checkout.session.completed", checkout), "livemode": app_livemode}
    assert process(same_mode).outcome is APPLIED
    assert balance(engine, user_id) == 600
