"""Issue #10 over real HTTP (app webhook route ↔ embedded Stripe sandbox), on SQLite and
PostgreSQL: the portal configuration the app manages, recovery of lost webhooks with
stripe-sync, stripe-check, Stripe customers of the other mode or deleted, and 3-D Secure
on renewal."""

import uuid

import httpx
import pytest
import stripe
from sqlalchemy import select

from credit_app import cli
from credit_app.billing import catalog, checkout, sync
from credit_app.billing.account import load_account
from credit_app.billing.stripe_gateway import PORTAL_METADATA_KEY, StripeGateway
from credit_app.db import session_scope
from credit_app.models import CheckoutRecord, EventOutcome, StripeEvent, User
from tests import async_run
from tests.factories import make_user
from tests.html_forms import submit
from tests.integration.billing_server import BillingServer, serve

CARD_3DS = "4000 0027 6000 3184"


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _stripe(app: BillingServer) -> stripe.StripeClient:
    return stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})


def _gateway(app: BillingServer) -> StripeGateway:
    return StripeGateway(app.gateway.config)


def _sync(app: BillingServer) -> sync.SyncReport:
    return async_run.run(sync.sync_events(_gateway(app), livemode=False, engine=app.engine))


def _customer(app: BillingServer, user: uuid.UUID) -> tuple[str | None, bool | None]:
    with session_scope(app.engine) as session:
        row = session.get(User, user)
        return row.stripe_customer_id, row.stripe_customer_livemode


def _outcome(app: BillingServer, event_type: str) -> list[str]:
    with session_scope(app.engine) as session:
        return list(
            session.scalars(select(StripeEvent.outcome).where(StripeEvent.type == event_type)).all()
        )


# --- the portal configuration -----------------------------------------------------------


def test_the_portal_configuration_is_made_once_and_offers_our_plans_only(app):
    first = async_run.run(
        checkout.configure_portal(_gateway(app), app_url=app.url, create_missing_price=True)
    )
    second = async_run.run(
        checkout.configure_portal(_gateway(app), app_url=app.url, create_missing_price=True)
    )
    assert first[1] is True and second == (first[0], False)  # run twice: nothing new
    configs = _stripe(app).v1.billing_portal.configurations.list(params={"limit": 100}).data
    ours = [c for c in configs if c.metadata and c.metadata.to_dict().get(PORTAL_METADATA_KEY)]
    assert [c.id for c in ours] == [first[0]]
    config = ours[0]
    update = config.features.subscription_update
    assert update.enabled and update.proration_behavior == "always_invoice"
    assert [c.type for c in update.schedule_at_period_end.conditions] == [
        "decreasing_item_amount",
        "shortening_interval",
    ]
    offered = {price for product in update.products for price in product.prices}
    gateway = _gateway(app)
    subscriptions = [p for p in catalog.plans() if p.kind == "subscription" and p.lookup_key]
    assert offered == {async_run.run(gateway.price_for(p)) for p in subscriptions}
    assert config.features.subscription_cancel.mode == "at_period_end"
    assert config.features.payment_method_update.enabled
    assert config.features.invoice_history.enabled
    assert config.business_profile.headline == checkout.PORTAL_HEADLINE
    # The portal opened for a subscriber uses it (found again by its metadata).
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    url = async_run.run(
        checkout.open_portal(_gateway(app), user_id=user, app_url=app.url, engine=app.engine)
    )
    page = httpx.get(url).text
    assert checkout.PORTAL_HEADLINE in page and "Business" in page  # plans to switch to


def test_seed_plans_archives_superseded_prices_and_adopts_bare_lookup_keys(app):
    client = _stripe(app)
    pro = catalog.plan_by_id("pro_monthly")
    # A price made before the prefix: bare lookup key, no tax behavior.
    client.v1.products.create(params={"id": "credit_app_pro", "name": "Pro"})
    old = client.v1.prices.create(
        params={
            "product": "credit_app_pro",
            "unit_amount": pro.price,
            "currency": pro.currency,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
            "metadata": {"plan_id": "pro_monthly"},
        }
    )
    stale = client.v1.prices.create(
        params={
            "product": "credit_app_pro",
            "unit_amount": pro.price + 100,
            "currency": pro.currency,
            "recurring": {"interval": "month"},
            "metadata": {"plan_id": "pro_monthly"},
        }
    )
    adopted = async_run.run(_gateway(app).ensure_price(pro))
    assert adopted == old.id  # kept, not duplicated: its subscribers stay on it
    price = client.v1.prices.retrieve(old.id)
    assert (price.lookup_key, price.tax_behavior, price.active) == (
        "credit_app_pro_monthly",
        "exclusive",
        True,
    )
    assert client.v1.prices.retrieve(stale.id).active is False  # superseded: archived
    assert async_run.run(_gateway(app).ensure_price(pro)) == old.id  # idempotent


# --- plan changes through the portal ----------------------------------------------------


def test_the_dashboard_shows_a_scheduled_downgrade_and_a_yearly_to_monthly_change(app):
    user = make_user(app.engine)
    app.checkout(user, "business_yearly")
    end = app.subscription(user).current_period_end
    app.change_plan(user, "business_monthly")  # a shorter interval waits for the period end
    snapshot = async_run.run(load_account(user, engine=app.engine))
    assert (snapshot.plan_id, snapshot.scheduled_plan_name, snapshot.scheduled_change_at) == (
        "business_yearly",
        "Business monthly",
        end,
    )
    assert app.balance(user) == 100 + 5000  # month 1 of the year (the rest arrives monthly)
    app.advance(user)
    snapshot = async_run.run(load_account(user, engine=app.engine))
    assert (snapshot.plan_id, snapshot.scheduled_plan_name) == ("business_monthly", "")
    assert app.balance(user) == 100 + 5000 + 5000


# --- recovery -----------------------------------------------------------------------------


def test_stripe_sync_recovers_a_webhook_dropped_for_good_once(app):
    app.control("POST", "faults", json={"drop_types": ["invoice.paid"]})
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    assert app.balance(user) == 100  # the grant's event never came
    assert _outcome(app, "invoice.paid") == []
    assert cli.main(["stripe-check"]) == 1  # Stripe was paid, nothing granted
    report = _sync(app)
    assert [(o.type, o.outcome) for o in report.processed] == [("invoice.paid", "applied")]
    assert app.balance(user) == 100 + 1000
    again = _sync(app)  # idempotent: nothing left to do
    assert again.processed == [] and again.already == again.listed
    assert app.balance(user) == 100 + 1000
    assert cli.main(["stripe-check"]) == 0
    assert cli.main(["stripe-sync"]) == 0


def test_a_refund_before_its_payment_is_completed_by_stripe_sync(app):
    app.control("POST", "faults", json={"drop_types": ["checkout.session.completed"]})
    user = make_user(app.engine)
    app.checkout(user, "pack_500")
    assert app.balance(user) == 100
    client = _stripe(app)
    with session_scope(app.engine) as session:
        record = session.scalar(select(CheckoutRecord).where(CheckoutRecord.user_id == user))
    payment = client.v1.checkout.sessions.retrieve(record.id).payment_intent
    client.v1.refunds.create(params={"payment_intent": payment})
    app.wait_idle()
    assert _outcome(app, "charge.refunded") == [EventOutcome.DEFERRED]
    report = _sync(app)
    assert ("checkout.session.completed", "applied") in [
        (o.type, o.outcome) for o in report.processed
    ]
    assert _outcome(app, "charge.refunded") == [EventOutcome.APPLIED]
    assert app.balance(user) == 100  # granted, then taken back: once each
    _sync(app)
    assert app.balance(user) == 100


# --- Stripe customers -------------------------------------------------------------------


def test_a_deleted_customer_who_buys_again_gets_a_new_one(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    first, mode = _customer(app, user)
    assert first and mode is False
    _stripe(app).v1.customers.delete(first)
    app.wait_idle()
    assert _customer(app, user) == (None, None)  # customer.deleted forgot it
    assert app.subscription(user).status == "canceled"
    app.checkout(user, "pack_500")
    second, mode = _customer(app, user)
    assert second not in (None, first) and mode is False
    assert app.balance(user) == 100 + 1000 + 500


def test_a_deleted_customer_whose_event_was_lost_is_replaced_at_checkout(app):
    user = make_user(app.engine)
    app.checkout(user, "pack_500")
    first, _ = _customer(app, user)
    app.control("POST", "faults", json={"drop_types": ["customer.deleted"]})
    _stripe(app).v1.customers.delete(first)
    app.wait_idle()
    assert _customer(app, user)[0] == first  # we never heard of it
    app.checkout(user, "pack_500")  # Stripe answers "No such customer": a new one
    second, _ = _customer(app, user)
    assert second not in (None, first)
    assert app.balance(user) == 100 + 500 + 500


def test_a_customer_of_the_other_mode_or_unknown_mode_is_checked_and_replaced(app):
    user = make_user(app.engine)
    app.checkout(user, "pack_500")
    first, _ = _customer(app, user)
    with session_scope(app.engine) as session:
        session.get(User, user).stripe_customer_livemode = True  # made with a live key
    app.checkout(user, "pack_500")
    second, mode = _customer(app, user)
    assert second not in (None, first) and mode is False
    # Unknown mode (stored before revision 0009): checked with a retrieve and kept.
    with session_scope(app.engine) as session:
        session.get(User, user).stripe_customer_livemode = None
    app.checkout(user, "pack_500")
    assert _customer(app, user) == (second, False)
    # Unknown mode and unknown to Stripe (the other mode's id): replaced.
    with session_scope(app.engine) as session:
        row = session.get(User, user)
        row.stripe_customer_id, row.stripe_customer_livemode = "cus_from_live_mode", None
    app.checkout(user, "pack_500")
    third, mode = _customer(app, user)
    assert third not in (None, first, second, "cus_from_live_mode") and mode is False
    assert app.balance(user) == 100 + 4 * 500


# --- 3-D Secure on renewal ----------------------------------------------------------------


def test_a_renewal_needing_authentication_is_shown_then_cleared_when_paid(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly", card=CARD_3DS)  # on-session: authenticated at once
    assert app.balance(user) == 100 + 1000
    renewal = app.advance(user)
    snapshot = async_run.run(load_account(user, engine=app.engine))
    url = _stripe(app).v1.invoices.retrieve(renewal["id"]).hosted_invoice_url
    assert url and snapshot.authenticate_url == url
    assert app.balance(user) == 100 + 1000  # nothing granted until it is paid
    with httpx.Client(timeout=30) as client:
        submit(client, url, button="Authenticate and pay")
    app.wait_idle()
    snapshot = async_run.run(load_account(user, engine=app.engine))
    assert snapshot.authenticate_url == ""
    assert app.balance(user) == 100 + 2000
