"""Webhook signing, retries and fault injection, observed by a real receiver."""

import json
import time
from collections import Counter
from itertools import pairwise

import httpx
import pytest
import stripe

from stripe_sandbox.webhooks import sign

from .conftest import SECRET, Env


def test_deliveries_verify_with_the_secret_and_not_without(env: Env) -> None:
    env.subscribe()
    assert env.receiver.rejected == 0 and env.receiver.deliveries
    delivery = env.receiver.deliveries[0]
    event = stripe.Webhook.construct_event(delivery.body.decode(), delivery.signature, SECRET)
    assert event.api_version == "2026-10-28.endive" and event.object == "event"
    assert event.livemode is False and event.pending_webhooks == 1
    assert set(event.request.to_dict()) == {"id", "idempotency_key"}
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body.decode(), delivery.signature, "whsec_wrong")
    tampered = delivery.body.decode().replace('"livemode": false', '"livemode": true')
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, delivery.signature, SECRET)
    # Every delivered event is also retrievable through the API, unchanged.
    stored = env.client.v1.events.retrieve(event.id)
    assert stored.to_dict() == json.loads(delivery.body)


def test_signature_format_matches_stripes() -> None:
    header = sign('{"a": 1}', "whsec_abc", 1700000000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event('{"a": 1}', header, "whsec_abc")  # too old
    now = int(time.time())
    event = stripe.Webhook.construct_event('{"id": "evt_1"}', sign('{"id": "evt_1"}',
                                           "whsec_abc", now), "whsec_abc")  # fmt: skip
    assert event.id == "evt_1"


def test_failed_deliveries_are_retried_with_backoff(env: Env) -> None:
    env.receiver.fail_first = 2
    cust = env.client.v1.customers.create(params={"email": "retry@x.io"})
    env.control.wait_idle()
    assert env.receiver.types == ["customer.created"]
    (record,) = env.control.deliveries()
    assert [a["status"] for a in record["attempts"]] == [500, 500, 200]
    assert record["delivered"] is True and record["last_status"] == 200
    gaps = [b["at"] - a["at"] for a, b in pairwise(record["attempts"])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # retry_base_seconds x 2^n
    assert env.receiver.deliveries[0].event["data"]["object"]["id"] == cust.id


def test_gives_up_after_max_attempts(env: Env) -> None:
    env.receiver.fail_first = 100
    env.client.v1.customers.create(params={"email": "never@x.io"})
    env.control.wait_idle()
    (record,) = env.control.deliveries()
    assert len(record["attempts"]) == 4 and record["delivered"] is False
    env.receiver.fail_first = 0
    env.control.resend(record["id"])
    env.control.wait_idle()
    assert env.control.deliveries()[0]["delivered"] is True


def test_duplicate_concurrent_deliveries(env: Env) -> None:
    env.control.set_faults(duplicate=3, concurrent=True)
    env.subscribe()
    counts = Counter(env.receiver.ids)
    assert len(counts) == 7 and set(counts.values()) == {3}


def test_shuffle_keeps_every_event_but_not_the_order(env: Env) -> None:
    env.control.set_faults(shuffle=True)
    orders = []
    for _ in range(3):  # 3 checkouts of 7 events each: all in order by chance is ~1e-11
        env.settle()
        env.subscribe()
        orders.append(env.receiver.types)
        assert sorted(env.receiver.types) == sorted(
            [
                "customer.created",
                "customer.subscription.created",
                "invoice.created",
                "invoice.finalized",
                "invoice.paid",
                "invoice.payment_succeeded",
                "checkout.session.completed",
            ]
        )
    in_order = [
        "customer.created",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    assert any(order != in_order for order in orders)


def test_drop_first_loses_the_first_attempt_then_retries(env: Env) -> None:
    env.control.set_faults(drop_first=True)
    env.client.v1.customers.create(params={"email": "drop@x.io"})
    env.control.wait_idle()
    (record,) = env.control.deliveries()
    assert record["attempts"][0]["error"] == "dropped by fault injection"
    assert record["attempts"][0]["status"] is None
    assert [a["status"] for a in record["attempts"][1:]] == [200]
    assert env.receiver.types == ["customer.created"]  # the dropped attempt never arrived


def test_delay_keeps_events_pending_and_faults_reset(env: Env) -> None:
    env.control.set_faults(delay_ms=300)
    env.client.v1.customers.create(params={"email": "slow@x.io"})
    assert env.control.pending() == 1  # delivery is asynchronous, never inside the request
    env.control.wait_idle()
    assert env.receiver.types == ["customer.created"]
    env.control.clear_faults()
    assert httpx.get(env.url + "/_sandbox/faults").json()["delay_ms"] == 0
    bad = httpx.post(env.url + "/_sandbox/faults", json={"duplicate": 0})
    assert bad.status_code == 400


def test_events_list_by_type(env: Env) -> None:
    env.subscribe()
    paid = env.client.v1.events.list(params={"type": "invoice.paid"}).data
    assert [e.type for e in paid] == ["invoice.paid"]
    assert paid[0].data.object.status == "paid"
