"""Billing's webhook events, through the Stripe sandbox over real HTTP on SQLite and
PostgreSQL: subscription.updated each time the subscription's state changes (subscribed,
then ended when its Stripe customer is deleted), and auto_topup.failed once for a declined
top-up charge (reported both by our request and by Stripe's event), without card details;
then sent to a real receiver and verified with the README's snippet."""

import itertools
import json
import uuid

import pytest
import stripe
from sqlalchemy import select

from credit_app import clock, credits, outbound, settings
from credit_app.admin import audit
from credit_app.billing import auto_topup
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.credits_api import webhooks
from credit_app.db import read_scope, session_scope
from credit_app.models import AutoTopUp, SubscriptionPlan, User, WebhookDelivery
from tests import async_run
from tests.factories import make_user
from tests.integration.billing_server import BillingServer, serve
from tests.integration.webhook_receiver import Receiver
from tests.integration.webhook_receiver_snippet import verify_signature

DECLINED = "4000000000009995"


@pytest.fixture
def app(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("WEBHOOKS_ALLOW_PRIVATE", "true")  # the receiver is on 127.0.0.1
    yield from serve(database_url, monkeypatch, tmp_path)
    settings.get_settings.cache_clear()


def _events(app: BillingServer, event_type: str) -> list[dict]:
    with read_scope(app.engine) as session:
        payloads = session.scalars(
            select(WebhookDelivery.payload)
            .where(WebhookDelivery.type == event_type)
            .order_by(WebhookDelivery.id)
        )
        return [json.loads(payload) for payload in payloads]


def _endpoint(app: BillingServer, user: uuid.UUID, url: str, events: list[str]):
    return async_run.run(
        webhooks.add_endpoint(
            user, actor=audit.Actor.user(user), url=url, events=events, engine=app.engine
        )
    )


def test_subscription_changes_are_sent_as_they_happen(app):
    user = make_user(app.engine)
    with Receiver() as receiver:
        added = _endpoint(app, user, receiver.url(), ["subscription.updated"])
        app.checkout(user, "pro_monthly")
        subscribed = _events(app, "subscription.updated")
        assert subscribed, "subscribing is an update"
        states = [event["data"] for event in subscribed]
        assert all(a != b for a, b in itertools.pairwise(states)), (
            "sent when the state changed, not for every Stripe event that repeats it"
        )
        last = states[-1]
        assert (last["plan"], last["status"], last["cancel_at_period_end"]) == (
            "pro_monthly",
            "active",
            False,
        )
        period_end = app.subscription(user).current_period_end
        assert last["current_period_end"] == int(period_end.timestamp())

        # Its Stripe customer deleted: the subscription ends, and that is sent once.
        customer = stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})
        with session_scope(app.engine) as session:
            customer_id = session.get(User, user).stripe_customer_id
        customer.v1.customers.delete(customer_id)
        app.wait_idle()
        ended = _events(app, "subscription.updated")[len(subscribed) :]
        assert [e["data"]["status"] for e in ended] == ["canceled"]

        sent = async_run.run(outbound.deliver_due(engine=app.engine))
    assert sent == len(subscribed) + 1 == len(receiver.requests)
    for request in receiver.requests:
        assert verify_signature(added.secret, request.body, request.headers["Credit-App-Signature"])
        assert json.loads(request.body)["user_id"] == str(user)


def test_a_declined_auto_top_up_is_sent_once_without_card_details(app):
    user = make_user(app.engine)
    app.checkout(user, "pack_500")  # saves the card for off-session charges
    _endpoint(app, user, "http://127.0.0.1:9/hook", ["auto_topup.failed"])
    gateway = StripeGateway(app.gateway.config)
    turned_on = async_run.run(
        auto_topup.save_auto_topup(
            user,
            gateway=gateway,
            enabled=True,
            threshold="590",
            plan_id="pack_500",
            monthly_cap="24",
            consent=True,
            engine=app.engine,
        )
    )
    assert turned_on.errors == {}
    with session_scope(app.engine) as session:
        card = session.get(AutoTopUp, user).payment_method_id
    app.control("POST", f"payment_methods/{card}/card", json={"number": DECLINED})
    with session_scope(app.engine) as session:
        credits.spend(session, user_id=user, amount=20, idempotency_key="cross", feature="qr")
    assert async_run.run(auto_topup.run_due(gateway, now=clock.now(), engine=app.engine)) == 1
    app.wait_idle()  # Stripe's payment_intent.payment_failed reports it too

    (event,) = _events(app, "auto_topup.failed")
    data = event["data"]
    assert "insufficient funds" in data["reason"]
    assert data["code"]
    with session_scope(app.engine) as session:
        pack = session.get(SubscriptionPlan, "pack_500")
        assert (data["amount"], data["currency"], data["plan"]) == (
            pack.price,
            pack.currency.lower(),
            "pack_500",
        )
    assert data["auto_topup_switched_off"] is False
    payload = json.dumps(event)
    assert "9995" not in payload and "pm_" not in payload and "4242" not in payload
