"""Issue #10 over real HTTP (app webhook route ↔ embedded Stripe sandbox), on SQLite and
PostgreSQL, for what was so far tested with signed payloads only: $0 invoices (paid from
customer balance, or with a 100%-off coupon), a multi-line renewal (pending prorations
swept in first, then the period line), each dispute path through the sandbox's dispute
control, and a checkout naming another account's Stripe customer. Every test runs with
the sandbox delivering each event three times, concurrently, in shuffled order, and
asserts the credits, the ledger rows and the recorded outcomes exactly: granted once."""

import json
import math
import uuid
from fractions import Fraction

import pytest
import stripe
from sqlalchemy import select
from stripe.checkout import SessionService

from credit_app.billing import catalog
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.credits import keys
from credit_app.db import session_scope
from credit_app.models import (
    EventOutcome,
    GrantSource,
    LedgerEntry,
    Purchase,
    PurchaseLine,
    StripeEvent,
    User,
    UserSubscription,
)
from tests import async_run
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve

MESSY = {"duplicate": 3, "concurrent": True, "shuffle": True}


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    for server in serve(database_url, monkeypatch, tmp_path):
        server.control("POST", "faults", json=MESSY)
        yield server


def _stripe(app: BillingServer) -> stripe.StripeClient:
    return stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})


def _price(app: BillingServer, plan_id: str) -> str:
    gateway = StripeGateway(app.gateway.config)
    return async_run.run(gateway.ensure_price(catalog.plan_by_id(plan_id)))


def _customer(app: BillingServer, user: uuid.UUID) -> str | None:
    with session_scope(app.engine) as session:
        return session.get(User, user).stripe_customer_id


def _ledger(app: BillingServer, user: uuid.UUID) -> list[tuple[str, str | None, str, int]]:
    """The user's ledger rows after the signup grant: (kind, source, key, delta)."""
    with session_scope(app.engine) as session:
        rows = session.scalars(
            select(LedgerEntry).where(LedgerEntry.user_id == user).order_by(LedgerEntry.id)
        ).all()
        return [
            (row.kind, row.source, row.idempotency_key, row.delta)
            for row in rows
            if row.source != GrantSource.SIGNUP
        ]


def _purchase(app: BillingServer, invoice_id: str) -> tuple[Purchase, list[PurchaseLine]]:
    with session_scope(app.engine) as session:
        purchase = session.scalars(
            select(Purchase).where(Purchase.stripe_invoice_id == invoice_id)
        ).one()
        lines = session.scalars(
            select(PurchaseLine)
            .where(PurchaseLine.purchase_id == purchase.id)
            .order_by(PurchaseLine.id)
        ).all()
        session.expunge_all()
        return purchase, list(lines)


def _outcomes(app: BillingServer, event_type: str) -> list[tuple[str, EventOutcome, str | None]]:
    """Each event of this type as recorded (one row per event, however many copies came):
    (the object's id, outcome, detail), sorted."""
    with session_scope(app.engine) as session:
        rows = session.scalars(select(StripeEvent).where(StripeEvent.type == event_type)).all()
        return sorted(
            (json.loads(row.payload or "{}")["data"]["object"]["id"], row.outcome, row.detail)
            for row in rows
        )


def _delivered_copies(app: BillingServer, event_type: str) -> list[int]:
    """How many attempts the sandbox made for each event of this type (the faults)."""
    records = app.control("GET", "deliveries").json()["data"]
    return [len(r["attempts"]) for r in records if r["type"] == event_type]


def _proration_lines(invoice) -> list[tuple[str, bool, int]]:
    return [
        (
            line.pricing.price_details.price,
            line.parent.subscription_item_details.proration,
            line.subtotal,
        )
        for line in invoice.lines.data
    ]


def _credits(lines: list[tuple[str, bool, int]], prices: dict[str, str]) -> int:
    """README "Credits follow money": plan credits * line subtotal / unit amount, summed,
    rounded down, never below zero."""
    total = sum(
        Fraction(
            catalog.plan_by_id(prices[price]).credits_granted * amount,
            catalog.plan_by_id(prices[price]).price,
        )
        for price, _, amount in lines
    )
    return max(0, math.floor(total))


def _item(client: stripe.StripeClient, sub_id: str) -> str:
    return client.v1.subscriptions.retrieve(sub_id).items.data[0].id


# --- $0 invoices ----------------------------------------------------------------------------


def test_a_downgrade_credited_to_the_balance_then_a_renewal_paid_from_it_grant_by_lines(app):
    user = make_user(app.engine)
    app.checkout(user, "business_monthly")
    assert _delivered_copies(app, "invoice.paid") == [3]  # the faults are on
    sub_id = app.subscription(user).stripe_subscription_id
    client = _stripe(app)
    first = client.v1.subscriptions.retrieve(sub_id).latest_invoice
    pro, business = _price(app, "pro_monthly"), _price(app, "business_monthly")
    prices = {pro: "pro_monthly", business: "business_monthly"}

    # Half-way through the month, down to Pro, invoiced now: the unused Business time is
    # worth more than the remaining Pro time, so Stripe credits the difference to the
    # customer balance and the invoice is paid with nothing.
    app.control("POST", f"subscriptions/{sub_id}/clock", json={"seconds": 15 * 86400})
    client.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": _item(client, sub_id), "price": pro}],
            "proration_behavior": "always_invoice",
        },
    )
    app.wait_idle()
    assert app.subscription(user).plan_id == "pro_monthly"
    change = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert (change.billing_reason, change.status, change.amount_paid) == (
        "subscription_update",
        "paid",
        0,
    )
    lines = _proration_lines(change)
    assert [(prices[p], proration) for p, proration, _ in lines] == [
        ("business_monthly", True),
        ("pro_monthly", True),
    ]
    assert change.total < 0 and change.ending_balance == change.total
    owed = -change.total
    assert client.v1.customers.retrieve(_customer(app, user)).balance == -owed
    assert _credits(lines, prices) == 0  # a downgrade's prorations grant nothing
    change_purchase, _ = _purchase(app, change.id)
    assert (change_purchase.amount_paid, change_purchase.credits_granted) == (0, 0)

    # The renewal: a full month of Pro, paid in full from the balance (amount_paid 0), grants
    # the plan's credits.
    renewal = client.v1.invoices.retrieve(app.advance(user)["id"])
    assert (renewal.billing_reason, renewal.status, renewal.amount_paid) == (
        "subscription_cycle",
        "paid",
        0,
    )
    assert renewal.starting_balance == -owed and renewal.subtotal == 1200
    assert _proration_lines(renewal) == [(pro, False, 1200)]
    purchase, recorded = _purchase(app, renewal.id)
    assert (purchase.plan_id, purchase.amount_paid, purchase.credits_granted) == (
        "pro_monthly",
        0,
        1000,
    )
    assert [(line.plan_id, line.amount, line.credits) for line in recorded] == [
        ("pro_monthly", 1200, 1000)
    ]
    assert _ledger(app, user) == [
        ("grant", GrantSource.SUBSCRIPTION, keys.invoice_grant(first), 5000),
        ("grant", GrantSource.SUBSCRIPTION, keys.invoice_grant(renewal.id), 1000),
    ]
    assert app.balance(user) == 100 + 5000 + 1000
    assert sorted((i, o) for i, o, _ in _outcomes(app, "invoice.paid")) == sorted(
        [
            (first, EventOutcome.APPLIED),
            (change.id, EventOutcome.APPLIED),
            (renewal.id, EventOutcome.APPLIED),
        ]
    )
    assert _delivered_copies(app, "invoice.paid") == [3, 3, 3]


def test_a_hundred_percent_off_coupon_grants_the_plan_credits_for_each_free_invoice(
    app, monkeypatch
):
    client = _stripe(app)
    coupon = client.v1.coupons.create(params={"percent_off": 100, "duration": "forever"})
    create = SessionService.create_async

    async def with_coupon(self, params=None, options=None):
        params = {**(params or {}), "discounts": [{"coupon": coupon.id}]}
        return await create(self, params=params, options=options)

    monkeypatch.setattr(SessionService, "create_async", with_coupon)
    user = make_user(app.engine)
    app.checkout(user, "business_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    first = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub_id).latest_invoice)
    renewal = client.v1.invoices.retrieve(app.advance(user)["id"])
    business = _price(app, "business_monthly")
    for invoice in (first, renewal):
        assert (invoice.status, invoice.amount_paid, invoice.total) == ("paid", 0, 0)
        assert invoice.subtotal == 4900
        assert _proration_lines(invoice) == [(business, False, 4900)]
        purchase, recorded = _purchase(app, invoice.id)
        assert (purchase.amount_paid, purchase.credits_granted) == (0, 5000)
        assert [(line.plan_id, line.amount, line.credits) for line in recorded] == [
            ("business_monthly", 4900, 5000)
        ]
    assert _ledger(app, user) == [
        ("grant", GrantSource.SUBSCRIPTION, keys.invoice_grant(first.id), 5000),
        ("grant", GrantSource.SUBSCRIPTION, keys.invoice_grant(renewal.id), 5000),
    ]
    assert app.balance(user) == 100 + 2 * 5000
    assert [(i, o) for i, o, _ in _outcomes(app, "invoice.paid")] == sorted(
        [(first.id, EventOutcome.APPLIED), (renewal.id, EventOutcome.APPLIED)]
    )
    assert _delivered_copies(app, "invoice.paid") == [3, 3]


# --- a multi-line invoice -------------------------------------------------------------------


def test_pending_prorations_then_the_renewal_grant_the_sum_of_the_lines_once(app):
    user = make_user(app.engine)
    app.checkout(user, "pro_monthly")
    sub_id = app.subscription(user).stripe_subscription_id
    client = _stripe(app)
    first = client.v1.subscriptions.retrieve(sub_id).latest_invoice
    pro, business = _price(app, "pro_monthly"), _price(app, "business_monthly")
    prices = {pro: "pro_monthly", business: "business_monthly"}

    # Half-way, up to Business with create_prorations: two pending items, no invoice yet.
    app.control("POST", f"subscriptions/{sub_id}/clock", json={"seconds": 15 * 86400})
    client.v1.subscriptions.update(
        sub_id,
        params={
            "items": [{"id": _item(client, sub_id), "price": business}],
            "proration_behavior": "create_prorations",
        },
    )
    app.wait_idle()
    assert app.subscription(user).plan_id == "business_monthly"
    assert client.v1.subscriptions.retrieve(sub_id).latest_invoice == first
    pending = client.v1.invoice_items.list(
        params={"customer": _customer(app, user), "pending": True}
    ).data
    assert len(pending) == 2
    assert app.balance(user) == 100 + 1000  # nothing invoiced, nothing granted

    # The renewal sweeps them in first, then bills the Business month.
    renewal = client.v1.invoices.retrieve(app.advance(user)["id"])
    lines = _proration_lines(renewal)
    assert [(prices[p], proration) for p, proration, _ in lines] == [
        ("pro_monthly", True),
        ("business_monthly", True),
        ("business_monthly", False),
    ]
    (unused, remaining, period) = (amount for _, _, amount in lines)
    assert -1200 < unused < 0 < remaining < 4900 and period == 4900
    assert abs(unused + 600) <= 60 and abs(remaining - 2450) <= 245  # about half a month
    assert renewal.amount_paid == unused + remaining + period
    expected = _credits(lines, prices)
    assert expected == math.floor(
        Fraction(1000 * unused, 1200) + Fraction(5000 * remaining, 4900) + 5000
    )
    assert 6_800 <= expected <= 7_200
    purchase, recorded = _purchase(app, renewal.id)
    assert purchase.credits_granted == expected
    assert [(line.plan_id, line.amount, line.proration) for line in recorded] == [
        ("pro_monthly", unused, True),
        ("business_monthly", remaining, True),
        ("business_monthly", 4900, False),
    ]
    assert sum(line.credits for line in recorded) == expected
    assert _ledger(app, user) == [
        ("grant", GrantSource.SUBSCRIPTION, keys.invoice_grant(first), 1000),
        ("grant", GrantSource.SUBSCRIPTION, keys.invoice_grant(renewal.id), expected),
    ]
    assert app.balance(user) == 100 + 1000 + expected
    assert [(i, o) for i, o, _ in _outcomes(app, "invoice.paid")] == sorted(
        [(first, EventOutcome.APPLIED), (renewal.id, EventOutcome.APPLIED)]
    )
    assert _delivered_copies(app, "invoice.paid") == [3, 3]


# --- disputes -------------------------------------------------------------------------------


def _bought_pack(app: BillingServer, user: uuid.UUID) -> tuple[Purchase, str]:
    app.checkout(user, "pack_2000")
    assert app.balance(user) == 100 + 2000
    with session_scope(app.engine) as session:
        (purchase,) = session.scalars(select(Purchase).where(Purchase.user_id == user)).all()
        session.expunge(purchase)
    charge = _stripe(app).v1.payment_intents.retrieve(purchase.stripe_payment_intent_id)
    return purchase, charge.latest_charge


@pytest.mark.parametrize(
    ("opened", "moves", "balances", "taken", "restored"),
    [
        # An inquiry: no money moved, nothing taken, before or after it closes.
        ("warning_needs_response", ["warning_closed"], [2100, 2100], False, False),
        # A chargeback takes back; lost keeps it taken.
        ("needs_response", ["lost"], [100, 100], True, False),
        # A chargeback takes back; won restores it.
        ("needs_response", ["under_review", "won"], [100, 100, 2100], True, True),
        # Visa RDR refunded the cardholder before a chargeback: the money went back.
        ("prevented", [], [100], True, False),
    ],
    ids=["inquiry", "chargeback-lost", "chargeback-won", "prevented"],
)
def test_a_dispute_through_the_sandbox_follows_its_status(
    app, opened, moves, balances, taken, restored
):
    user = make_user(app.engine)
    purchase, charge = _bought_pack(app, user)
    dispute = app.control("POST", f"charges/{charge}/dispute", json={"status": opened}).json()
    assert dispute["status"] == opened
    app.wait_idle()
    seen = [app.balance(user)]
    for status in moves:
        app.control("POST", f"disputes/{dispute['id']}/status", json={"status": status})
        app.wait_idle()
        seen.append(app.balance(user))
    assert seen == balances

    expected = [
        ("grant", GrantSource.PACK, keys.pack_grant(purchase.stripe_payment_intent_id), 2000)
    ]
    if taken:
        expected.append(
            ("clawback", None, keys.dispute_takeback(purchase.id, dispute["id"]), -2000)
        )
    if restored:
        expected.append(
            (
                "grant",
                GrantSource.DISPUTE_WON,
                keys.dispute_restore(purchase.id, dispute["id"]),
                2000,
            )
        )
    assert _ledger(app, user) == expected

    events = [
        (event_type, outcome, detail)
        for event_type in (
            "charge.dispute.created",
            "charge.dispute.updated",
            "charge.dispute.closed",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.funds_reinstated",
        )
        for _, outcome, detail in _outcomes(app, event_type)
    ]
    # One row per event, however many copies came: the take-back and the restore are each
    # applied by one event, the others find them done.
    applied = [outcome for _, outcome, _ in events if outcome == EventOutcome.APPLIED]
    assert len(applied) == taken + restored
    if not taken:
        assert {outcome for _, outcome, _ in events} == {EventOutcome.IGNORED}
        assert all("no money moved" in detail for _, _, detail in events)
    records = app.control("GET", "deliveries").json()["data"]
    assert all(len(r["attempts"]) == 3 for r in records if r["type"].startswith("charge.dispute."))


# --- another account's customer -------------------------------------------------------------


@pytest.mark.parametrize("plan_id", ["pack_2000", "business_monthly"])
def test_a_checkout_naming_another_accounts_customer_grants_nothing_to_either(app, plan_id):
    victim = make_user(app.engine)
    app.checkout(victim, "pack_500")
    victim_customer = _customer(app, victim)
    assert victim_customer and app.balance(victim) == 600
    victim_ledger = _ledger(app, victim)

    # Someone creates a Checkout Session (not through the app) naming the victim's customer
    # but their own account, and pays it.
    user = make_user(app.engine)
    plan = catalog.plan_by_id(plan_id)
    metadata = {"user_id": str(user), "plan_id": plan_id}
    params: dict = {
        "mode": "subscription" if plan.kind == "subscription" else "payment",
        "customer": victim_customer,
        "client_reference_id": str(user),
        "metadata": metadata,
        "line_items": [{"price": _price(app, plan_id), "quantity": 1}],
        "success_url": f"{app.url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{app.url}/pricing",
    }
    if plan.kind == "subscription":
        params["subscription_data"] = {"metadata": metadata}
    else:
        params["payment_intent_data"] = {"metadata": metadata}
    client = _stripe(app)
    session = client.v1.checkout.sessions.create(params=params)
    app.control("POST", f"checkout/{session.id}/pay", json={})
    app.wait_idle()
    assert _delivered_copies(app, "checkout.session.completed") == [3, 3]
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"

    completed = [
        row for row in _outcomes(app, "checkout.session.completed") if row[0] == session.id
    ]
    ((_, outcome, detail),) = completed
    assert outcome == EventOutcome.IGNORED
    assert detail.startswith("refused:") and "belongs to another account" in detail
    if plan.kind == "subscription":
        sub = client.v1.checkout.sessions.retrieve(session.id).subscription
        invoice = client.v1.subscriptions.retrieve(sub).latest_invoice
        ((_, paid, _),) = [row for row in _outcomes(app, "invoice.paid") if row[0] == invoice]
        assert paid == EventOutcome.IGNORED
        with session_scope(app.engine) as db:
            assert db.scalars(select(UserSubscription)).all() == []
    assert (app.balance(user), app.balance(victim)) == (100, 600)
    assert _ledger(app, user) == []
    assert _ledger(app, victim) == victim_ledger
    assert _customer(app, user) is None
    with session_scope(app.engine) as db:
        assert [p.user_id for p in db.scalars(select(Purchase)).all()] == [victim]
