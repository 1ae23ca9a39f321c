"""Checkout → webhook → grant over real HTTP: the app's webhook route and the Stripe
sandbox, on SQLite and PostgreSQL (DESIGN.md invariant 3)."""

import hashlib
import hmac
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from credit_app.billing import catalog, checkout
from credit_app.billing.account import load_account
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.db import session_scope
from credit_app.models import (
    CheckoutRecord,
    EventOutcome,
    Purchase,
    PurchaseLine,
    StripeEvent,
    User,
)
from tests import async_run
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.integration.billing_server import (
    CARD_DECLINED,
    CARD_FAILS_LATER,
    BillingServer,
    serve,
)


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _stripe(app: BillingServer) -> stripe.StripeClient:
    return stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})


def test_subscribe_grants_the_plan_credits_and_records_the_plan(app):
    user = make_user(app.engine)
    response = app.checkout(user, "pro_monthly")
    assert response.status_code in (302, 303)
    assert "/billing/success?session_id=cs_" in response.headers["location"]
    assert app.balance(user) == 100 + 1000
    sub = app.subscription(user)
    assert (sub.plan_id, sub.status, sub.cancel_at_period_end) == ("pro_monthly", "active", False)


def test_duplicated_concurrent_shuffled_deliveries_grant_once_per_invoice(app):
    app.control("POST", "faults", json={"duplicate": 3, "concurrent": True, "shuffle": True})
    user = make_user(app.engine)
    app.checkout(user, "business_monthly")
    app.advance(user)
    assert app.balance(user) == 100 + 2 * 5000
    with session_scope(app.engine) as session:
        assert session.scalar(select(func.count()).select_from(Purchase)) == 2


def test_a_dropped_first_delivery_is_retried_and_applied_once(app):
    app.control("POST", "faults", json={"drop_first": True})
    user = make_user(app.engine)
    app.checkout(user, "pack_500")
    assert app.balance(user) == 600


def test_twelve_renewals_grant_twelve_times(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    for _ in range(12):
        app.advance(user)
    assert app.balance(user) == 100 + 13 * 1000


def test_a_declined_card_changes_nothing(app):
    user = make_user(app.engine)
    response = app.checkout(user, "pro_monthly", card=CARD_DECLINED)
    assert response.status_code == 402 and "your card was declined" in response.text.lower()
    assert app.balance(user) == 100
    assert app.subscription(user) is None


def test_a_failed_renewal_means_past_due_and_no_grant(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly", card=CARD_FAILS_LATER)
    assert app.balance(user) == 1100
    app.advance(user)
    assert app.balance(user) == 1100
    assert app.subscription(user).status == "past_due"


def test_cancel_at_period_end_ends_the_plan_with_no_more_grants(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    _stripe(app).v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    app.wait_idle()
    assert app.subscription(user).cancel_at_period_end is True
    app.advance(user)
    assert app.subscription(user).status == "canceled"
    assert app.balance(user) == 1100


def test_refund_and_dispute_take_back_and_a_won_dispute_restores(app):
    user = make_user(app.engine)
    app.checkout(user, "pack_2000")
    app.checkout(user, "pack_500")
    assert app.balance(user) == 2600
    with session_scope(app.engine) as session:
        big, small = session.scalars(select(Purchase).order_by(Purchase.id)).all()
    client = _stripe(app)
    client.v1.refunds.create(params={"payment_intent": small.stripe_payment_intent_id})
    app.wait_idle()
    assert app.balance(user) == 2100

    charge = client.v1.payment_intents.retrieve(big.stripe_payment_intent_id).latest_charge
    dispute = app.control("POST", f"charges/{charge}/dispute").json()
    app.wait_idle()
    assert app.balance(user) == 100
    app.control("POST", f"disputes/{dispute['id']}/close", json={"status": "won"})
    app.wait_idle()
    assert app.balance(user) == 2100


def _signed(body: bytes, secret: str) -> str:
    at = int(time.time())
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def test_bad_signatures_and_bodies_are_refused_and_write_nothing(app):
    webhook = f"{app.url}/api/webhooks/stripe"
    body = json.dumps(
        {
            "id": "evt_forged",
            "object": "event",
            "type": "invoice.paid",
            "created": 1,
            "data": {"object": {}},
        }
    ).encode()
    assert httpx.post(webhook, content=body).status_code == 400
    assert (
        httpx.post(
            webhook, content=body, headers={"Stripe-Signature": _signed(body, "whsec_wrong")}
        ).status_code
        == 400
    )
    assert httpx.post(webhook, content=b"x" * (1024 * 1024 + 1)).status_code == 413
    with session_scope(app.engine) as session:
        assert session.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_a_signed_unknown_event_type_gets_2xx_and_is_recorded(app):
    secret = app.gateway.config.webhook_secret
    body = json.dumps(
        {
            "id": "evt_unknown",
            "object": "event",
            "type": "balance.available",
            "created": 1,
            "data": {"object": {}},
        }
    ).encode()
    response = httpx.post(
        f"{app.url}/api/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": _signed(body, secret)},
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    with session_scope(app.engine) as session:
        assert session.get(StripeEvent, "evt_unknown").outcome == EventOutcome.IGNORED


def _deliver(app: BillingServer, event: dict) -> httpx.Response:
    """POST an event signed with the app's endpoint secret, as Stripe would."""
    body = json.dumps(event).encode()
    signature = _signed(body, app.gateway.config.webhook_secret)
    return httpx.post(
        f"{app.url}/api/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
    )


def test_a_refund_of_ours_before_its_payment_answers_2xx_and_is_recorded_as_deferred(app):
    # Never days of 503s (Stripe disables endpoints that keep failing): our customer's
    # refund waits, recorded as deferred, for its payment (then replay or sync).
    user = make_user(app.engine)
    customer = sp.new_id("cus")
    with session_scope(app.engine) as session:
        session.get(User, user).stripe_customer_id = customer
    refund = sp.event("charge.refunded", sp.charge(sp.new_id("pi"), 500, 500, customer=customer))
    first, again = _deliver(app, refund), _deliver(app, refund)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["outcome"] == "deferred"
    assert "no purchase recorded yet" in first.json()["detail"]
    with session_scope(app.engine) as session:
        row = session.get(StripeEvent, refund["id"])
        assert (row.outcome, row.attempts) == (EventOutcome.DEFERRED, 2)
    # Another product's refund on a shared Stripe account: ignored at once, final.
    foreign = sp.event(
        "charge.refunded", sp.charge(sp.new_id("pi"), 500, 500, customer=sp.new_id("cus"))
    )
    answer = _deliver(app, foreign)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")


def test_an_object_stripe_no_longer_has_is_recorded_as_ignored(app):
    # Stripe answers 404 (resource_missing) for the subscription this event names: final.
    updated = sp.event(
        "customer.subscription.updated", {"id": "sub_gone", "object": "subscription"}
    )
    response = _deliver(app, updated)
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert response.json()["detail"] == "ignored: Stripe no longer has subscription sub_gone"
    assert _deliver(app, updated).json()["outcome"] == "duplicate"  # Stripe stops retrying
    with session_scope(app.engine) as session:
        row = session.get(StripeEvent, updated["id"])
        assert (row.outcome, row.attempts, row.error) == (EventOutcome.IGNORED, 1, None)


def test_an_unexpected_error_answers_500_and_is_recorded_as_failed(app):
    disputed = sp.event("charge.dispute.created", {"object": "dispute"})  # no dispute id
    response = _deliver(app, disputed)
    assert response.status_code == 500
    assert response.json() == {"error": "internal error", "outcome": "failed"}
    with session_scope(app.engine) as session:
        row = session.get(StripeEvent, disputed["id"])
        assert (row.outcome, row.attempts, row.error) == (EventOutcome.FAILED, 1, "KeyError: 'id'")
    assert _deliver(app, disputed).status_code == 500  # Stripe's retry claims it again
    with session_scope(app.engine) as session:
        assert session.get(StripeEvent, disputed["id"]).attempts == 2


def _hostile(**changes) -> dict:
    event = sp.event("invoice.paid", {"object": "invoice", "id": "in_x"})
    event.update(changes)
    return {key: value for key, value in event.items() if value is not None}


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_hostile(id="evt_" + "x" * 300), id="id-too-long"),
        pytest.param(_hostile(id=["evt_1"]), id="id-not-a-string"),
        pytest.param(_hostile(type="invoice.paid" + "." * 60), id="type-too-long"),
        pytest.param(_hostile(type={"name": "invoice.paid"}), id="type-not-a-string"),
        pytest.param(_hostile(data={"object": ["in_x"]}), id="object-not-an-object"),
        pytest.param(_hostile(data="in_x"), id="data-not-an-object"),
        pytest.param(_hostile(created=10**30), id="created-out-of-range"),
        pytest.param(_hostile(created="yesterday"), id="created-not-a-number"),
        pytest.param(_hostile(livemode="no"), id="livemode-not-a-bool"),
    ],
)
def test_signed_events_of_the_wrong_shape_answer_400_and_write_nothing(app, event):
    response = _deliver(app, event)
    assert response.status_code == 400
    with session_scope(app.engine) as session:
        assert session.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_malformed_owner_fields_do_not_stop_an_event_being_recorded(app):
    odd = sp.event(
        "balance.available",
        {
            "object": "balance",
            "customer": "x" * 300,
            "metadata": ["user_id"],
            "parent": "subscription_details",
            "client_reference_id": {"user_id": "u"},
        },
    )
    response = _deliver(app, odd)
    assert (response.status_code, response.json()["outcome"]) == (200, "ignored")
    with session_scope(app.engine) as session:
        row = session.get(StripeEvent, odd["id"])
        assert (row.outcome, row.user_id, row.stripe_customer_id) == ("ignored", None, None)


def test_seeding_plans_twice_creates_each_price_once(app):
    paid = [p for p in catalog.plans() if p.lookup_key]

    async def seed():
        gateway = StripeGateway(app.gateway.config)
        return [await gateway.ensure_price(p) for p in paid]

    first, second = async_run.run(seed()), async_run.run(seed())
    assert first == second and len(set(first)) == len(paid)
    prices = _stripe(app).v1.prices.list(params={"limit": 100}).data
    assert sorted(p.lookup_key for p in prices) == sorted(f"credit_app_{p.id}" for p in paid)
    assert {p.tax_behavior for p in prices} == {"exclusive"}


def test_upgrade_now_grants_the_new_plan_and_a_downgrade_waits_for_renewal(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    # A subscriber's plan button opens the portal's confirmation of that change (flow_data
    # under the app's own configuration), not a second checkout.
    url = app.purchase_url(user, "business_monthly")
    assert "/portal/" in url and "/checkout/" not in url
    client = _stripe(app)
    sub_id = app.subscription(user).stripe_subscription_id
    done = app.change_plan(user, "business_monthly")
    assert (done.status_code, done.headers["location"]) == (303, app.url + "/dashboard")
    assert app.subscription(user).plan_id == "business_monthly"
    # Credits follow money: the upgrade invoice's prorations (Pro's unused time credited,
    # Business's remaining time charged, both nearly the whole month here) grant the
    # prorated difference, not a second full cycle.
    with session_scope(app.engine) as session:
        upgrade = session.scalars(select(Purchase).order_by(Purchase.id.desc())).first()
        lines = session.scalars(
            select(PurchaseLine).where(PurchaseLine.purchase_id == upgrade.id)
        ).all()
    billed = {(line.plan_id, line.proration, line.amount > 0) for line in lines}
    assert billed == {("pro_monthly", True, False), ("business_monthly", True, True)}
    expected = sum(
        Fraction(catalog.plan_by_id(line.plan_id).credits_granted * line.amount)
        / catalog.plan_by_id(line.plan_id).price
        for line in lines
    )
    assert upgrade.credits_granted == math.floor(expected)
    assert 3900 <= upgrade.credits_granted <= 5000 - 1000
    upgraded = 100 + 1000 + upgrade.credits_granted
    assert app.balance(user) == upgraded

    # The downgrade, through the same configured portal, waits for the period end.
    period_end = app.subscription(user).current_period_end
    app.change_plan(user, "pro_monthly")
    sub = app.subscription(user)
    assert sub.plan_id == "business_monthly"  # until the period ends
    assert (sub.scheduled_plan_id, sub.scheduled_change_at) == ("pro_monthly", period_end)
    snapshot = async_run.run(load_account(user, engine=app.engine))
    assert snapshot.scheduled_plan_name == "Pro monthly"
    assert snapshot.scheduled_change_at == period_end
    assert app.balance(user) == upgraded  # nothing granted or taken now
    stripe_sub = client.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.schedule is not None

    app.advance(user)
    sub = app.subscription(user)
    assert (sub.plan_id, sub.scheduled_plan_id, sub.scheduled_change_at) == (
        "pro_monthly",
        None,
        None,
    )
    assert app.balance(user) == upgraded + 1000  # the lower plan's credits, at renewal


def test_the_return_page_is_answered_from_our_records_with_one_stripe_call(app):
    buyer, stranger = make_user(app.engine), make_user(app.engine)
    app.checkout(buyer, "pack_500")
    with session_scope(app.engine) as session:
        record = session.scalar(select(CheckoutRecord).where(CheckoutRecord.user_id == buyer))
    assert record.plan_id == "pack_500"
    assert async_run.run(checkout.checkout_is_theirs(buyer, record.id, engine=app.engine))
    assert not async_run.run(checkout.checkout_is_theirs(stranger, record.id, engine=app.engine))
    assert not async_run.run(
        checkout.checkout_is_theirs(buyer, "cs_test_unknown", engine=app.engine)
    )
    assert not async_run.run(
        checkout.checkout_is_theirs(buyer, "cs_" + "x" * 300, engine=app.engine)
    )
    refs = async_run.run(checkout.payment_refs(StripeGateway(app.gateway.config), record.id))
    assert refs.payment_intent_id and refs.subscription_id is None
    confirmed = async_run.run(checkout.purchase_recorded(refs, engine=app.engine))
    assert (confirmed.confirmed, confirmed.credits_granted) == (True, 500)
    pending = async_run.run(
        checkout.purchase_recorded(checkout.PaymentRefs(None, "pi_not_yet_paid"), engine=app.engine)
    )
    assert not pending.confirmed


def test_tabs_starting_checkouts_at_once_are_stopped_at_the_cap(app):
    buyer = make_user(app.engine)

    def start(_):
        try:
            return async_run.run(
                checkout.start_checkout(
                    StripeGateway(app.gateway.config),
                    user_id=buyer,
                    plan_id="pack_500",
                    app_url=app.url,
                    create_missing_price=True,
                )
            )
        except checkout.CheckoutRefused as refused:
            return refused

    # The first one alone: it also creates the price in the fresh sandbox.
    results = [start(0)]
    with ThreadPoolExecutor(11) as pool:
        results += pool.map(start, range(11))
    urls = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, checkout.CheckoutRefused)]
    assert len(set(urls)) == checkout.MAX_CHECKOUTS_PER_WINDOW
    assert len(refused) == 12 - checkout.MAX_CHECKOUTS_PER_WINDOW
    assert all("several checkouts" in str(r) for r in refused)
    with session_scope(app.engine) as session:
        ids = session.scalars(
            select(CheckoutRecord.id).where(CheckoutRecord.user_id == buyer)
        ).all()
    # Every place held became Stripe's own session id.
    assert len(ids) == checkout.MAX_CHECKOUTS_PER_WINDOW
    assert all(i.startswith("cs_") for i in ids)
