"""Upgrading a database populated at 0009 to 0010 (credit lots): each balance becomes one
"earlier credits" lot that never expires, active holds keep their credits pinned in it and
still capture and release, reconcile passes right after the upgrade, a yearly invoice
granted whole before lots is recognised (its replay grants nothing and schedules no
months), and new grants follow the new expiry policy. The downgrade drops the new tables
and keeps the ledger."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlmodel import col

from alembic import command
from credit_app import credits, migrations
from credit_app.billing.webhooks import Facts, apply_event
from credit_app.db import make_engine, session_scope
from credit_app.migrations import alembic_config
from credit_app.models import (
    CreditDrip,
    CreditLot,
    EventOutcome,
    GrantSource,
    Hold,
    LotReservation,
    User,
)
from tests import stripe_payloads as sp
from tests.integration.conftest import DATABASES, database_at

SPENDER = uuid.UUID("7d1f6a3e-8c2b-4e5f-9a0d-1b2c3d4e5f60")
EMPTY = uuid.UUID("2a3b4c5d-6e7f-4a8b-9c0d-e1f2a3b4c5d6")
YEARLY_INVOICE = "in_yearly_before_0010"
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def url_at_0009(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0009", tmp_path) as url:
        yield url


def _populate_0009(url: str) -> None:
    """A Pro yearly subscriber who signed up (100), was granted a year (12,000) and a pack
    (500), spent 12,450, has a hold of 30 running and one captured; and a user at 0."""
    pg = url.startswith("postgres")
    spender, empty = (str(SPENDER), str(EMPTY)) if pg else (SPENDER.hex, EMPTY.hex)
    engine = make_engine(url)
    entries = [
        ("grant", "signup", 100, 100, f"signup:{SPENDER}"),
        ("grant", "subscription", 12000, 12100, f"stripe:invoice:{YEARLY_INVOICE}"),
        ("grant", "pack", 500, 12600, "stripe:payment:pi_before_0010"),
        ("spend", None, -12440, 160, "tool:old:1"),
        ("capture", None, -10, 150, "hold:1:capture"),
    ]
    try:
        with engine.begin() as conn:
            for plan, kind, price, granted, interval in (
                ("pro_yearly", "subscription", 12000, 12000, "'year'"),
                ("pack_500", "pack", 800, 500, "NULL"),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO subscription_plans (id, name, kind, rank, description, "
                        "price, currency, credits_granted, interval, lookup_key, active) VALUES "
                        f"(:id, 'P', :kind, 1, '', :price, 'usd', :granted, {interval}, :id, "
                        "true)"
                    ),
                    {"id": plan, "kind": kind, "price": price, "granted": granted},
                )
            for uid, email, balance, held in ((spender, "a", 150, 30), (empty, "b", 0, 0)):
                conn.execute(
                    sa.text(
                        "INSERT INTO users (id, email, email_key, password_hash, role, credits, "
                        "held, created_at, email_verified_at) VALUES (:id, :email, :email, "
                        "'x', 'user', :credits, :held, :at, :at)"
                    ),
                    {
                        "id": uid,
                        "email": f"{email}@example.com",
                        "credits": balance,
                        "held": held,
                        "at": AT,
                    },
                )
            for kind, source, delta, after, key in entries:
                conn.execute(
                    sa.text(
                        "INSERT INTO ledger_entries (user_id, kind, source, delta, "
                        "balance_after, idempotency_key, created_at) VALUES (:id, :kind, "
                        ":source, :delta, :after, :key, :at)"
                    ),
                    {
                        "id": spender,
                        "kind": kind,
                        "source": source,
                        "delta": delta,
                        "after": after,
                        "key": key,
                        "at": AT,
                    },
                )
            for hold_id, status, amount, captured in (
                (1, "captured", 10, 10),
                (2, "active", 30, 0),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO holds (id, user_id, amount, status, feature, "
                        "idempotency_key, captured, created_at, expires_at) VALUES (:hid, :id, "
                        ":amount, :status, 'report', :key, :captured, :at, :until)"
                    ),
                    {
                        "hid": hold_id,
                        "id": spender,
                        "amount": amount,
                        "status": status,
                        "key": f"tool:old:hold{hold_id}",
                        "captured": captured,
                        "at": AT,
                        "until": datetime.now(UTC) + timedelta(hours=1),
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO purchases (user_id, plan_id, stripe_invoice_id, "
                    "stripe_subscription_id, amount_paid, currency, credits_granted, "
                    "created_at) VALUES (:id, 'pro_yearly', :inv, 'sub_y', 12000, 'usd', "
                    "12000, :at)"
                ),
                {"id": spender, "inv": YEARLY_INVOICE, "at": AT},
            )
    finally:
        engine.dispose()


def _reconciled(session) -> None:
    assert credits.find_drift(session) == []
    assert credits.find_hold_drift(session) == []
    assert credits.find_lot_drift(session) == []


def test_balances_become_earlier_lots_and_everything_keeps_working(url_at_0009):
    _populate_0009(url_at_0009)
    migrations.upgrade(url_at_0009)
    engine = make_engine(url_at_0009)
    try:
        with session_scope(engine) as session:
            _reconciled(session)  # right after the upgrade
            lots = session.scalars(select(CreditLot).order_by(col(CreditLot.id))).all()
            assert [
                (lot.user_id, lot.source, lot.amount, lot.remaining, lot.reserved, lot.expires_at)
                for lot in lots
            ] == [(SPENDER, GrantSource.EARLIER, 150, 150, 30, None)]  # the empty user: none
            pins = session.scalars(select(LotReservation)).all()
            assert [(p.hold_id, p.lot_id, p.credits) for p in pins] == [(2, lots[0].id, 30)]
            assert session.get(User, SPENDER).next_lot_expiry is None

        # The hold running across the upgrade captures (less than it held) as before.
        with session_scope(engine) as session:
            done = credits.capture(
                session, user_id=SPENDER, hold_id=2, amount=20, description="Report"
            )
            assert (done.captured, done.balance_after) == (20, 130)
            assert session.get(Hold, 2).status == "captured"

        # The yearly invoice granted whole before lots: its event again grants nothing
        # and schedules no monthly grants.
        sub = sp.subscription(str(SPENDER), "cus_y", "pro_yearly")
        invoice = {**sp.invoice(sub, amount=12000), "id": YEARLY_INVOICE}
        outcome = apply_event(sp.event("invoice.paid", invoice), Facts(subscription=sub), engine)
        assert outcome.outcome is EventOutcome.DUPLICATE, outcome.detail
        with session_scope(engine) as session:
            assert credits.balance(session, user_id=SPENDER) == 130
            assert session.scalars(select(CreditDrip)).all() == []

        # New credits follow the new policy; spends take the expiring ones first.
        with session_scope(engine) as session:
            soon = datetime.now(UTC) + timedelta(days=5)
            credits.grant(
                session,
                user_id=SPENDER,
                amount=40,
                idempotency_key="promo-after-0010",
                source=GrantSource.ADMIN,
                terms=credits.LotTerms(expires_at=soon),
            )
            credits.spend(
                session, user_id=SPENDER, amount=50, idempotency_key="after", feature="qr"
            )
            by_source = {
                lot.source: lot.remaining for lot in session.scalars(select(CreditLot)).all()
            }
            assert by_source == {GrantSource.EARLIER: 120, GrantSource.ADMIN: 0}
            _reconciled(session)
    finally:
        engine.dispose()

    command.downgrade(alembic_config(url_at_0009), "0009")
    engine = make_engine(url_at_0009)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert not tables & {"credit_lots", "lot_allocations", "credit_drips", "lots_started"}
            assert conn.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar() == 8
    finally:
        engine.dispose()
