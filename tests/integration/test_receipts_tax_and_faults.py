"""Issue #10 over real HTTP (app webhook route ↔ embedded Stripe sandbox), on SQLite and
PostgreSQL: a pack's receipt invoice, the STRIPE_AUTOMATIC_TAX setting as Checkout records
it, an event made to fail on purpose by the sandbox's API-error fault (then applied once
by Stripe's retry or by stripe-sync), monthly → yearly through the portal, and an upgrade
with a coupon (itemized proration discounts: credits follow the pre-discount amount)."""

import hashlib
import hmac
import json
import math
import time
import uuid
from fractions import Fraction

import httpx
import pytest
import stripe
from sqlalchemy import select
from stripe.checkout import SessionService

from credit_app import cli
from credit_app.billing import catalog
from credit_app.credits import keys
from credit_app.db import session_scope
from credit_app.models import (
    CheckoutRecord,
    EventOutcome,
    GrantSource,
    LedgerEntry,
    Purchase,
    StripeEvent,
    User,
)
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


@pytest.fixture
def taxed_app(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("STRIPE_AUTOMATIC_TAX", "true")
    yield from serve(database_url, monkeypatch, tmp_path)


def _stripe(app: BillingServer) -> stripe.StripeClient:
    return stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})


def _customer(app: BillingServer, user: uuid.UUID) -> str:
    with session_scope(app.engine) as session:
        customer = session.get(User, user).stripe_customer_id
    assert customer
    return customer


def _checkout_ids(app: BillingServer, user: uuid.UUID) -> list[str]:
    with session_scope(app.engine) as session:
        return list(
            session.scalars(
                select(CheckoutRecord.id)
                .where(CheckoutRecord.user_id == user)
                .order_by(CheckoutRecord.created_at)
            ).all()
        )


def _grants(app: BillingServer, user: uuid.UUID) -> list[tuple[str, str, int]]:
    """The user's Stripe grants in the ledger: (source, key, delta), oldest first."""
    with session_scope(app.engine) as session:
        rows = session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.user_id == user, LedgerEntry.kind == "grant")
            .order_by(LedgerEntry.id)
        ).all()
        return [
            (row.source, row.idempotency_key, row.delta)
            for row in rows
            if row.source != GrantSource.SIGNUP
        ]


def _events(app: BillingServer, event_type: str) -> list[StripeEvent]:
    with session_scope(app.engine) as session:
        rows = session.scalars(select(StripeEvent).where(StripeEvent.type == event_type)).all()
        session.expunge_all()
        return list(rows)


def _signed(body: bytes, secret: str) -> str:
    at = int(time.time())
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _deliver(app: BillingServer, event: dict) -> httpx.Response:
    """POST an event signed with the app's endpoint secret, as Stripe delivers it."""
    body = json.dumps(event).encode()
    signature = _signed(body, app.gateway.config.webhook_secret)
    return httpx.post(
        f"{app.url}/api/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": signature},
        timeout=30,
    )


def _stripe_event(app: BillingServer, event_type: str) -> dict:
    """The newest event of this type as Stripe lists it (raw JSON, as it is delivered)."""
    response = httpx.get(
        f"{app.sandbox}/v1/events",
        params={"type": event_type, "limit": 1},
        headers={"Authorization": f"Bearer {app.api_key}"},
        timeout=30,
    )
    response.raise_for_status()
    (event,) = response.json()["data"]
    return event


# --- receipts -----------------------------------------------------------------------------


def test_a_pack_gets_one_paid_receipt_invoice_and_one_grant(app):
    user = make_user(app.engine)
    app.checkout(user, "pack_500")
    assert app.balance(user) == 100 + 500
    client = _stripe(app)
    (session_id,) = _checkout_ids(app, user)
    session = client.v1.checkout.sessions.retrieve(session_id)
    assert session.invoice_creation.enabled is True
    # One paid invoice for the customer: the pack's receipt (no subscription parent).
    invoices = client.v1.invoices.list(params={"customer": _customer(app, user)}).data
    assert [inv.id for inv in invoices] == [session.invoice]
    receipt = invoices[0]
    assert (receipt.status, receipt.parent, receipt.billing_reason) == ("paid", None, "manual")
    assert (receipt.amount_paid, receipt.currency) == (catalog.plan_by_id("pack_500").price, "usd")
    assert receipt.hosted_invoice_url
    # Granted once, by the checkout; the receipt's invoice.paid grants nothing.
    assert _grants(app, user) == [(GrantSource.PACK, keys.pack_grant(session.payment_intent), 500)]
    with session_scope(app.engine) as session_db:
        purchases = session_db.scalars(select(Purchase)).all()
        assert [
            (p.plan_id, p.stripe_payment_intent_id, p.stripe_invoice_id) for p in purchases
        ] == [("pack_500", session.payment_intent, None)]
    (completed,) = _events(app, "checkout.session.completed")
    assert completed.outcome == EventOutcome.APPLIED
    (paid,) = _events(app, "invoice.paid")
    assert paid.outcome == EventOutcome.IGNORED
    assert "not a subscription invoice" in paid.detail
    # The receipt's invoice links to the same payment: a refund still finds the pack.
    client.v1.refunds.create(params={"payment_intent": session.payment_intent})
    app.wait_idle()
    assert app.balance(user) == 100


def test_a_subscription_payment_refunded_is_found_by_its_invoice_and_taken_back(app):
    # The receipt is left out of the payment → invoice lookup; a subscription invoice is not.
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    client = _stripe(app)
    (session_id,) = _checkout_ids(app, user)
    invoice = client.v1.checkout.sessions.retrieve(session_id).invoice
    (payment,) = client.v1.invoice_payments.list(params={"invoice": invoice}).data
    half = catalog.plan_by_id("pro_monthly").price // 2
    client.v1.refunds.create(
        params={"payment_intent": payment.payment.payment_intent, "amount": half}
    )
    app.wait_idle()
    (refunded,) = _events(app, "charge.refunded")
    assert refunded.outcome == EventOutcome.APPLIED
    assert app.balance(user) == 100 + 1000 - 500


# --- automatic tax ------------------------------------------------------------------------


@pytest.mark.parametrize("plan_id", ["pack_500", "pro_monthly"])
def test_automatic_tax_reaches_checkout_when_on(taxed_app, plan_id):
    app = taxed_app
    user = make_user(app.engine)
    app.checkout(user, plan_id)
    client = _stripe(app)
    (session_id,) = _checkout_ids(app, user)
    session = client.v1.checkout.sessions.retrieve(session_id)
    assert session.automatic_tax.enabled is True
    assert session.billing_address_collection == "required"
    plan = catalog.plan_by_id(plan_id)
    assert app.balance(user) == 100 + plan.credits_granted  # no tax computed: same credits
    if plan.kind == "subscription":  # Checkout's subscription inherits it
        subscription = client.v1.subscriptions.retrieve(session.subscription)
        assert subscription.automatic_tax.enabled is True
    # The subscription's first invoice, or the pack's receipt.
    assert client.v1.invoices.retrieve(session.invoice).automatic_tax.enabled is True


@pytest.mark.parametrize("plan_id", ["pack_500", "pro_monthly"])
def test_automatic_tax_is_absent_by_default(app, plan_id):
    user = make_user(app.engine)
    app.checkout(user, plan_id)
    client = _stripe(app)
    (session_id,) = _checkout_ids(app, user)
    session = client.v1.checkout.sessions.retrieve(session_id)
    assert session.automatic_tax.enabled is False
    assert session.billing_address_collection is None
    assert client.v1.invoices.retrieve(session.invoice).automatic_tax.enabled is False


def test_automatic_tax_saves_the_address_on_an_existing_customer(taxed_app, monkeypatch):
    """`customer_update[address]=auto` goes with `automatic_tax` (Stripe refuses automatic
    tax for an existing customer without an address unless the collected one is saved).
    The sandbox checks it is sent only with a customer; the session object does not carry
    it, so the request is read on its way out."""
    app = taxed_app
    sent: list[dict] = []
    create = SessionService.create_async

    async def spy(self, params=None, options=None):
        sent.append(dict(params or {}))
        return await create(self, params=params, options=options)

    monkeypatch.setattr(SessionService, "create_async", spy)
    user = make_user(app.engine)
    app.checkout(user, "pack_500")
    (params,) = sent
    assert params["customer"] == _customer(app, user)
    assert params["customer_update"] == {"address": "auto"}
    assert params["automatic_tax"] == {"enabled": True}
    assert params["billing_address_collection"] == "required"


# --- an event made to fail on purpose -------------------------------------------------------


def _deliveries(app: BillingServer, event_id: str) -> list[int | None]:
    records = app.control("GET", "deliveries").json()["data"]
    (record,) = [r for r in records if r["id"] == event_id]
    return [attempt["status"] for attempt in record["attempts"]]


def test_an_api_error_fails_invoice_paid_then_stripes_retry_applies_it_once(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    # The renewal's invoice.paid is the first event to re-fetch the subscription: Stripe
    # answers that one request with a 500.
    app.control("POST", "api_faults", json={"method": "GET", "path": f"/v1/subscriptions/{sub_id}"})
    renewal = app.advance(user)  # waits for Stripe's retry too
    paid = _stripe_event(app, "invoice.paid")
    assert paid["data"]["object"]["id"] == renewal["id"]
    assert _deliveries(app, paid["id"]) == [500, 200]  # failed, then the retry applied it
    with session_scope(app.engine) as session:
        row = session.get(StripeEvent, paid["id"])
        assert (row.outcome, row.attempts) == (EventOutcome.APPLIED, 2)
    assert app.balance(user) == 100 + 2 * 1000
    assert [key for _, key, _ in _grants(app, user)].count(keys.invoice_grant(renewal["id"])) == 1
    assert app.control("GET", "api_faults").json()["data"] == []  # used up


def test_an_api_error_fails_invoice_paid_and_stripe_sync_applies_it_once(app):
    # Stripe gave up on the event (dropped for good); it is then delivered once more while
    # the subscription's re-fetch answers 500: recorded as failed, nothing granted.
    app.control("POST", "faults", json={"drop_types": ["invoice.paid"]})
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    assert app.balance(user) == 100
    sub_id = app.subscription(user).stripe_subscription_id
    paid = _stripe_event(app, "invoice.paid")
    app.control(
        "POST",
        "api_faults",
        json={"method": "GET", "path": f"/v1/subscriptions/{sub_id}", "count": 1},
    )
    response = _deliver(app, paid)
    assert (response.status_code, response.json()["outcome"]) == (500, "failed")
    with session_scope(app.engine) as session:
        row = session.get(StripeEvent, paid["id"])
        assert (row.outcome, row.attempts) == (EventOutcome.FAILED, 1)
        assert "unknown error" in row.error.lower()
        assert session.scalars(select(Purchase)).all() == []
    assert app.balance(user) == 100
    assert cli.main(["stripe-check"]) == 1  # Stripe was paid, nothing granted yet

    assert cli.main(["stripe-sync"]) == 0  # every event final
    with session_scope(app.engine) as session:
        row = session.get(StripeEvent, paid["id"])
        assert (row.outcome, row.attempts, row.error) == (EventOutcome.APPLIED, 2, None)
    invoice = paid["data"]["object"]["id"]
    assert _grants(app, user) == [(GrantSource.SUBSCRIPTION, keys.invoice_grant(invoice), 1000)]
    assert cli.main(["stripe-sync"]) == 0  # again: nothing more
    assert app.balance(user) == 100 + 1000
    assert cli.main(["stripe-check"]) == 0


# --- monthly → yearly through the portal ----------------------------------------------------


def test_monthly_to_yearly_in_the_portal_is_invoiced_now_and_grants_what_its_lines_bill(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    month = app.subscription(user).current_period_end
    app.control("POST", f"subscriptions/{sub_id}/clock", json={"seconds": 15 * 86400})
    done = app.change_plan(user, "pro_yearly")  # a longer interval: not scheduled
    assert done.status_code == 303
    sub = app.subscription(user)
    assert (sub.plan_id, sub.scheduled_plan_id) == ("pro_yearly", None)
    assert sub.current_period_end > month  # the billing date reset: a year from now

    # Stripe's invoice for the change: the unused monthly time credited, a full year billed.
    client = _stripe(app)
    invoice = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert (invoice.billing_reason, invoice.status) == ("subscription_update", "paid")
    prices = {
        plan_id: client.v1.prices.retrieve(price_id)
        for plan_id, price_id in (
            (p, client.v1.prices.list(params={"lookup_keys": [f"credit_app_{p}"]}).data[0].id)
            for p in ("pro_monthly", "pro_yearly")
        )
    }
    by_price = {price.id: plan_id for plan_id, price in prices.items()}
    lines = [
        (
            by_price[line.pricing.price_details.price],
            line.parent.subscription_item_details.proration,
            line.amount,
        )
        for line in invoice.lines.data
    ]
    (unused,) = [amount for plan_id, proration, amount in lines if plan_id == "pro_monthly"]
    assert ("pro_yearly", False, 12000) in lines and len(lines) == 2
    assert -1200 < unused < 0 and abs(unused + 600) <= 60  # about half the month unused
    assert invoice.amount_paid == 12000 + unused  # the year less the unused month

    # Credits = what the lines bill: 12,000 for the year, less the unused month's share.
    expected = math.floor(12000 + Fraction(1000 * unused, 1200))
    assert 11_400 <= expected <= 11_600
    first = client.v1.checkout.sessions.retrieve(_checkout_ids(app, user)[0]).invoice
    assert _grants(app, user) == [
        (GrantSource.SUBSCRIPTION, keys.invoice_grant(first), 1000),
        # A yearly invoice delivers month 1 of 12 at once (billing/drip.py).
        (
            GrantSource.SUBSCRIPTION,
            keys.invoice_grant(invoice.id),
            expected - 11 * (expected // 12),
        ),
    ]
    assert app.balance(user) == 100 + 1000 + expected - 11 * (expected // 12)


# --- a discounted upgrade through the portal ------------------------------------------------


def _upgrade_half_way(app: BillingServer, user: uuid.UUID) -> Purchase:
    """Pro, then Business in the portal half-way through the month; the upgrade's grant."""
    app.checkout(user, "pro_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    app.control("POST", f"subscriptions/{sub_id}/clock", json={"seconds": 15 * 86400})
    assert app.change_plan(user, "business_monthly").status_code == 303
    assert app.subscription(user).plan_id == "business_monthly"
    invoice_id = _stripe(app).v1.subscriptions.retrieve(sub_id).latest_invoice
    with session_scope(app.engine) as session:
        (purchase,) = session.scalars(
            select(Purchase).where(Purchase.stripe_invoice_id == invoice_id)
        ).all()
        session.expunge(purchase)
    return purchase


def test_a_discounted_upgrade_in_the_portal_grants_the_pre_discount_difference(app, monkeypatch):
    """A 50%-off forever coupon (the operator's promotion): the upgrade costs half, and
    grants what it grants without the coupon, because Checkout creates the subscription
    with itemized proration discounts and credits follow the lines' pre-discount subtotal."""
    plain = make_user(app.engine)
    full_price = _upgrade_half_way(app, plain)

    client = _stripe(app)
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    sent: list[dict] = []
    create = SessionService.create_async

    async def with_coupon(self, params=None, options=None):
        params = {**(params or {}), "discounts": [{"coupon": coupon.id}]}
        sent.append(params)
        return await create(self, params=params, options=options)

    monkeypatch.setattr(SessionService, "create_async", with_coupon)
    user = make_user(app.engine)
    discounted = _upgrade_half_way(app, user)
    (params,) = sent
    assert params["subscription_data"]["billing_mode"] == {
        "type": "flexible",
        "flexible": {"proration_discounts": "itemized"},
    }
    sub = client.v1.subscriptions.retrieve(app.subscription(user).stripe_subscription_id)
    assert sub.billing_mode.flexible.proration_discounts == "itemized"

    # Stripe's invoice: gross prorations, the coupon's half of each in discount_amounts.
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    credit, debit = sorted(invoice.lines.data, key=lambda line: line.amount)
    assert credit.amount == credit.subtotal < 0 < debit.amount == debit.subtotal
    assert abs(credit.amount + 600) <= 60 and abs(debit.amount - 2450) <= 245  # about half
    for line in (credit, debit):
        (off,) = line.discount_amounts
        assert abs(2 * off.amount - line.amount) <= 1
    assert invoice.amount_paid == invoice.total < invoice.subtotal
    assert abs(2 * invoice.amount_paid - invoice.subtotal) <= 2  # the customer paid half

    # Credits: the prorated difference before the discount, the same as at full price.
    pro, business = catalog.plan_by_id("pro_monthly"), catalog.plan_by_id("business_monthly")
    expected = math.floor(
        Fraction(pro.credits_granted * credit.subtotal, pro.price)
        + Fraction(business.credits_granted * debit.subtotal, business.price)
    )
    assert discounted.credits_granted == expected
    assert abs(discounted.credits_granted - full_price.credits_granted) <= 1
    assert 1900 <= discounted.credits_granted <= 2100
    assert app.balance(user) == 100 + 1000 + discounted.credits_granted
