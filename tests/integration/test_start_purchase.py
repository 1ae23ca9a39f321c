"""Where "Subscribe" / "Buy" leads (checkout.start_purchase), over real HTTP to the Stripe
sandbox, on SQLite and PostgreSQL: a plan id that is not for sale is refused before
anything is written; a subscriber changing plan gets the customer portal, as the database
says, not the tab; everyone else gets Checkout."""

import uuid

import pytest
from sqlalchemy import func, select

from credit_app.billing import checkout
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.db import session_scope
from credit_app.models import CheckoutRecord, User
from tests import async_run
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _start(app: BillingServer, user_id: uuid.UUID, plan_id: str) -> str:
    # A fresh gateway: its httpx client must belong to the event loop that runs it.
    return async_run.run(
        checkout.start_purchase(
            StripeGateway(app.gateway.config),
            user_id=user_id,
            plan_id=plan_id,
            app_url=app.url,
            create_missing_price=True,
            engine=app.engine,
        )
    )


def _checkouts(app: BillingServer, user_id: uuid.UUID) -> list[str]:
    with session_scope(app.engine) as session:
        return list(
            session.scalars(
                select(CheckoutRecord.id)
                .where(CheckoutRecord.user_id == user_id)
                .order_by(CheckoutRecord.created_at)
            )
        )


def _customer(app: BillingServer, user_id: uuid.UUID) -> str | None:
    with session_scope(app.engine) as session:
        return session.get(User, user_id).stripe_customer_id


@pytest.mark.parametrize("plan_id", ["no_such_plan", "free", "", "pro_monthly' OR 1=1"])
def test_a_plan_not_for_sale_is_refused_and_nothing_is_written(app, plan_id):
    user = make_user(app.engine)
    with pytest.raises(checkout.CheckoutRefused) as refused:
        _start(app, user, plan_id)
    assert str(refused.value) == checkout.NOT_FOR_SALE == "That plan is not for sale."
    assert _checkouts(app, user) == []
    assert _customer(app, user) is None  # no Stripe customer was created either
    with session_scope(app.engine) as session:
        assert session.scalar(select(func.count()).select_from(CheckoutRecord)) == 0


def test_someone_without_a_subscription_gets_checkout(app):
    user = make_user(app.engine)
    url = _start(app, user, "pro_monthly")
    (checkout_id,) = _checkouts(app, user)
    assert url == f"{app.sandbox}/checkout/{checkout_id}"
    assert _customer(app, user) is not None


def test_a_subscriber_choosing_another_plan_gets_the_portal(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")  # pays; the webhook records the subscription
    assert app.subscription(user).status == "active"
    before = _checkouts(app, user)

    url = _start(app, user, "business_yearly")
    assert url.startswith(f"{app.sandbox}/portal/")
    assert _checkouts(app, user) == before  # no checkout started

    # A pack is bought through Checkout whatever the plan.
    url = _start(app, user, "pack_500")
    assert url.startswith(f"{app.sandbox}/checkout/cs_")
    assert len(_checkouts(app, user)) == len(before) + 1
