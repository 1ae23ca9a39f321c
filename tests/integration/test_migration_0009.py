"""Upgrading a database populated at 0008 to 0009 (Stripe customer modes, scheduled plan
changes, payments needing authentication): existing customer ids are carried forward
with an unknown mode (NULL: checked with a retrieve on first use), subscriptions with
nothing scheduled and nothing to authenticate; the new handlers work on the upgraded
rows, and the downgrade drops the columns and keeps the rows."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from alembic import command
from credit_app import migrations
from credit_app.billing.account import account_snapshot
from credit_app.db import make_engine, session_scope
from credit_app.migrations import alembic_config
from credit_app.models import EventOutcome, User, UserSubscription
from tests import stripe_payloads as sp
from tests.integration.conftest import DATABASES, database_at
from tests.integration.test_credits_follow_money import StripeAPI, deliver

USER_ID = uuid.UUID("0b5e8a51-2f0c-4d0e-8f4b-3c9a1d2e7f10")
CUSTOMER = "cus_before_0009"
SUBSCRIPTION = "sub_before_0009"
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def url_at_0008(request, tmp_path) -> Iterator[str]:
    with database_at(request.param, "0008", tmp_path) as url:
        yield url


def _populate_0008(url: str) -> None:
    """A Pro subscriber with a Stripe customer, as 0008 stored them."""
    uid = str(USER_ID) if url.startswith("postgres") else USER_ID.hex
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO subscription_plans (id, name, kind, rank, description, "
                    "price, currency, credits_granted, interval, lookup_key, active) VALUES "
                    "('pro_monthly', 'Pro', 'subscription', 1, '', 1200, 'usd', 1000, "
                    "'month', 'pro_monthly', true)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, email_key, name, password_hash, role, "
                    "stripe_customer_id, credits, held, created_at, email_verified_at) VALUES "
                    "(:id, 'old9@example.com', 'old9@example.com', 'Old', 'x', 'user', :cus, "
                    "0, 0, :at, :at)"
                ),
                {"id": uid, "cus": CUSTOMER, "at": AT},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO user_subscriptions (user_id, plan_id, stripe_subscription_id, "
                    "status, current_period_end, cancel_at_period_end, stripe_state_at, "
                    "created_at, updated_at) VALUES (:id, 'pro_monthly', :sub, 'active', "
                    ":end, false, :at, :at, :at)"
                ),
                {
                    "id": uid,
                    "sub": SUBSCRIPTION,
                    "end": datetime(2026, 12, 20, tzinfo=UTC),
                    "at": AT,
                },
            )
    finally:
        engine.dispose()


def test_existing_customers_and_subscriptions_are_carried_forward(url_at_0008):
    _populate_0008(url_at_0008)
    migrations.upgrade(url_at_0008)  # to head, plans synced as the app does
    engine = make_engine(url_at_0008)
    try:
        with session_scope(engine) as session:
            user = session.get(User, USER_ID)
            assert (user.stripe_customer_id, user.stripe_customer_livemode) == (CUSTOMER, None)
            sub = session.get(UserSubscription, USER_ID)
            assert (sub.scheduled_plan_id, sub.scheduled_change_at) == (None, None)
            assert (sub.action_required_url, sub.action_required_invoice_id) == (None, None)
            snapshot = account_snapshot(session, user_id=USER_ID)
            assert (snapshot.plan_id, snapshot.scheduled_plan_name) == ("pro_monthly", "")
            assert snapshot.authenticate_url == ""
        # customer.deleted for the carried-forward customer: forgotten, plan ended.
        gone = sp.event("customer.deleted", {"id": CUSTOMER, "object": "customer", "deleted": True})
        assert deliver(engine, StripeAPI(), gone).outcome is EventOutcome.APPLIED
        with session_scope(engine) as session:
            user = session.get(User, USER_ID)
            assert (user.stripe_customer_id, user.stripe_customer_livemode) == (None, None)
            assert session.get(UserSubscription, USER_ID).status == "canceled"
    finally:
        engine.dispose()

    command.downgrade(alembic_config(url_at_0008), "0008")
    engine = make_engine(url_at_0008)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert "stripe_customer_livemode" not in {
                c["name"] for c in inspector.get_columns("users")
            }
            columns = {c["name"] for c in inspector.get_columns("user_subscriptions")}
            assert not columns & {"scheduled_plan_id", "action_required_url"}
            assert conn.execute(sa.text("SELECT count(*) FROM user_subscriptions")).scalar() == 1
    finally:
        engine.dispose()
