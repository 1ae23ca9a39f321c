"""What becomes of an event, on a real database: the fetch plan comes from the registry,
unexpected errors are recorded as failed (effects rolled back), deferred and failed events
are claimed again atomically (once, however many deliveries race), `replay` runs a stored
event through the same path, and personal data can be erased from stored payloads."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe
from sqlalchemy import text, update

from credit_app import credits
from credit_app.billing.stripe_gateway import StripeObjectMissing
from credit_app.billing.webhook_handlers import registry
from credit_app.billing.webhook_records import (
    ERROR_ERASED,
    erase_personal_data_from_events,
    recorded_events,
)
from credit_app.billing.webhook_registry import Handled, Handler
from credit_app.billing.webhooks import (
    Facts,
    ReplayRefused,
    apply_event,
    claim_event,
    gather_facts,
    process_event,
    replay_event,
)
from credit_app.db import session_scope
from credit_app.models import EventOutcome, StripeEvent, User, UserSubscription, utcnow
from tests import async_run
from tests import stripe_payloads as sp
from tests.factories import make_user

APPLIED, IGNORED, DUPLICATE = EventOutcome.APPLIED, EventOutcome.IGNORED, EventOutcome.DUPLICATE
DEFERRED, FAILED = EventOutcome.DEFERRED, EventOutcome.FAILED


class StubStripe:
    """Stripe's API at the gateway boundary: answers from what the test gives it, records
    what was asked, and fails like the network can."""

    def __init__(
        self, *, subscriptions=(), prices=(), disputes=(), lines=None, fail: Exception | None = None
    ):
        self.subscriptions = {s["id"]: s for s in subscriptions}
        self.lines = lines or {}
        self.prices = {p["id"]: p for p in prices}
        self.disputes = {d["id"]: d for d in disputes}
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    def _ask(self, what: str, key: str, table: dict | None = None):
        self.calls.append((what, key))
        if self.fail is not None:
            raise self.fail
        return None if table is None else table[key]

    async def retrieve_subscription(self, subscription_id):
        return self._ask("subscription", subscription_id, self.subscriptions)

    async def retrieve_price(self, price_id):
        return self._ask("invoice_prices", price_id, self.prices)

    async def list_invoice_lines(self, invoice_id):
        return self._ask("invoice_lines", invoice_id, self.lines)

    async def retrieve_dispute(self, dispute_id):
        return self._ask("dispute", dispute_id, self.disputes)

    async def invoice_for_payment_intent(self, payment_intent_id):
        return self._ask("payment_invoice", payment_intent_id)


@pytest.fixture
def buyer(engine):
    user_id = make_user(engine)
    customer = sp.new_id("cus")
    with session_scope(engine) as session:
        user = session.get(User, user_id)
        user.stripe_customer_id = customer
    return str(user_id), customer


def _balance(engine, user_id):
    with session_scope(engine) as session:
        return credits.balance(session, user_id=uuid.UUID(user_id))


def _stored(engine, event_id) -> StripeEvent:
    with session_scope(engine) as session:
        row = session.get(StripeEvent, event_id)
    assert row is not None
    return row


def _process(gateway, event, engine):
    return async_run.run(process_event(gateway, event, livemode=False, engine=engine))


def _deferred_refund(engine, checkout):
    refund = sp.event(
        "charge.refunded",
        sp.charge(checkout["payment_intent"], 500, 500, customer=checkout["customer"]),
    )
    assert apply_event(refund, Facts(), engine).outcome is DEFERRED
    return refund


def test_what_is_fetched_is_what_each_handler_declared(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    billed = sp.price("pro_monthly")  # not the subscription's price now: fetched
    invoice = sp.invoice(sub, amount=1200, lines=[sp.line(billed["id"], 1200)], has_more=True)
    all_lines = invoice["lines"]["data"]
    charge = sp.charge(sp.new_id("pi"), 500)
    dispute = sp.dispute(charge)
    events = {
        "invoice.paid": sp.event("invoice.paid", invoice),
        "customer.subscription.updated": sp.event("customer.subscription.updated", sub),
        "charge.refunded": sp.event("charge.refunded", charge),
        "charge.dispute.closed": sp.event("charge.dispute.closed", dispute),
        "balance.available": sp.event("balance.available", {"object": "balance"}),
    }
    asked = {}
    for kind, event in events.items():
        stripe_api = StubStripe(
            subscriptions=[sub],
            prices=[billed],
            disputes=[dispute],
            lines={invoice["id"]: all_lines},
        )
        facts = async_run.run(gather_facts(stripe_api, event))
        asked[kind] = {what for what, _ in stripe_api.calls}
        assert asked[kind] == set(registry.fetch_plan(kind))
        if kind == "invoice.paid":
            assert (facts.subscription, facts.invoice_prices) == (sub, {billed["id"]: billed})
            assert facts.invoice_lines == all_lines
            # Stripe was asked in the order the fetches need: the lines, then their prices.
            assert [what for what, _ in stripe_api.calls] == [
                "subscription",
                "invoice_lines",
                "invoice_prices",
            ]
    assert asked["invoice.paid"] == {"subscription", "invoice_lines", "invoice_prices"}
    assert asked["charge.dispute.closed"] == {"dispute", "payment_invoice"}
    assert asked["balance.available"] == set()  # not handled: nothing fetched


def test_a_stripe_error_while_fetching_is_recorded_as_failed_and_the_retry_applies(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    paid = sp.event("invoice.paid", sp.invoice(sub, amount=1200))
    down = StubStripe(fail=stripe.APIConnectionError("connection reset by peer"))
    failed = _process(down, paid, engine)
    assert (failed.outcome, failed.final) == (FAILED, False)
    row = _stored(engine, paid["id"])
    assert (row.outcome, row.attempts) == (FAILED, 1)
    assert row.error == "APIConnectionError: connection reset by peer"
    assert json.loads(row.payload) == paid
    assert _balance(engine, user_id) == 100

    again = _process(StubStripe(subscriptions=[sub]), paid, engine)
    assert again.outcome is APPLIED
    row = _stored(engine, paid["id"])
    assert (row.outcome, row.attempts, row.error) == (APPLIED, 2, None)
    assert _balance(engine, user_id) == 1100
    assert _process(StubStripe(subscriptions=[sub]), paid, engine).outcome is DUPLICATE


def test_an_error_inside_a_handler_rolls_back_its_effects_and_is_recorded(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    paid = sp.event("invoice.paid", sp.invoice(sub, amount=1200))
    # The grant is written first, then the malformed subscription fails the handler.
    without_items = {key: value for key, value in sub.items() if key != "items"}
    price = sub["items"]["data"][0]["price"]
    broken = Facts(subscription=without_items, invoice_prices={price["id"]: price})
    failed = apply_event(paid, broken, engine)
    assert failed.outcome is FAILED and failed.error == "KeyError: 'items'"
    assert _balance(engine, user_id) == 100  # the grant was rolled back with the claim
    assert _stored(engine, paid["id"]).outcome == FAILED

    assert apply_event(paid, Facts(subscription=sub), engine).outcome is APPLIED
    assert _balance(engine, user_id) == 1100
    assert _stored(engine, paid["id"]).attempts == 2


def test_concurrent_redeliveries_of_a_deferred_event_apply_it_once(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    refund = _deferred_refund(engine, checkout)
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    start = threading.Barrier(6)

    def deliver(_):
        start.wait()
        return apply_event(refund, Facts(), engine)

    with ThreadPoolExecutor(6) as pool:
        outcomes = [o.outcome for o in pool.map(deliver, range(6))]
    assert sorted(outcomes) == [APPLIED] + [DUPLICATE] * 5
    assert _balance(engine, user_id) == 100
    assert (_stored(engine, refund["id"]).outcome, _stored(engine, refund["id"]).attempts) == (
        APPLIED,
        2,
    )


# PostgreSQL only: SQLite runs write transactions one at a time, so nothing interleaves.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_delivery_racing_a_claim_waits_and_then_finds_the_event_final(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    refund = _deferred_refund(engine, checkout)
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    with session_scope(engine) as session:
        assert claim_event(session, refund)  # the deferred row, taken back
        with ThreadPoolExecutor(1) as pool:
            racing = pool.submit(apply_event, refund, Facts(), engine)
            _wait_until_a_transaction_waits_for_a_lock(engine)
            # Whoever holds the claim finishes the event (here without taking anything).
            session.execute(
                update(StripeEvent)
                .where(StripeEvent.id == refund["id"])
                .values(outcome=EventOutcome.APPLIED)
            )
            session.commit()
            outcome = racing.result(timeout=30)
    assert outcome.outcome is DUPLICATE  # it re-checked the row after the lock: final
    assert _balance(engine, user_id) == 600  # its handler never ran


def _wait_until_a_transaction_waits_for_a_lock(engine, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first")


def test_replay_claims_a_deferred_event_and_leaves_a_final_one_alone(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    refund = _deferred_refund(engine, checkout)
    stripe_api = StubStripe()

    def replay(event_id):
        return async_run.run(replay_event(stripe_api, event_id, engine=engine))

    assert replay(refund["id"]).outcome is DEFERRED  # its purchase is still not recorded
    assert _stored(engine, refund["id"]).attempts == 2
    apply_event(sp.event("checkout.session.completed", checkout), Facts(), engine)
    assert replay(refund["id"]).outcome is APPLIED
    assert stripe_api.calls == [("payment_invoice", checkout["payment_intent"])] * 2
    assert _balance(engine, user_id) == 100

    final = replay(refund["id"])
    assert final.outcome is DUPLICATE and "already processed (applied)" in final.detail
    assert _stored(engine, refund["id"]).attempts == 3
    assert _balance(engine, user_id) == 100
    with pytest.raises(ReplayRefused, match="no event evt_unknown"):
        replay("evt_unknown")


def test_replay_refuses_an_event_recorded_without_its_payload(engine):
    with session_scope(engine) as session:
        session.add(
            StripeEvent(
                id="evt_before_0005",
                type="invoice.paid",
                stripe_created=utcnow(),
                outcome=EventOutcome.FAILED,
                error="0005: recorded as 'processing' before outcomes were typed",
            )
        )
    with pytest.raises(ReplayRefused, match="resend it from the Stripe Dashboard"):
        async_run.run(replay_event(StubStripe(), "evt_before_0005", engine=engine))


def _personal_checkout(user_id, customer):
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    checkout["customer_email"] = "ada@example.com"
    checkout["customer_details"] = {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0000",
        "address": {"line1": "12 St James's Square", "city": "London", "country": "GB"},
    }
    return checkout


def test_erasing_a_users_events_blanks_personal_fields_and_keeps_the_rest(engine, buyer):
    user_id, customer = buyer
    other_id, other_customer = str(make_user(engine)), sp.new_id("cus")
    mine = sp.event("checkout.session.completed", _personal_checkout(user_id, customer))
    theirs = sp.event("checkout.session.completed", _personal_checkout(other_id, other_customer))
    charge = {
        **sp.charge(sp.new_id("pi"), 500, 500),
        "customer": customer,
        "billing_details": {"email": "ada@example.com", "name": "Ada", "address": {"city": "X"}},
        "payment_method_details": {"card": {"last4": "4242", "brand": "visa"}},
    }
    refund = sp.event("charge.refunded", charge)  # deferred: names no user, only a customer
    for event in (mine, theirs, refund):
        apply_event(event, Facts(), engine)

    with session_scope(engine) as session:
        assert erase_personal_data_from_events(session, user_id=uuid.UUID(user_id)) == 2
    erased = json.loads(_stored(engine, mine["id"]).payload)
    obj = erased["data"]["object"]
    assert (obj["customer_email"], obj["customer_details"]) == (None, None)
    assert (obj["id"], obj["payment_intent"], obj["amount_total"]) == (
        mine["data"]["object"]["id"],
        mine["data"]["object"]["payment_intent"],
        800,
    )
    assert obj["metadata"] == {"user_id": user_id, "plan_id": "pack_500"}
    refunded = json.loads(_stored(engine, refund["id"]).payload)["data"]["object"]
    assert refunded["billing_details"] is None
    assert refunded["payment_method_details"] == {"card": {"last4": None, "brand": "visa"}}
    assert "ada@example.com" not in _stored(engine, mine["id"]).payload
    assert "Ada Lovelace" in _stored(engine, theirs["id"]).payload  # someone else's

    # Once the account is gone, its customer id still finds the events; nothing is left.
    with session_scope(engine) as session:
        assert erase_personal_data_from_events(session, stripe_customer_id=customer) == 0
        assert erase_personal_data_from_events(session, stripe_customer_id=other_customer) == 1
    # An erased event still replays: handlers read no personal field.
    assert _stored(engine, refund["id"]).outcome == DEFERRED
    outcome = async_run.run(replay_event(StubStripe(), refund["id"], engine=engine))
    assert outcome.outcome is DEFERRED  # no purchase of ours for it yet, still replayable


def test_recorded_events_lists_newest_first_and_filters_by_outcome(engine, buyer):
    user_id, customer = buyer
    checkout = sp.pack_checkout(user_id, customer, "pack_500")
    refund = _deferred_refund(engine, checkout)
    granted = sp.event("checkout.session.completed", checkout)
    apply_event(granted, Facts(), engine)
    with session_scope(engine) as session:
        assert [e.id for e in recorded_events(session)] == [granted["id"], refund["id"]]
        assert [e.id for e in recorded_events(session, outcome=DEFERRED)] == [refund["id"]]
        assert recorded_events(session, outcome=FAILED) == []
        assert len(recorded_events(session, limit=1)) == 1


def test_a_stripe_object_that_is_gone_makes_the_event_ignored_not_failed(engine, buyer):
    user_id, customer = buyer
    sub = sp.subscription(user_id, customer, "pro_monthly")
    updated = sp.event("customer.subscription.updated", sub)
    gone = StubStripe(fail=StripeObjectMissing("subscription", sub["id"]))
    outcome = _process(gone, updated, engine)
    assert outcome.outcome is IGNORED and outcome.final
    assert outcome.detail == f"ignored: Stripe no longer has subscription {sub['id']}"
    row = _stored(engine, updated["id"])
    assert (row.outcome, row.error, row.detail) == (IGNORED, None, outcome.detail)
    # Final: a later delivery changes nothing (and Stripe is not asked again).
    assert _process(StubStripe(subscriptions=[sub]), updated, engine).outcome is DUPLICATE
    with session_scope(engine) as session:
        assert session.get(UserSubscription, uuid.UUID(user_id)) is None
    # Any other Stripe error is not permanent: failed, claimed again by the next delivery.
    other = sp.event("customer.subscription.updated", sub)
    server_error = StubStripe(fail=stripe.APIError("Stripe had a problem", http_status=500))
    assert _process(server_error, other, engine).outcome is FAILED
    assert _stored(engine, other["id"]).error.startswith("APIError: ")


def _sneaky_handler(monkeypatch, run):
    """Make every event type handled by `run` (a handler registered the usual way)."""
    monkeypatch.setattr(
        registry, "handler_for", lambda kind: Handler("sneaky", (kind,), frozenset(), run)
    )


def test_effects_are_never_committed_with_an_outcome_that_is_not_final(engine, buyer, monkeypatch):
    user_id, _ = buyer

    def returns_processing(session, event, facts):
        session.get(User, uuid.UUID(user_id)).stripe_customer_id = "cus_changed"
        result = object.__new__(Handled)  # past Handled's own check, as a bug could be
        for name, value in (("outcome", EventOutcome.PROCESSING), ("detail", "x")):
            object.__setattr__(result, name, value)
        object.__setattr__(result, "user_ids", ())
        return result

    _sneaky_handler(monkeypatch, returns_processing)
    event = sp.event("invoice.paid", {"object": "invoice", "id": sp.new_id("in")})
    outcome = apply_event(event, Facts(), engine)
    assert outcome.outcome is FAILED
    row = _stored(engine, event["id"])
    assert row.outcome == FAILED and "outcome 'processing'" in row.error
    with session_scope(engine) as session:
        assert session.get(User, uuid.UUID(user_id)).stripe_customer_id != "cus_changed"


def test_a_database_error_is_recorded_without_the_values_it_was_about(engine, monkeypatch):
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    user_id = make_user(engine, email=email)

    def breaks_a_check(session, event, facts):
        session.get(User, user_id).credits = -5  # CHECK (credits >= 0)
        session.flush()
        return Handled.ignored("never")

    _sneaky_handler(monkeypatch, breaks_a_check)
    event = sp.event("invoice.paid", {"object": "invoice", "customer_email": email})
    assert apply_event(event, Facts(), engine).outcome is FAILED
    row = _stored(engine, event["id"])
    assert row.error.startswith("IntegrityError: ") and "credits" in row.error
    assert "parameters hidden" in row.error
    # Neither a bound parameter nor PostgreSQL's "Failing row contains (...)" is kept.
    for value in (email, str(user_id), user_id.hex, "Failing row"):
        assert value not in row.error and value not in row.detail


def test_erasing_blanks_dispute_evidence_descriptions_and_error_text(engine, buyer):
    _, customer = buyer
    dispute = {
        **sp.dispute(sp.charge(sp.new_id("pi"), 500)),
        "customer": customer,
        "description": "Payment from ada@example.com",
        "evidence": {
            "customer_email_address": "ada@example.com",
            "customer_name": "Ada Lovelace",
            "billing_address": "12 St James's Square",
            "customer_purchase_ip": "203.0.113.7",
            "uncategorized_text": "Ada called us on +44 20 7946 0000",
        },
        "enhanced_evidence": {"visa_compelling_evidence_3": {"shipping_address": "London"}},
    }
    disputed = sp.event("charge.dispute.created", dispute)
    broken = StubStripe(fail=RuntimeError("could not read dispute for ada@example.com"))
    assert _process(broken, disputed, engine).outcome is FAILED
    assert "ada@example.com" in _stored(engine, disputed["id"]).error

    with session_scope(engine) as session:
        assert erase_personal_data_from_events(session, stripe_customer_id=customer) == 1
        assert erase_personal_data_from_events(session, stripe_customer_id=customer) == 0
    row = _stored(engine, disputed["id"])
    obj = json.loads(row.payload)["data"]["object"]
    assert (obj["evidence"], obj["description"]) == (None, None)
    assert obj["enhanced_evidence"] == {"visa_compelling_evidence_3": {"shipping_address": None}}
    assert (obj["id"], obj["status"], obj["payment_intent"]) == (
        dispute["id"],
        "needs_response",
        dispute["payment_intent"],
    )
    assert (row.outcome, row.error, row.detail) == (FAILED, None, ERROR_ERASED)
    for personal in ("ada@example.com", "Lovelace", "203.0.113.7", "7946", "London"):
        assert personal not in row.payload


def test_failed_events_are_listed_in_the_order_stripe_created_them(engine, buyer):
    user_id, customer = buyer
    now = int(time.time())
    sub = sp.subscription(user_id, customer, "pro_monthly")
    without_items = {key: value for key, value in sub.items() if key != "items"}
    first, second, third = (
        sp.event("invoice.paid", sp.invoice(sub, amount=1200), created=now - ago)
        for ago in (3600, 600, 60)
    )
    for event in (second, third, first):  # the order they were received in
        assert apply_event(event, Facts(subscription=without_items), engine).outcome is FAILED
    with session_scope(engine) as session:
        to_replay = recorded_events(session, outcome=FAILED)
        newest = recorded_events(session)
    assert [e.id for e in to_replay] == [first["id"], second["id"], third["id"]]
    assert [e.id for e in newest] == [first["id"], third["id"], second["id"]]
