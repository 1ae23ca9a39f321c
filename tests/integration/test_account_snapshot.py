"""What every signed-in page shows (billing.account), read from a real database with no
browser: balance and what is available, the plan that applies, a failed payment, the latest
ledger entries."""

import uuid
from datetime import timedelta

import pytest

from credit_app import credits
from credit_app.billing.account import load_account
from credit_app.billing.subscriptions import apply_subscription
from credit_app.db import session_scope
from credit_app.models import GrantSource, User, utcnow
from tests import stripe_payloads as sp
from tests.async_run import run
from tests.factories import make_user


def _snapshot(engine, user_id, **kwargs):
    return run(load_account(user_id, engine=engine, **kwargs))


def _subscribe(engine, user_id, plan_id, status, **kwargs):
    customer = sp.new_id("cus")
    with session_scope(engine) as session:
        session.get(User, user_id).stripe_customer_id = customer
        sub = sp.subscription(str(user_id), customer, plan_id, status=status, **kwargs)
        apply_subscription(session, sub, seen_at=utcnow())


def _grant(engine, user_id, amount, description):
    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=f"test:{uuid.uuid4()}",
            source=GrantSource.ADMIN,
            description=description,
        )


def test_a_new_account_has_its_balance_the_free_plan_and_its_welcome_grant(engine):
    user_id = make_user(engine, initial_credits=100)
    snapshot = _snapshot(engine, user_id, low_balance_below=20)
    assert (snapshot.name, snapshot.balance, snapshot.available) == ("Test User", 100, 100)
    assert (snapshot.plan_id, snapshot.plan_name, snapshot.plan_rank) == ("free", "Free", 0)
    assert (snapshot.subscription_status, snapshot.period_end) == ("", None)
    assert not snapshot.payment_failed and not snapshot.subscription_ended
    assert not snapshot.low_balance and not snapshot.has_billing_account
    assert [(e.kind, e.delta, e.description) for e in snapshot.recent] == [
        ("grant", 100, "Welcome credits")
    ]


def test_recent_entries_are_the_newest_first_up_to_the_limit(engine):
    user_id = make_user(engine, initial_credits=100)
    for n in range(1, 13):
        _grant(engine, user_id, n, f"grant {n}")
    snapshot = _snapshot(engine, user_id)
    assert snapshot.balance == 100 + sum(range(1, 13))
    assert [e.description for e in snapshot.recent] == [f"grant {n}" for n in range(12, 2, -1)]
    assert [e.delta for e in _snapshot(engine, user_id, recent=2).recent] == [12, 11]


def test_held_credits_are_not_available_and_can_make_the_balance_low(engine):
    user_id = make_user(engine, initial_credits=30)
    with session_scope(engine) as session:
        credits.reserve(
            session, user_id=user_id, amount=15, idempotency_key="test:hold", feature="report"
        )
    snapshot = _snapshot(engine, user_id, low_balance_below=20)
    assert (snapshot.balance, snapshot.available, snapshot.low_balance) == (30, 15, True)
    assert not _snapshot(engine, user_id, low_balance_below=15).low_balance


@pytest.mark.parametrize(
    ("status", "plan", "failed", "ended"),
    [
        ("active", ("pro_monthly", "Pro"), False, False),
        ("trialing", ("pro_monthly", "Pro"), False, False),
        # A renewal failed: the plan stays for now, the person is told to fix the card.
        ("past_due", ("pro_monthly", "Pro"), True, False),
        ("unpaid", ("free", "Free"), True, False),
        ("canceled", ("free", "Free"), False, True),
    ],
)
def test_the_subscription_status_decides_the_plan_and_the_warnings(
    engine, status, plan, failed, ended
):
    user_id = make_user(engine)
    period_end = utcnow() + timedelta(days=30)
    _subscribe(engine, user_id, "pro_monthly", status, period_end=int(period_end.timestamp()))
    snapshot = _snapshot(engine, user_id)
    assert (snapshot.plan_id, snapshot.plan_name) == plan
    assert snapshot.subscription_status == status
    assert (snapshot.payment_failed, snapshot.subscription_ended) == (failed, ended)
    assert snapshot.has_billing_account
    assert snapshot.period_end is not None
    assert abs(snapshot.period_end - period_end) < timedelta(seconds=1)


def test_a_subscription_set_to_cancel_says_so(engine):
    user_id = make_user(engine)
    _subscribe(engine, user_id, "business_monthly", "active", cancel_at_period_end=True)
    snapshot = _snapshot(engine, user_id)
    assert (snapshot.plan_id, snapshot.plan_name) == ("business_monthly", "Business")
    assert snapshot.cancel_at_period_end and snapshot.plan_rank > 0
    assert not snapshot.subscription_ended


def test_an_unknown_user_has_no_snapshot(engine):
    with pytest.raises(credits.UnknownUser):
        _snapshot(engine, uuid.uuid4())
