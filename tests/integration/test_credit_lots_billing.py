"""Issue #11 through the Stripe sandbox over real HTTP, on SQLite and PostgreSQL: a yearly
plan's credits drip monthly (exactly 12 grants across 13 months of the application
clock) and a refund mid-year takes back the refunded share of what was delivered and
scales the months to come; pack credits survive an upgrade, a downgrade and a
cancellation while plan credits expire at the end of their period."""

import uuid
from datetime import timedelta

import pytest
import stripe
from sqlalchemy import select
from sqlmodel import col

from credit_app import credits
from credit_app.billing import drip
from credit_app.db import session_scope
from credit_app.models import (
    CheckoutRecord,
    CreditDrip,
    CreditLot,
    EntryKind,
    GrantSource,
    LedgerEntry,
    Purchase,
    Shortfall,
)
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _stripe(app: BillingServer) -> stripe.StripeClient:
    return stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})


def _entries(app: BillingServer, user: uuid.UUID, prefix: str) -> list[tuple[str, int]]:
    with session_scope(app.engine) as session:
        rows = session.execute(
            select(col(LedgerEntry.idempotency_key), col(LedgerEntry.delta))
            .where(
                col(LedgerEntry.user_id) == user,
                col(LedgerEntry.idempotency_key).startswith(prefix),
            )
            .order_by(col(LedgerEntry.id))
        ).all()
    return [(key, delta) for key, delta in rows]


def _reconciled(app: BillingServer) -> None:
    with session_scope(app.engine) as session:
        assert credits.find_drift(session) == []
        assert credits.find_hold_drift(session) == []
        assert credits.find_lot_drift(session) == []


def _run_jobs(app: BillingServer, now) -> None:
    """What the app's minute task does at `now`, twice (a second run changes nothing)."""
    for _ in range(2):
        drip.grant_due(now=now, engine=app.engine)
        credits.expire_lots(now=now, engine=app.engine)


def test_a_yearly_plan_drips_twelve_months_and_a_refund_mid_year_scales_the_rest(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_yearly")
    with session_scope(app.engine) as session:
        purchase = session.scalars(select(Purchase).where(col(Purchase.user_id) == user)).one()
        months = session.scalars(
            select(CreditDrip).where(col(CreditDrip.user_id) == user).order_by(CreditDrip.month)
        ).all()
        start = months[0].due_at
    prefix = f"stripe:invoice:{purchase.stripe_invoice_id}"
    assert _entries(app, user, prefix) == [(prefix, 1000)]

    # Months 2..6 arrive as the application clock passes each month's date.
    for month in range(1, 6):
        _run_jobs(app, drip.add_months(start, month) + timedelta(hours=1))
    assert [delta for _, delta in _entries(app, user, prefix)] == [1000] * 6

    # Half the year's payment refunded after six months delivered: of the 6,000 delivered
    # the person keeps 3,000. Earlier months have expired unspent, so what cannot be taken
    # from live credits is recorded as a shortfall; the take-back is 3,000 either way.
    client = _stripe(app)
    with session_scope(app.engine) as session:
        record = session.scalar(select(CheckoutRecord).where(CheckoutRecord.user_id == user))
    invoice = client.v1.checkout.sessions.retrieve(record.id).invoice
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice}).data
    client.v1.refunds.create(
        params={"payment_intent": payment.payment.payment_intent, "amount": 6000}
    )
    app.wait_idle()
    with session_scope(app.engine) as session:
        clawed = session.scalars(
            select(LedgerEntry).where(
                col(LedgerEntry.user_id) == user, col(LedgerEntry.kind) == EntryKind.CLAWBACK
            )
        ).all()
        short = session.scalars(select(Shortfall).where(col(Shortfall.user_id) == user)).all()
        assert -sum(e.delta for e in clawed) + sum(s.credits for s in short) == 3000

    # The rest of the year at half, then a thirteenth month grants nothing more.
    for month in range(6, 13):
        _run_jobs(app, drip.add_months(start, month) + timedelta(hours=1))
    grants = _entries(app, user, prefix)
    assert len(grants) == 12
    assert [delta for _, delta in grants] == [1000] * 6 + [500] * 6
    assert len({key for key, _ in grants}) == 12
    _reconciled(app)


def _lots(app: BillingServer, user: uuid.UUID) -> dict[str, int]:
    with session_scope(app.engine) as session:
        totals: dict[str, int] = {}
        for lot in session.scalars(select(CreditLot).where(col(CreditLot.user_id) == user)):
            totals[lot.source] = totals.get(lot.source, 0) + lot.remaining
        return totals


def test_pack_credits_survive_upgrade_downgrade_and_cancellation(app):
    user = make_user(app.engine)
    app.checkout(user, "pack_500")
    app.checkout(user, "pro_monthly")
    assert _lots(app, user)[GrantSource.PACK] == 500
    assert _lots(app, user)[GrantSource.SUBSCRIPTION] == 1000

    # Spends take the plan credits (expiring) before the pack's (never expiring).
    with session_scope(app.engine) as session:
        credits.spend(session, user_id=user, amount=300, idempotency_key="k1", feature="qr")
    assert _lots(app, user)[GrantSource.PACK] == 500

    app.change_plan(user, "business_monthly")  # an upgrade: prorated credits arrive
    assert _lots(app, user)[GrantSource.PACK] == 500
    app.change_plan(user, "pro_monthly")  # a downgrade, scheduled for the period end
    app.advance(user)  # the renewal on the lower plan
    assert _lots(app, user)[GrantSource.PACK] == 500
    with session_scope(app.engine) as session:
        sub = app.subscription(user)
        assert sub is not None
    _stripe(app).v1.subscriptions.cancel(sub.stripe_subscription_id)
    app.wait_idle()
    assert app.subscription(user).status == "canceled"

    # Long after: every plan lot has expired, the pack's credits are all still there.
    with session_scope(app.engine) as session:
        latest = max(
            lot.expires_at
            for lot in session.scalars(select(CreditLot).where(col(CreditLot.user_id) == user))
            if lot.expires_at is not None
        )
    _run_jobs(app, latest + timedelta(days=70))
    lots = _lots(app, user)
    assert lots[GrantSource.PACK] == 500
    assert lots[GrantSource.SUBSCRIPTION] == 0
    assert app.balance(user) == 500
    _reconciled(app)
