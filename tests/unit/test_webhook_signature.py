"""Stripe signature checks on the raw body: valid, wrong secret, stale, tampered, missing;
then the shape of a signed event: what is stored and handled must fit its columns."""

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


_DROP = object()


def _event(**changes) -> dict:
    event = {**EVENT, "created": 1_700_000_000, "livemode": False, **changes}
    return {key: value for key, value in event.items() if value is not _DROP}


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event(id=_DROP), id="no-id"),
        pytest.param(_event(id=42), id="id-not-a-string"),
        pytest.param(_event(id=""), id="id-empty"),
        pytest.param(_event(id="evt_" + "x" * 252), id="id-over-255"),
        pytest.param(_event(type=_DROP), id="no-type"),
        pytest.param(_event(type=["invoice.paid"]), id="type-not-a-string"),
        pytest.param(_event(type=""), id="type-empty"),
        pytest.param(_event(type="invoice." + "x" * 57), id="type-over-64"),
        pytest.param(_event(data=_DROP), id="no-data"),
        pytest.param(_event(data=[]), id="data-not-an-object"),
        pytest.param(_event(data={}), id="no-data-object"),
        pytest.param(_event(data={"object": "in_1"}), id="data-object-not-an-object"),
        pytest.param(_event(created=None), id="created-null"),
        pytest.param(_event(livemode=None), id="livemode-null"),
        pytest.param(_event(created="1700000000"), id="created-a-string"),
        pytest.param(_event(created=True), id="created-a-bool"),
        pytest.param(_event(created=1.5), id="created-a-float"),
        pytest.param(_event(created=10**20), id="created-beyond-year-9999"),
        pytest.param(_event(created=-1), id="created-negative"),
        pytest.param(_event(livemode="false"), id="livemode-a-string"),
        pytest.param(_event(livemode=0), id="livemode-a-number"),
    ],
)
def test_signed_events_of_the_wrong_shape_are_rejected(gateway, event):
    body = json.dumps(event)
    with pytest.raises(WebhookRejected):
        gateway.verify_event(body.encode(), _sign(body))


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event(id="evt_" + "x" * 251, type="x" * 64), id="longest-id-and-type"),
        pytest.param(_event(created=_DROP, livemode=_DROP), id="no-created-no-livemode"),
        pytest.param(_event(livemode=True, created=0), id="livemode-true"),
    ],
)
def test_signed_events_at_the_limits_are_accepted(gateway, event):
    body = json.dumps(event)
    assert gateway.verify_event(body.encode(), _sign(body)) == event
