"""Upgrade safety across the grant-rule change, with stripe-sync (issue #10): a database at
revision 0007 holds a grant made under the old scheme (ledger key `stripe:invoice:<id>` and
a purchase row, no lines) for an invoice Stripe still lists; after upgrading it to head,
`stripe-sync` over Stripe's events (that invoice's `invoice.paid` among them) records the
invoice as a duplicate and grants nothing twice, and `stripe-check` finds the old grant
equal to what the invoice bills.

The sandbox makes its own invoice ids, so the subscription is bought first (the embedded
sandbox's app writes to a scratch database), then the old database is made at 0007 with
that invoice granted by the old scheme, upgraded, and synced against the same sandbox."""

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from credit_app import credits, migrations
from credit_app.billing import sync
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.credits import keys
from credit_app.db import make_engine, session_scope
from credit_app.models import EventOutcome, LedgerEntry, PurchaseLine, StripeEvent, User
from tests import async_run
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve
from tests.integration.conftest import database_at

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _populate_0007(url: str, *, user: uuid.UUID, customer: str, invoice: str, sub: str) -> None:
    """The subscriber, granted Pro's 1,000 credits for `invoice` by the old rule: the
    ledger entry under the invoice's key and a purchase row (0007 has no purchase lines)."""
    uid = str(user) if url.startswith("postgres") else user.hex
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO subscription_plans (id, name, kind, rank, description, "
                    "price, currency, credits_granted, interval, lookup_key, active) "
                    "VALUES ('pro_monthly', 'Pro', 'subscription', 0, '', 1200, 'usd', 1000, "
                    "'month', 'pro_monthly', true)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, email_key, name, password_hash, role, "
                    "stripe_customer_id, credits, held, created_at, email_verified_at) VALUES "
                    "(:id, 'old@example.com', 'old@example.com', 'Old', 'x', 'user', :cus, "
                    "1100, 0, :at, :at)"
                ),
                {"id": uid, "cus": customer, "at": AT},
            )
            for key, delta, after, source in (
                (f"signup:{user}", 100, 100, "signup"),
                (keys.invoice_grant(invoice), 1000, 1100, "subscription"),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO ledger_entries (user_id, kind, source, delta, "
                        "balance_after, idempotency_key, created_at) VALUES "
                        "(:user, 'grant', :source, :delta, :after, :key, :at)"
                    ),
                    {
                        "user": uid,
                        "source": source,
                        "delta": delta,
                        "after": after,
                        "key": key,
                        "at": AT,
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO purchases (user_id, plan_id, stripe_invoice_id, "
                    "stripe_payment_intent_id, stripe_subscription_id, amount_paid, currency, "
                    "credits_granted, created_at) VALUES (:user, 'pro_monthly', :invoice, "
                    "NULL, :sub, 1200, 'usd', 1000, :at)"
                ),
                {"user": uid, "invoice": invoice, "sub": sub, "at": AT},
            )
    finally:
        engine.dispose()


def _sync(app: BillingServer, engine: sa.Engine) -> sync.SyncReport:
    gateway = StripeGateway(app.gateway.config)
    return async_run.run(sync.sync_events(gateway, livemode=False, engine=engine))


def test_an_invoice_granted_before_the_upgrade_is_a_duplicate_for_stripe_sync(
    app, database_url, tmp_path
):
    # In Stripe: a Pro subscriber with one paid invoice (and its events, kept 30 days).
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    with session_scope(app.engine) as session:
        customer = session.get(User, user).stripe_customer_id
    gateway = StripeGateway(app.gateway.config)
    (invoice,) = async_run.run(gateway.paid_invoices(sub_id))

    kind = "postgres" if database_url.startswith("postgres") else "sqlite"
    with database_at(kind, "0007", tmp_path) as old_url:
        _populate_0007(old_url, user=user, customer=customer, invoice=invoice["id"], sub=sub_id)
        migrations.upgrade(old_url)  # to head, plans synced as the app does
        old = make_engine(old_url)
        try:
            with session_scope(old) as session:
                (line,) = session.scalars(sa.select(PurchaseLine)).all()
                assert (line.plan_id, line.credits) == ("pro_monthly", 1000)

            report = _sync(app, old)
            outcomes = {o.type: o for o in report.processed}
            paid = outcomes["invoice.paid"]
            assert paid.outcome is EventOutcome.DUPLICATE
            assert paid.detail.startswith(f"already granted ({keys.invoice_grant(invoice['id'])})")
            assert report.unfinished == []
            with session_scope(old) as session:
                assert credits.balance(session, user_id=user) == 1100
                entries = session.scalars(
                    sa.select(LedgerEntry.idempotency_key).where(LedgerEntry.user_id == user)
                ).all()
                assert sorted(entries) == sorted(
                    [f"signup:{user}", keys.invoice_grant(invoice["id"])]
                )
                assert credits.find_drift(session) == []
                row = session.scalar(
                    sa.select(StripeEvent).where(StripeEvent.type == "invoice.paid")
                )
                assert row.outcome == EventOutcome.DUPLICATE

            # Run again: everything is final, nothing granted.
            again = _sync(app, old)
            assert again.processed == [] and again.replayed == []
            assert again.already == again.listed == report.listed
            with session_scope(old) as session:
                assert credits.balance(session, user_id=user) == 1100

            # And the old grant is what the invoice bills by the new rule.
            checked, differences = async_run.run(
                sync.check_grants(StripeGateway(app.gateway.config), engine=old)
            )
            assert (checked, differences) == (1, [])
        finally:
            old.dispose()
