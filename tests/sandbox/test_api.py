"""The REST subset through the unchanged official SDK: catalog, errors, idempotency, async."""

import httpx
import pytest
import stripe

from stripe_sandbox import SandboxSettings, create_app
from tests import async_run

from .conftest import SECRET, Env
from .harness import free_port, serve


def test_products_prices_and_lookup_keys(env: Env) -> None:
    c = env.client.v1
    prod = c.products.create(params={"name": "Pro", "metadata": {"tier": "pro"}})
    assert prod.id.startswith("prod_") and prod.metadata["tier"] == "pro"
    monthly = c.prices.create(
        params={
            "product": prod.id,
            "unit_amount": 2000,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
        }
    )
    assert monthly.type == "recurring" and monthly.recurring.interval == "month"

    # Listing by lookup key is what seeding relies on to stay idempotent.
    for _ in range(2):
        found = c.prices.list(params={"lookup_keys": ["pro_monthly"], "expand": ["data.product"]})
        assert [p.id for p in found.data] == [monthly.id]
        assert found.data[0].product.name == "Pro"

    with pytest.raises(stripe.InvalidRequestError) as taken:
        c.prices.create(
            params={"product": prod.id, "unit_amount": 2500, "currency": "usd",
                    "recurring": {"interval": "month"}, "lookup_key": "pro_monthly"}
        )  # fmt: skip
    assert taken.value.param == "lookup_key"

    moved = c.prices.create(
        params={"product": prod.id, "unit_amount": 2500, "currency": "usd",
                "recurring": {"interval": "month"}, "lookup_key": "pro_monthly",
                "transfer_lookup_key": True}
    )  # fmt: skip
    assert c.prices.retrieve(monthly.id).lookup_key is None
    found = c.prices.list(params={"lookup_keys": ["pro_monthly"]})
    assert [p.id for p in found.data] == [moved.id]

    c.prices.update(monthly.id, params={"active": False, "metadata": {"old": "yes"}})
    active = c.prices.list(params={"active": True, "product": prod.id})
    assert [p.id for p in active.data] == [moved.id]
    assert c.products.update(prod.id, params={"name": "Pro 2"}).name == "Pro 2"
    assert [p.id for p in c.products.list().data] == [prod.id]

    fixed = c.products.create(params={"name": "Pack", "id": "prod_pack"})
    assert c.products.retrieve("prod_pack").id == fixed.id


def test_pagination_walks_every_item(env: Env) -> None:
    ids = [env.client.v1.customers.create(params={"email": f"{i}@x.io"}).id for i in range(7)]
    page = env.client.v1.customers.list(params={"limit": 3})
    assert page.has_more and len(page.data) == 3
    walked = [c.id for c in page.auto_paging_iter()]
    assert walked == list(reversed(ids))


def test_errors_raise_the_sdk_exceptions(env: Env) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        env.client.v1.subscriptions.retrieve("sub_doesnotexist")
    assert missing.value.code == "resource_missing"
    assert missing.value.http_status == 404
    assert missing.value.error.message == "No such subscription: 'sub_doesnotexist'"

    with pytest.raises(stripe.InvalidRequestError) as no_param:
        env.client.v1.prices.create(params={"unit_amount": 100, "currency": "usd"})
    assert no_param.value.code == "parameter_missing" and no_param.value.param == "product"

    price = env.catalog()
    with pytest.raises(stripe.InvalidRequestError) as bad_price:
        env.checkout("price_nope")
    assert bad_price.value.http_status == 400 and bad_price.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as wrong_mode:
        env.checkout(price.id, mode="payment")
    assert "recurring price" in str(wrong_mode.value)

    bad_key = stripe.StripeClient("sk_live_nope", base_addresses={"api": env.url})
    with pytest.raises(stripe.AuthenticationError):
        bad_key.v1.customers.list()
    response = httpx.get(env.url + "/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_configured_api_key_is_required() -> None:
    port = free_port()
    settings = SandboxSettings(
        api_key="sk_test_only",
        webhook_secret=SECRET,
        webhook_url=None,
        public_url=f"http://127.0.0.1:{port}",
    )
    with serve(create_app(settings), port) as url:
        other = stripe.StripeClient("sk_test_other", base_addresses={"api": url})
        with pytest.raises(stripe.AuthenticationError):
            other.v1.customers.list()
        right = stripe.StripeClient("sk_test_only", base_addresses={"api": url})
        assert right.v1.customers.create(params={"email": "a@b.io"}).email == "a@b.io"
        assert httpx.post(url + "/_sandbox/reset").status_code == 401


def test_idempotency_keys_replay_the_first_response(env: Env) -> None:
    options = {"idempotency_key": "signup-42"}
    first = env.client.v1.customers.create(params={"email": "a@b.io"}, options=options)
    again = env.client.v1.customers.create(params={"email": "a@b.io"}, options=options)
    assert again.id == first.id
    assert len(env.client.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError):
        env.client.v1.customers.create(params={"email": "other@b.io"}, options=options)


def test_async_calls_with_the_httpx_client(env: Env) -> None:
    client = stripe.StripeClient(
        "sk_test_async", base_addresses={"api": env.url}, http_client=stripe.HTTPXClient()
    )

    async def scenario() -> tuple[str, str]:
        cust = await client.v1.customers.create_async(params={"email": "async@x.io"})
        fetched = await client.v1.customers.retrieve_async(cust.id)
        return cust.id, fetched.email

    cust_id, email = async_run.run(scenario())
    assert cust_id.startswith("cus_") and email == "async@x.io"


def test_customer_update_and_metadata_merge(env: Env) -> None:
    cust = env.client.v1.customers.create(
        params={"email": "m@x.io", "name": "M", "metadata": {"user_id": "9", "plan": "free"}}
    )
    updated = env.client.v1.customers.update(
        cust.id, params={"name": "Mia", "metadata": {"plan": "", "team": "a"}}
    )
    assert updated.name == "Mia"
    assert updated.metadata.to_dict() == {"user_id": "9", "team": "a"}
    env.control.wait_idle()
    updated_event = [
        d.event for d in env.receiver.deliveries if d.event["type"] == "customer.updated"
    ]
    assert updated_event[0]["data"]["previous_attributes"]["name"] == "M"
