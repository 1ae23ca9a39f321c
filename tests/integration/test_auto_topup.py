"""Auto top-up through the Stripe sandbox over real HTTP, on SQLite and PostgreSQL: the
card saved at Checkout, one charge per crossing of the threshold under 20 concurrent
spends and several loop turns at once (as several app processes would run them), its
credits arriving through the webhook; a declined card and one that needs the person to
confirm, each told on the dashboard and by e-mail; switched off after 3 failures in a
row; the monthly cap."""

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import stripe
from sqlalchemy import select
from sqlmodel import col

from credit_app import clock, credits
from credit_app.billing import auto_topup
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.db import session_scope
from credit_app.mail.messages import MailKind
from credit_app.models import (
    AutoTopUp,
    EventOutcome,
    OutboxMessage,
    Purchase,
    StripeEvent,
    TopUpCharge,
    TopUpStatus,
)
from tests import async_run
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve

DECLINED = "4000000000009995"
NEEDS_AUTHENTICATION = "4000002500003155"


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _gateway(app: BillingServer) -> StripeGateway:
    return StripeGateway(app.gateway.config)


def _turn_on(app: BillingServer, user: uuid.UUID, *, threshold: int, cap: str = "24"):
    return async_run.run(
        auto_topup.save_auto_topup(
            user,
            gateway=_gateway(app),
            enabled=True,
            threshold=str(threshold),
            plan_id="pack_500",
            monthly_cap=cap,
            consent=True,
            engine=app.engine,
        )
    )


def _run_loop(app: BillingServer, *, turns: int = 1, now=None) -> int:
    """`turns` loop turns at once (several app processes), then the webhooks delivered."""

    async def together() -> list[int]:
        gateway = _gateway(app)
        return await asyncio.gather(
            *(auto_topup.run_due(gateway, now=now, engine=app.engine) for _ in range(turns))
        )

    sent = sum(async_run.run(together()))
    app.wait_idle()
    return sent


def _spend(app: BillingServer, user: uuid.UUID, amount: int, key: str) -> None:
    with session_scope(app.engine) as session:
        credits.spend(session, user_id=user, amount=amount, idempotency_key=key, feature="qr")


def _charges(app: BillingServer, user: uuid.UUID) -> list[tuple[str, int]]:
    with session_scope(app.engine) as session:
        rows = session.scalars(
            select(TopUpCharge).where(col(TopUpCharge.user_id) == user).order_by(TopUpCharge.id)
        ).all()
        return [(row.status, row.amount) for row in rows]


def _setting(app: BillingServer, user: uuid.UUID) -> AutoTopUp:
    with session_scope(app.engine) as session:
        row = session.get(AutoTopUp, user)
        assert row is not None
        return row


def _with_saved_card(app: BillingServer) -> uuid.UUID:
    user = make_user(app.engine)
    app.checkout(user, "pack_500")  # the Checkout saves the card for off-session use
    assert app.balance(user) == 600
    return user


def test_turning_on_needs_a_saved_card_consent_and_sane_numbers(app):
    user = make_user(app.engine)
    no_card = _turn_on(app, user, threshold=50)
    assert no_card.errors == {"card": auto_topup.NO_CARD}
    refused = async_run.run(
        auto_topup.save_auto_topup(
            user,
            gateway=_gateway(app),
            enabled=True,
            threshold="9" * 5000,
            plan_id="pro_monthly",
            monthly_cap="9" * 30,
            consent=False,
            engine=app.engine,
        )
    )
    assert set(refused.errors) == {"threshold", "plan_id", "monthly_cap", "consent"}
    with session_scope(app.engine) as session:
        assert session.get(AutoTopUp, user) is None  # nothing written

    app.checkout(user, "pack_500")
    done = _turn_on(app, user, threshold=50, cap="$24.00")
    assert done.errors == {}
    view = done.view
    assert (view.enabled, view.threshold, view.monthly_cap) == (True, 50, 2400)
    assert view.card.endswith("•••• 4242")
    assert view.consent_text == auto_topup.consent_words("pack_500", 2400)
    assert view.consented_at is not None


def test_one_charge_per_crossing_under_twenty_concurrent_spends(app):
    user = _with_saved_card(app)
    assert _turn_on(app, user, threshold=590).errors == {}
    barrier = threading.Barrier(20 + 3)
    stop = threading.Event()

    def spend(n: int) -> None:
        barrier.wait()
        _spend(app, user, 1, f"crossing-{n}")

    def loop() -> None:
        barrier.wait()
        while not stop.is_set():
            async_run.run(auto_topup.run_due(_gateway(app), engine=app.engine))

    with ThreadPoolExecutor(23) as pool:
        loops = [pool.submit(loop) for _ in range(3)]
        for future in [pool.submit(spend, n) for n in range(20)]:
            future.result()
        stop.set()
        for future in loops:
            future.result()
    _run_loop(app, turns=3)
    assert _charges(app, user) == [(TopUpStatus.SUCCEEDED, 800)]
    assert app.balance(user) == 600 - 20 + 500
    row = _setting(app, user)
    assert (row.in_flight_charge_id, row.consecutive_failures, row.last_error) == (None, 0, None)
    with session_scope(app.engine) as session:
        assert len(session.scalars(select(Purchase).where(Purchase.user_id == user)).all()) == 2
        assert credits.find_lot_drift(session) == []
    # Above the threshold again: nothing more; a new crossing: one more charge.
    assert _run_loop(app, turns=2) == 0
    _spend(app, user, 500, "second-crossing")
    _run_loop(app, turns=2)
    assert [status for status, _ in _charges(app, user)] == [TopUpStatus.SUCCEEDED] * 2


def _outbox(app: BillingServer, user: uuid.UUID) -> list[str]:
    with session_scope(app.engine) as session:
        return list(
            session.scalars(
                select(OutboxMessage.kind).where(
                    OutboxMessage.user_id == user, OutboxMessage.kind == MailKind.TOPUP_FAILED
                )
            )
        )


def test_a_declined_card_is_told_retried_later_and_switched_off_after_three(app):
    user = _with_saved_card(app)
    assert _turn_on(app, user, threshold=590).errors == {}
    app.control(
        "POST",
        f"payment_methods/{_setting(app, user).payment_method_id}/card",
        json={"number": DECLINED},
    )
    _spend(app, user, 20, "cross")
    now = clock.now()
    assert _run_loop(app, turns=2, now=now) == 1
    row = _setting(app, user)
    assert row.enabled and row.consecutive_failures == 1
    assert "insufficient funds" in (row.last_error or "")
    assert _outbox(app, user) == [MailKind.TOPUP_FAILED]
    # Stripe's payment_intent.payment_failed and our own request's answer both report the
    # failure, in either order: it is counted once.
    with session_scope(app.engine) as session:
        failed = session.scalars(
            select(StripeEvent.outcome).where(StripeEvent.type == "payment_intent.payment_failed")
        ).all()
        assert sorted(failed) in ([EventOutcome.APPLIED], [EventOutcome.DUPLICATE])
    # Not retried on the next turns, only after the wait.
    assert _run_loop(app, now=now + timedelta(minutes=5)) == 0
    for attempt in (2, 3):
        now += auto_topup.RETRY_AFTER_FAILURE + timedelta(seconds=1)
        assert _run_loop(app, now=now) == 1
        assert _setting(app, user).consecutive_failures == attempt
    row = _setting(app, user)
    assert not row.enabled
    assert (row.last_error or "").startswith(auto_topup.SWITCHED_OFF)
    assert _run_loop(app, now=now + timedelta(days=1)) == 0
    assert [status for status, _ in _charges(app, user)] == [TopUpStatus.FAILED] * 3
    assert app.balance(user) == 580
    view = async_run.run(auto_topup.load_auto_topup(user, gateway=None, engine=app.engine))
    assert view.switched_off and not view.enabled


def test_a_card_that_needs_confirming_is_told_with_the_reason(app):
    user = _with_saved_card(app)
    assert _turn_on(app, user, threshold=590).errors == {}
    app.control(
        "POST",
        f"payment_methods/{_setting(app, user).payment_method_id}/card",
        json={"number": NEEDS_AUTHENTICATION},
    )
    _spend(app, user, 20, "cross")
    assert _run_loop(app) == 1
    row = _setting(app, user)
    assert row.consecutive_failures == 1 and row.in_flight_charge_id is None
    assert "authentic" in (row.last_error or "").lower()
    assert _outbox(app, user) == [MailKind.TOPUP_FAILED]
    assert app.balance(user) == 580


def test_the_monthly_cap_is_respected(app):
    user = _with_saved_card(app)
    assert _turn_on(app, user, threshold=590, cap="8").errors == {}  # one pack a month
    _spend(app, user, 20, "first")
    now = clock.now()
    assert _run_loop(app, now=now) == 1
    assert app.balance(user) == 1080
    _spend(app, user, 500, "second")
    assert _run_loop(app, now=now) == 0
    assert "cap" in (_setting(app, user).last_error or "")
    assert _charges(app, user) == [(TopUpStatus.SUCCEEDED, 800)]
    # A new calendar month: the cap allows one more.
    assert _run_loop(app, now=now + timedelta(days=32)) == 1
    assert [status for status, _ in _charges(app, user)] == [TopUpStatus.SUCCEEDED] * 2


def test_paying_with_another_card_replaces_the_declined_one(app):
    user = _with_saved_card(app)
    assert _turn_on(app, user, threshold=590).errors == {}
    declined = _setting(app, user).payment_method_id
    app.control("POST", f"payment_methods/{declined}/card", json={"number": DECLINED})
    _spend(app, user, 20, "cross")
    assert _run_loop(app) == 1
    assert app.balance(user) == 580
    # "Pay with another card": a pack bought at Checkout saves the new card; turning auto
    # top-up on again clears the wait, and the next crossing charges the new card.
    app.checkout(user, "pack_500")
    assert _turn_on(app, user, threshold=1090).errors == {}
    _spend(app, user, 1, "cross-again")
    assert _run_loop(app) == 1
    assert app.balance(user) == 580 + 500 - 1 + 500
    row = _setting(app, user)
    assert row.payment_method_id != declined and row.last_error is None
    assert [status for status, _ in _charges(app, user)] == [
        TopUpStatus.FAILED,
        TopUpStatus.SUCCEEDED,
    ]


def test_a_refunded_top_up_takes_its_credits_back_like_a_pack(app):
    user = _with_saved_card(app)
    assert _turn_on(app, user, threshold=590).errors == {}
    _spend(app, user, 20, "cross")
    assert _run_loop(app) == 1
    assert app.balance(user) == 1080
    with session_scope(app.engine) as session:
        (charge,) = session.scalars(select(TopUpCharge).where(TopUpCharge.user_id == user))
        payment = charge.payment_intent_id
    client = stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})
    client.v1.refunds.create(params={"payment_intent": payment})
    app.wait_idle()
    assert app.balance(user) == 580
    with session_scope(app.engine) as session:
        assert credits.find_lot_drift(session) == []
