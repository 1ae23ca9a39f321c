"""Stripe signature checks on the raw body: valid, wrong secret, stale, tampered, missing."""

import hashlib
import hmac
import json
import time

import pytest

from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway, WebhookRejected

SECRET = "whsec_test_secret"
EVENT = {"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}}


def _sign(body: str, secret: str = SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


@pytest.fixture
def gateway() -> StripeGateway:
    return StripeGateway(StripeConfig(secret_key="sk_test_x", webhook_secret=SECRET))


def test_a_correctly_signed_body_is_accepted(gateway):
    body = json.dumps(EVENT)
    assert gateway.verify_event(body.encode(), _sign(body)) == EVENT


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda b: _sign(b, secret="whsec_other"), id="wrong-secret"),
        pytest.param(lambda b: _sign(b, at=int(time.time()) - 301), id="stale-timestamp"),
        pytest.param(lambda b: _sign(b.replace("evt_1", "evt_2")), id="tampered-body"),
        pytest.param(lambda b: None, id="missing-header"),
        pytest.param(lambda b: "garbage", id="malformed-header"),
    ],
)
def test_anything_else_is_rejected(gateway, header):
    body = json.dumps(EVENT)
    with pytest.raises(WebhookRejected):
        gateway.verify_event(body.encode(), header(body))


@pytest.mark.parametrize("body", ["not json", json.dumps([1, 2]), json.dumps({"id": "x"})])
def test_signed_bodies_that_are_not_events_are_rejected(gateway, body):
    with pytest.raises(WebhookRejected):
        gateway.verify_event(body.encode(), _sign(body))
