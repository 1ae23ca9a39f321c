"""A changed price in plans.toml reaches an existing database (`credit-app migrate`) and
Stripe (`credit-app seed-plans`: a new price takes over the plan's lookup key), and a
subscription still billed at the old price keeps its plan."""

import dataclasses

import pytest
from sqlalchemy import update

from credit_app import migrations
from credit_app.billing import catalog
from credit_app.billing.catalog import sync_plans
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.billing.subscriptions import plan_for_price
from credit_app.db import session_scope
from credit_app.models import SubscriptionPlan
from tests import async_run
from tests.integration.billing_server import BillingServer, serve


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _price(engine, plan_id: str) -> int:
    with session_scope(engine) as session:
        row = session.get(SubscriptionPlan, plan_id)
        assert row is not None
        return row.price


def test_migrate_carries_a_changed_price_to_an_existing_database(engine, database_url):
    pack = catalog.plan_by_id("pack_500")
    with session_scope(engine) as session:  # a database seeded before the repricing
        session.execute(
            update(SubscriptionPlan).where(SubscriptionPlan.id == pack.id).values(price=500)
        )
    migrations.upgrade(database_url)
    assert _price(engine, pack.id) == pack.price == 800

    with session_scope(engine) as session:
        sync_plans(session, [*(p for p in catalog.plans() if p.id != pack.id), _repriced(pack)])
    assert _price(engine, pack.id) == 900


def _repriced(plan: catalog.PlanSpec, price: int = 900) -> catalog.PlanSpec:
    return dataclasses.replace(plan, price=price)


def test_seed_plans_moves_the_lookup_key_to_a_new_price_and_old_subscriptions_keep_their_plan(
    app: BillingServer,
):
    gateway = StripeGateway(app.gateway.config)
    monthly = catalog.plan_by_id("pro_monthly")
    old = async_run.run(gateway.ensure_price(monthly))
    new = async_run.run(gateway.ensure_price(_repriced(monthly, 1500)))
    assert new != old
    assert async_run.run(gateway.price_for(monthly)) == new  # checkout sells the new price
    assert async_run.run(gateway.ensure_price(_repriced(monthly, 1500))) == new  # idempotent
    # An invoice at the old price (a subscription bought before) still names its plan,
    # through the price's metadata, now that the lookup key has moved.
    old_price = async_run.run(gateway.retrieve_price(old))
    assert old_price["lookup_key"] is None
    with session_scope(app.engine) as session:
        plan = plan_for_price(session, old_price)
        assert plan is not None and plan.id == monthly.id
