"""Credits follow money (issue #10): a subscription invoice grants, for each line billing
one of our plan prices, plan credits x the line's amount before discounts / the price's
unit amount, prorations with their sign, summed, rounded down, never below zero, once
per invoice; packs grant only for their price and currency, and only to the account the
customer belongs to.

Every event is signed as Stripe signs it, verified by the app's gateway and run through
`process_event` (the webhook route's own path: the fetch plan, the claim, the handler),
against Stripe's API stubbed at the gateway boundary with Stripe-shaped objects (API
2026-10-28: `pricing.price_details.price`, `parent.subscription_item_details.proration`,
prorations placed first). Each scenario is also delivered duplicated and shuffled."""

import json
import random
import time
import uuid

import pytest
import stripe
from sqlalchemy import select

from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway
from credit_app.billing.webhooks import process_event
from credit_app.db import session_scope
from credit_app.models import (
    EventOutcome,
    LedgerEntry,
    Purchase,
    PurchaseLine,
    StripeEvent,
    User,
)
from tests import async_run
from tests import stripe_payloads as sp
from tests.factories import make_user
from tests.integration.conftest import balance

APPLIED, IGNORED, DUPLICATE = EventOutcome.APPLIED, EventOutcome.IGNORED, EventOutcome.DUPLICATE
SECRET = "whsec_credits_follow_money"
DAY = 86400


class StripeAPI:
    """Stripe's API at the gateway boundary: the current state of each object, as the
    app re-fetches it; records what was asked."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self.lines: dict[str, list[dict]] = {}
        self.disputes: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []

    async def retrieve_subscription(self, subscription_id):
        self.calls.append(("subscription", subscription_id))
        return self.subscriptions[subscription_id]

    async def retrieve_price(self, price_id):
        self.calls.append(("price", price_id))
        return self.prices[price_id]

    async def list_invoice_lines(self, invoice_id):
        self.calls.append(("lines", invoice_id))
        return self.lines[invoice_id]

    async def retrieve_dispute(self, dispute_id):
        self.calls.append(("dispute", dispute_id))
        return self.disputes[dispute_id]

    async def invoice_for_payment_intent(self, payment_intent_id):
        self.calls.append(("payment_invoice", payment_intent_id))
        return None


_VERIFIER = StripeGateway(StripeConfig(secret_key="sk_test_unused", webhook_secret=SECRET))


def _signed(event: dict) -> dict:
    """The event as the webhook route receives it: signed by Stripe, verified by us."""
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{body.decode()}", SECRET)
    return _VERIFIER.verify_event(body, f"t={timestamp},v1={signature}")


def deliver(engine, api: StripeAPI, event: dict):
    return async_run.run(process_event(api, _signed(event), livemode=False, engine=engine))


def deliver_shuffled(engine, api: StripeAPI, events: list[dict], *, seed: int = 7):
    """Each event three times, plus each invoice.paid again under a new event id (another
    event reporting the same invoice), in a shuffled order."""
    batch = [event for event in events for _ in range(3)]
    batch += [
        sp.event(e["type"], e["data"]["object"]) for e in events if e["type"] == "invoice.paid"
    ]
    random.Random(seed).shuffle(batch)
    return [deliver(engine, api, event) for event in batch]


def purchase_of(engine, invoice_id: str) -> tuple[Purchase, list[PurchaseLine]]:
    with session_scope(engine) as session:
        purchase = session.scalar(select(Purchase).where(Purchase.stripe_invoice_id == invoice_id))
        assert purchase is not None
        lines = session.scalars(
            select(PurchaseLine)
            .where(PurchaseLine.purchase_id == purchase.id)
            .order_by(PurchaseLine.id)
        ).all()
        session.expunge_all()
    return purchase, list(lines)


def grants_of(engine, user_id: str) -> list[int]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(LedgerEntry.delta)
                .where(
                    LedgerEntry.user_id == uuid.UUID(user_id),
                    LedgerEntry.idempotency_key.startswith("stripe:invoice:"),
                )
                .order_by(LedgerEntry.id)
            )
        )


class Customer:
    """One subscriber and the Stripe objects of their subscription, kept current in the
    stub as the subscription changes."""

    def __init__(self, engine, api: StripeAPI, user_id: str, customer: str, plan_id: str):
        self.engine, self.api = engine, api
        self.sub = sp.subscription(user_id, customer, plan_id)
        self.api.subscriptions[self.sub["id"]] = self.sub
        self.price = self.sub["items"]["data"][0]["price"]
        self.start = self.sub["items"]["data"][0]["current_period_start"]

    def switch_to(self, plan_id: str, interval: str = "month") -> dict:
        """The subscription on a new price now (what Stripe answers once it changed)."""
        new = sp.price(plan_id, interval)
        item = {**self.sub["items"]["data"][0], "price": new}
        self.sub = {
            **self.sub,
            "metadata": {**self.sub["metadata"], "plan_id": plan_id},
            "items": {"object": "list", "data": [item]},
        }
        self.api.subscriptions[self.sub["id"]] = self.sub
        return new

    def invoice(self, lines: list[dict], *, reason: str, amount_paid: int | None = None):
        total = sum(line["amount"] for line in lines)
        inv = sp.invoice(self.sub, amount=max(total, 0), reason=reason, lines=lines)
        if amount_paid is not None:
            inv["amount_paid"] = amount_paid
        return inv

    def first_invoice(self) -> dict:
        return self.invoice(
            [sp.line(self.price["id"], self.price["unit_amount"], sub=self.sub)],
            reason="subscription_create",
        )


def _paid(inv: dict) -> dict:
    return sp.event("invoice.paid", inv)


def _updated(sub: dict) -> dict:
    return sp.event("customer.subscription.updated", sub)


# --- subscription invoices --------------------------------------------------------------


def test_an_upgrade_mid_period_grants_the_prorated_difference_once(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    pro = Customer(engine, api, user_id, customer, "pro_monthly")
    first = pro.first_invoice()
    old_price = pro.price
    api.prices[old_price["id"]] = old_price  # the old price is no longer the subscription's
    business = pro.switch_to("business_monthly")
    half = pro.start + 15 * DAY
    # Stripe's upgrade invoice (always_invoice): prorations only, placed first: the unused
    # half of Pro credited, the remaining half of Business charged.
    upgrade = pro.invoice(
        [
            sp.line(old_price["id"], -600, sub=pro.sub, proration=True, start=half),
            sp.line(business["id"], 2450, sub=pro.sub, proration=True, start=half),
        ],
        reason="subscription_update",
    )
    events = [_paid(first), _updated(pro.sub), _paid(upgrade)]
    outcomes = deliver_shuffled(engine, api, events)
    # 1,000 for Pro, then 5,000 x 2450/4900 - 1,000 x 600/1200 = 2,000 for the upgrade.
    assert balance(engine, user_id) == 100 + 1000 + 2000
    assert grants_of(engine, user_id) == [1000, 2000] or grants_of(engine, user_id) == [
        2000,
        1000,
    ]
    assert sum(o.outcome is APPLIED for o in outcomes if o.type == "invoice.paid") == 2
    purchase, lines = purchase_of(engine, upgrade["id"])
    assert (purchase.credits_granted, purchase.plan_id) == (2000, "business_monthly")
    assert [(line.plan_id, line.amount, line.credits, line.proration) for line in lines] == [
        ("pro_monthly", -600, -500, True),
        ("business_monthly", 2450, 2500, True),
    ]
    assert lines[0].stripe_line_id == upgrade["lines"]["data"][0]["id"]
    assert lines[0].period_start is not None and lines[0].period_end is not None


def test_a_downgrade_with_always_invoice_grants_nothing_and_takes_nothing(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    biz = Customer(engine, api, user_id, customer, "business_monthly")
    first = biz.first_invoice()
    old_price = biz.price
    api.prices[old_price["id"]] = old_price
    pro = biz.switch_to("pro_monthly")
    half = biz.start + 15 * DAY
    # -2,450 + 600: negative; Stripe keeps it as customer balance and marks the invoice paid.
    downgrade = biz.invoice(
        [
            sp.line(old_price["id"], -2450, sub=biz.sub, proration=True, start=half),
            sp.line(pro["id"], 600, sub=biz.sub, proration=True, start=half),
        ],
        reason="subscription_update",
        amount_paid=0,
    )
    deliver_shuffled(engine, api, [_paid(first), _updated(biz.sub), _paid(downgrade)])
    assert balance(engine, user_id) == 100 + 5000  # no negative grant, nothing taken
    assert grants_of(engine, user_id) == [5000]
    purchase, lines = purchase_of(engine, downgrade["id"])
    assert purchase.credits_granted == 0
    assert [line.credits for line in lines] == [-2500, 500]
    # The renewal, paid from that customer balance ($0 charged), grants the lower plan.
    renewal = biz.invoice(
        [sp.line(pro["id"], 1200, sub=biz.sub, start=biz.start + 30 * DAY)],
        reason="subscription_cycle",
        amount_paid=0,
    )
    assert deliver(engine, api, _paid(renewal)).outcome is APPLIED
    assert balance(engine, user_id) == 100 + 5000 + 1000


def first_month_of(year: int) -> int:
    """What a yearly invoice granting `year` credits delivers at once: month 1 of 12 takes
    what does not divide evenly (billing/drip.py)."""
    return year - 11 * (year // 12)


def test_monthly_to_yearly_grants_the_year_less_the_unused_month(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "pro_monthly")
    first = sub.first_invoice()
    monthly = sub.price
    api.prices[monthly["id"]] = monthly
    yearly = sub.switch_to("pro_yearly", "year")
    half = sub.start + 15 * DAY
    # An interval change bills at once: the unused month credited, a full year charged.
    change = sub.invoice(
        [
            sp.line(monthly["id"], -600, sub=sub.sub, proration=True, start=half),
            sp.line(yearly["id"], 12000, sub=sub.sub, start=half, end=half + 365 * DAY),
        ],
        reason="subscription_update",
    )
    deliver_shuffled(engine, api, [_paid(first), _updated(sub.sub), _paid(change)])
    # A yearly invoice's credits arrive monthly (billing/drip.py): month 1 of 12 now.
    assert balance(engine, user_id) == 100 + 1000 + first_month_of(12000 - 500)
    purchase, lines = purchase_of(engine, change["id"])
    assert purchase.plan_id == "pro_yearly"  # the full-period line's plan
    assert [(line.plan_id, line.credits) for line in lines] == [
        ("pro_monthly", -500),
        ("pro_yearly", 12000),
    ]


def test_yearly_to_monthly_on_day_one_grants_nothing_more(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "pro_yearly")
    first = sub.first_invoice()
    yearly = sub.price
    api.prices[yearly["id"]] = yearly
    monthly = sub.switch_to("pro_monthly")
    # Day one: almost the whole year credited back, a month charged: a $0 invoice.
    change = sub.invoice(
        [
            sp.line(yearly["id"], -11967, sub=sub.sub, proration=True, start=sub.start + DAY),
            sp.line(monthly["id"], 1200, sub=sub.sub, start=sub.start + DAY),
        ],
        reason="subscription_update",
        amount_paid=0,
    )
    deliver_shuffled(engine, api, [_paid(first), _updated(sub.sub), _paid(change)])
    assert balance(engine, user_id) == 100 + first_month_of(12000)
    assert purchase_of(engine, change["id"])[0].credits_granted == 0


def test_a_zero_invoice_paid_from_the_balance_grants_what_its_lines_say(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "pro_monthly")
    # A renewal the customer balance paid in full: amount_paid 0, a full month billed.
    from_balance = sub.invoice(
        [sp.line(sub.price["id"], 1200, sub=sub.sub)], reason="subscription_cycle", amount_paid=0
    )
    from_balance["starting_balance"], from_balance["amount_due"] = -1200, 0
    # A trial line: $0 billed, nothing granted (trials are not offered).
    trial = sub.invoice([sp.line(sub.price["id"], 0, sub=sub.sub)], reason="subscription_create")
    outcomes = deliver_shuffled(engine, api, [_paid(from_balance), _paid(trial)])
    assert balance(engine, user_id) == 100 + 1000
    assert purchase_of(engine, trial["id"])[0].credits_granted == 0
    assert {o.outcome for o in outcomes} == {APPLIED, DUPLICATE}


def test_a_multi_line_invoice_grants_each_line_of_ours_and_fetches_the_rest(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "pro_monthly")
    business = sp.price("business_monthly")
    foreign = {**sp.price("pro_monthly"), "lookup_key": "other_product", "metadata": {}}
    api.prices.update({business["id"]: business, foreign["id"]: foreign})
    lines = [
        sp.line(sub.price["id"], 2400, sub=sub.sub, quantity=2),  # two seats of Pro
        sp.line(business["id"], 4900, sub=sub.sub),
        sp.line(foreign["id"], 999, sub=sub.sub),  # another product's price: not ours
    ]
    inv = sub.invoice(lines, reason="subscription_cycle")
    # The event carries only the first line; Stripe has the rest (`has_more`).
    api.lines[inv["id"]] = inv["lines"]["data"]
    inv["lines"] = {**inv["lines"], "data": inv["lines"]["data"][:1], "has_more": True}
    deliver_shuffled(engine, api, [_paid(inv)])
    assert balance(engine, user_id) == 100 + 2000 + 5000
    purchase, recorded = purchase_of(engine, inv["id"])
    assert purchase.credits_granted == 7000
    assert [line.plan_id for line in recorded] == ["pro_monthly", "business_monthly"]
    assert ("lines", inv["id"]) in api.calls


def test_a_coupon_does_not_cut_credits(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "business_monthly")
    # 100% off: Stripe bills nothing, the line's subtotal (before discounts) is the price.
    free = sub.invoice(
        [sp.line(sub.price["id"], 4900, sub=sub.sub, discount=4900)],
        reason="subscription_create",
        amount_paid=0,
    )
    half = sub.invoice(
        [sp.line(sub.price["id"], 4900, sub=sub.sub, discount=2450)], reason="subscription_cycle"
    )
    assert free["lines"]["data"][0]["amount"] == 0
    deliver_shuffled(engine, api, [_paid(free), _paid(half)])
    assert balance(engine, user_id) == 100 + 5000 + 5000


def test_a_repriced_plan_still_grants_its_credits_for_a_full_period(engine, buyer):
    # A subscription kept on the plan's old price (before a price change) pays that price.
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "pro_monthly")
    old = sp.price("pro_monthly", unit_amount=1000)
    api.prices[old["id"]] = old
    inv = sub.invoice([sp.line(old["id"], 1000, sub=sub.sub)], reason="subscription_cycle")
    assert deliver(engine, api, _paid(inv)).outcome is APPLIED
    assert balance(engine, user_id) == 100 + 1000


def test_an_invoice_that_is_not_a_subscription_invoice_grants_nothing_here(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "pro_monthly")
    # A pack's receipt (Checkout `invoice_creation`): no subscription parent.
    receipt = {**sub.first_invoice(), "parent": None, "billing_reason": "manual"}
    outcome = deliver(engine, api, _paid(receipt))
    assert outcome.outcome is IGNORED and "not a subscription invoice" in outcome.detail
    assert api.calls == []  # nothing fetched for it either
    assert balance(engine, user_id) == 100


def test_an_unpaid_or_foreign_invoice_grants_nothing(engine, buyer):
    user_id, customer = buyer
    api = StripeAPI()
    sub = Customer(engine, api, user_id, customer, "pro_monthly")
    foreign = {**sp.price("pro_monthly"), "lookup_key": "someone_else", "metadata": {}}
    api.prices[foreign["id"]] = foreign
    inv = sub.invoice([sp.line(foreign["id"], 1200, sub=sub.sub)], reason="subscription_cycle")
    outcome = deliver(engine, api, _paid(inv))
    assert outcome.outcome is IGNORED and "no line bills one of our plans" in outcome.detail
    euro = sub.invoice(
        [sp.line(sub.price["id"], 1200, sub=sub.sub, currency="eur")], reason="subscription_cycle"
    )
    assert deliver(engine, api, _paid(euro)).outcome is IGNORED
    assert balance(engine, user_id) == 100


# --- packs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"currency": "eur"}, "paid 800 eur for pack_500, which costs 800 usd"),
        ({"amount_subtotal": 500, "amount_total": 500}, "paid 500 usd for pack_500"),
        (
            {
                "currency": "eur",
                "currency_conversion": {"source_currency": "usd", "amount_subtotal": 400},
            },
            "paid 400 usd for pack_500",
        ),
    ],
)
def test_a_pack_paid_at_the_wrong_price_or_currency_grants_nothing(engine, buyer, changes, why):
    user_id, customer = buyer
    checkout = {**sp.pack_checkout(user_id, customer, "pack_500"), **changes}
    completed = sp.event("checkout.session.completed", checkout)
    outcome = deliver(engine, StripeAPI(), completed)
    assert outcome.outcome is IGNORED and why in outcome.detail
    assert "nothing granted" in outcome.detail
    assert deliver(engine, StripeAPI(), completed).outcome is DUPLICATE
    assert balance(engine, user_id) == 100
    with session_scope(engine) as session:
        assert session.scalars(select(Purchase)).all() == []
        assert session.get(StripeEvent, completed["id"]).outcome == IGNORED
    # Its refund later is not taken from anything: the payment granted nothing.
    refund = sp.event(
        "charge.refunded", sp.charge(checkout["payment_intent"], 800, 800, customer=customer)
    )
    refunded = deliver(engine, StripeAPI(), refund)
    assert refunded.outcome is IGNORED and completed["id"] in refunded.detail


def test_a_pack_shown_in_a_local_currency_grants_when_its_source_price_is_right(engine, buyer):
    user_id, customer = buyer
    checkout = {
        **sp.pack_checkout(user_id, customer, "pack_500"),
        "currency": "eur",
        "amount_subtotal": 740,
        "amount_total": 740,
        "currency_conversion": {
            "source_currency": "usd",
            "amount_subtotal": 800,
            "amount_total": 800,
        },
    }
    outcomes = deliver_shuffled(
        engine, StripeAPI(), [sp.event("checkout.session.completed", checkout)]
    )
    assert sorted(o.outcome for o in outcomes) == [APPLIED, DUPLICATE, DUPLICATE]
    assert balance(engine, user_id) == 600


def test_a_checkout_with_another_accounts_customer_is_refused_and_recorded(engine, buyer):
    victim_id, victim_customer = buyer
    user_id = str(make_user(engine))  # no customer of their own yet
    checkout = sp.pack_checkout(user_id, victim_customer, "pack_2000")
    completed = sp.event("checkout.session.completed", checkout)
    outcome = deliver(engine, StripeAPI(), completed)
    assert outcome.outcome is IGNORED
    assert outcome.detail.startswith("refused:") and "belongs to another account" in outcome.detail
    assert (balance(engine, user_id), balance(engine, victim_id)) == (100, 100)
    with session_scope(engine) as session:
        assert session.get(User, uuid.UUID(user_id)).stripe_customer_id is None
        assert session.get(StripeEvent, completed["id"]).outcome == IGNORED

    # An account whose stored customer is another one is refused the same way.
    mine = sp.new_id("cus")
    with session_scope(engine) as session:
        session.get(User, uuid.UUID(user_id)).stripe_customer_id = mine
    other = sp.pack_checkout(user_id, sp.new_id("cus"), "pack_500")
    refused = deliver(engine, StripeAPI(), sp.event("checkout.session.completed", other))
    assert refused.outcome is IGNORED and f"is not this account's ({mine} is)" in refused.detail
    # Nor does an invoice naming this account in its metadata with a stranger's customer.
    api = StripeAPI()
    sub = Customer(engine, api, user_id, victim_customer, "pro_monthly")
    stolen = deliver(engine, api, _paid(sub.first_invoice()))
    assert stolen.outcome is IGNORED
    assert (balance(engine, user_id), balance(engine, victim_id)) == (100, 100)
