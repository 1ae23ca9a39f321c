"""Upgrading a database populated at 0007 to 0008 (purchase lines): every existing purchase
gets one line with its plan and credits, and grants made under the old rule are
recognised by the new one: the same invoice's events arriving after the upgrade grant
nothing more (the ledger key `stripe:invoice:<id>` is the same under both rules), and a
refund or dispute of an old purchase takes back what it granted."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app import credits, migrations
from credit_app.credits import keys
from credit_app.db import make_engine, session_scope
from credit_app.migrations import alembic_config
from credit_app.models import EventOutcome, GrantSource, LedgerEntry, PurchaseLine, User
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.integration.conftest import DATABASES, database_at
from tests.integration.test_credits_follow_money import Customer, StripeAPI, deliver

USER_ID = uuid.UUID("6f1c1b9e-7c2f-4d7e-9a51-0b8d3c1f2a11")
CUSTOMER = "cus_before_0008"
INVOICE = "in_before_0008"
PAYMENT = "pi_before_0008"
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def url_at_0007(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0007", tmp_path) as url:
        yield url


def _populate_0007(url: str) -> None:
    """A subscriber granted Pro for one invoice and a 500-credit pack, by the old rule."""
    uid = str(USER_ID) if url.startswith("postgres") else USER_ID.hex
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for plan_id, name, kind, price, granted, interval in (
                ("pro_monthly", "Pro", "subscription", 1200, 1000, "month"),
                ("pack_500", "500 credits", "pack", 800, 500, None),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO subscription_plans (id, name, kind, rank, description, "
                        "price, currency, credits_granted, interval, lookup_key, active) "
                        "VALUES (:id, :name, :kind, 0, '', :price, 'usd', :granted, "
                        ":interval, :id, true)"
                    ),
                    {
                        "id": plan_id,
                        "name": name,
                        "kind": kind,
                        "price": price,
                        "granted": granted,
                        "interval": interval,
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, email_key, name, password_hash, role, "
                    "stripe_customer_id, credits, held, created_at, email_verified_at) VALUES "
                    "(:id, 'old@example.com', 'old@example.com', 'Old', 'x', 'user', :cus, "
                    "1600, 0, :at, :at)"
                ),
                {"id": uid, "cus": CUSTOMER, "at": AT},
            )
            for key, delta, after, source in (
                (f"signup:{USER_ID}", 100, 100, "signup"),
                (keys.invoice_grant(INVOICE), 1000, 1100, "subscription"),
                (keys.pack_grant(PAYMENT), 500, 1600, "pack"),
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
            for plan_id, invoice, payment, paid, granted in (
                ("pro_monthly", INVOICE, None, 1200, 1000),
                ("pack_500", None, PAYMENT, 800, 500),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO purchases (user_id, plan_id, stripe_invoice_id, "
                        "stripe_payment_intent_id, stripe_subscription_id, amount_paid, "
                        "currency, credits_granted, created_at) VALUES (:user, :plan, "
                        ":invoice, :payment, :sub, :paid, 'usd', :granted, :at)"
                    ),
                    {
                        "user": uid,
                        "plan": plan_id,
                        "invoice": invoice,
                        "payment": payment,
                        "sub": "sub_before_0008" if invoice else None,
                        "paid": paid,
                        "granted": granted,
                        "at": AT,
                    },
                )
    finally:
        engine.dispose()


def test_old_purchases_are_carried_forward_and_never_granted_again(url_at_0007):
    _populate_0007(url_at_0007)
    migrations.upgrade(url_at_0007)  # to 0008 (head), plans synced as the app does
    engine = make_engine(url_at_0007)
    try:
        with session_scope(engine) as session:
            lines = session.scalars(sa.select(PurchaseLine).order_by(PurchaseLine.id)).all()
            carried = [
                (line.plan_id, line.amount, line.credits, line.proration, line.stripe_line_id)
                for line in lines
            ]
            assert {line.user_id for line in lines} == {USER_ID}
        assert carried == [
            ("pro_monthly", 1200, 1000, False, None),
            ("pack_500", 800, 500, False, None),
        ]

        # The same invoice's events again, after the upgrade: recognised, nothing granted.
        api = StripeAPI()
        sub = Customer(engine, api, str(USER_ID), CUSTOMER, "pro_monthly")
        sub.sub["id"] = "sub_before_0008"
        api.subscriptions[sub.sub["id"]] = sub.sub
        invoice = {**sub.first_invoice(), "id": INVOICE}
        invoice["parent"]["subscription_details"]["subscription"] = sub.sub["id"]
        paid = sp.event("invoice.paid", invoice)
        again, once_more = deliver(engine, api, paid), deliver(engine, api, paid)
        assert again.outcome is once_more.outcome is EventOutcome.DUPLICATE
        assert again.detail.startswith(f"already granted ({keys.invoice_grant(INVOICE)})")
        assert "already processed" in once_more.detail
        # The pack's checkout again: the same.
        checkout = {
            **sp.pack_checkout(str(USER_ID), CUSTOMER, "pack_500"),
            "payment_intent": PAYMENT,
        }
        replayed = deliver(engine, api, sp.event("checkout.session.completed", checkout))
        assert replayed.outcome is EventOutcome.DUPLICATE
        with session_scope(engine) as session:
            assert credits.balance(session, user_id=USER_ID) == 1600
            assert session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)) == 3
            assert credits.find_drift(session) == []

        # A refund of half the old invoice's payment takes back half of what it granted.
        refund = sp.charge(sp.new_id("pi"), 1200, 600, customer=CUSTOMER)

        async def paid_invoice(_payment_intent):
            return INVOICE

        api.invoice_for_payment_intent = paid_invoice
        taken = deliver(engine, api, sp.event("charge.refunded", refund))
        assert taken.outcome is EventOutcome.APPLIED
        with session_scope(engine) as session:
            assert credits.balance(session, user_id=USER_ID) == 1100
    finally:
        engine.dispose()

    command.downgrade(alembic_config(url_at_0007), "0007")
    engine = make_engine(url_at_0007)
    try:
        with engine.connect() as conn:
            assert "purchase_lines" not in sa.inspect(conn).get_table_names()
            assert conn.execute(sa.text("SELECT count(*) FROM purchases")).scalar() == 2
    finally:
        engine.dispose()


def test_an_old_grant_without_its_purchase_row_is_still_recognised(engine):
    """Belt and braces: a ledger grant under the invoice's key is enough to refuse a
    second grant, whatever became of its purchase row."""
    user_id = make_user(engine)
    customer = sp.new_id("cus")
    api = StripeAPI()
    with session_scope(engine) as session:
        session.get(User, user_id).stripe_customer_id = customer
    sub = Customer(engine, api, str(user_id), customer, "pro_monthly")
    invoice = sub.first_invoice()
    with session_scope(engine) as session:
        credits.grant(
            session,
            user_id=user_id,
            amount=1000,
            idempotency_key=keys.invoice_grant(invoice["id"]),
            source=GrantSource.SUBSCRIPTION,
        )
    outcome = deliver(engine, api, sp.event("invoice.paid", invoice))
    assert outcome.outcome is EventOutcome.DUPLICATE and "already granted" in outcome.detail
    with session_scope(engine) as session:
        assert credits.balance(session, user_id=user_id) == 1100
