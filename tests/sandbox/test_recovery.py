"""What an app needs to recover from lost webhooks and failed API calls: the Events list
API, a webhook lost for good, and an endpoint that answers 500 for N calls."""

import time

import httpx
import pytest
import stripe

from .conftest import Env


def test_events_list_filters_and_pages_newest_first(env: Env) -> None:
    c = env.client.v1
    before = int(time.time())
    first = c.customers.create(params={"email": "a@x.io"})
    c.customers.update(first.id, params={"name": "A"})
    c.customers.create(params={"email": "b@x.io"})
    everything = c.events.list(params={"limit": 100}).data
    assert [e.type for e in everything] == [
        "customer.created",
        "customer.updated",
        "customer.created",
    ]
    assert everything[0].created >= everything[-1].created
    created = c.events.list(params={"type": "customer.created"}).data
    assert len(created) == 2
    assert len(c.events.list(params={"types": ["customer.updated"]}).data) == 1
    assert len(c.events.list(params={"type": "customer.*"}).data) == 3
    assert len(c.events.list(params={"created": {"gte": before}}).data) == 3
    assert not c.events.list(params={"created": {"lt": before}}).data
    assert not c.events.list(params={"created": {"gt": int(time.time()) + 5}}).data
    with pytest.raises(stripe.InvalidRequestError, match="either `type` or `types`"):
        c.events.list(params={"type": "customer.created", "types": ["customer.updated"]})
    with pytest.raises(stripe.InvalidRequestError, match="at most 20"):
        c.events.list(params={"types": [f"t{i}" for i in range(21)]})
    # Paging with starting_after walks back in time, as auto_paging_iter does.
    page = c.events.list(params={"limit": 1})
    assert page.has_more and page.data[0].id == everything[0].id
    walked = [e.id for e in page.auto_paging_iter()]
    assert walked == [e.id for e in everything]


def test_a_dropped_webhook_is_lost_for_good_but_listed(env: Env) -> None:
    env.control.set_faults(drop_types=["invoice.paid"])
    env.subscribe()
    env.control.wait_idle()
    assert "invoice.paid" not in env.receiver.types
    assert "invoice.payment_succeeded" in env.receiver.types
    (record,) = [r for r in env.control.deliveries() if r["type"] == "invoice.paid"]
    assert record["delivered"] is False and not record["pending"]
    assert record["attempts"][0]["error"] == "dropped for good by fault"
    c = env.client.v1
    missed = c.events.list(params={"delivery_success": False}).data
    assert [e.type for e in missed] == ["invoice.paid"]
    assert missed[0].id == record["id"]
    delivered = c.events.list(params={"delivery_success": True, "limit": 100}).data
    assert "invoice.paid" not in [e.type for e in delivered]
    env.control.clear_faults()
    env.control.resend(record["id"])  # still possible afterwards (Dashboard "Resend")
    env.control.wait_idle()
    assert "invoice.paid" in env.receiver.types


def test_api_error_fault_answers_500_for_n_calls(env: Env) -> None:
    c = env.client.v1
    cust = c.customers.create(params={"email": "f@x.io"})
    env.control.fail_api("/v1/customers/*", method="GET", count=2)
    for _ in range(2):
        with pytest.raises(stripe.APIError) as failed:
            c.customers.retrieve(cust.id)
        assert failed.value.http_status == 500
        assert failed.value.error.type == "api_error"
    assert c.customers.retrieve(cust.id).id == cust.id  # the count is used up
    # Other methods and paths are not affected; nothing happens on a failed call.
    env.control.fail_api("/v1/customers", method="POST", count=1)
    with pytest.raises(stripe.APIError):
        c.customers.create(params={"email": "never@x.io"})
    assert [x.email for x in c.customers.list().data] == ["f@x.io"]
    assert c.customers.list().data  # GET /v1/customers was never armed
    faults = env.control.fail_api("/v1/invoices/*", count=3)
    assert faults[0]["remaining"] == 3
    env.control.clear_api_faults()
    bad = httpx.post(f"{env.url}/_sandbox/api_faults", json={"path": "/nope", "count": 1})
    assert bad.status_code == 400


def test_a_slow_fault_answers_late_then_normally(env: Env) -> None:
    c = env.client.v1
    cust = c.customers.create(params={"email": "slow@x.io"})
    env.control.slow_api("/v1/customers/*", 0.5, method="GET")
    started = time.monotonic()
    assert c.customers.retrieve(cust.id).id == cust.id
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    c.customers.retrieve(cust.id)  # the count is used up
    assert time.monotonic() - started < 0.5
    bad = httpx.post(
        f"{env.url}/_sandbox/api_faults",
        json={"path": "/v1/customers", "delay_seconds": 1000},
    )
    assert bad.status_code == 400
