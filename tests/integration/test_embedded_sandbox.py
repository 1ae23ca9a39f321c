"""The sandbox as the app embeds it (credit_app.api.build_api, served over real HTTP):
a key made up per process, controls only on request, return URLs kept on the app."""

import stat

import httpx
import pytest
import stripe
from starlette.testclient import TestClient

from credit_app.api import app_services, build_api
from credit_app.settings import Settings
from tests import async_run
from tests.integration.billing_server import BillingServer, serve

OLD_CONSTANT_KEY = "sk_test_embedded_sandbox"


@pytest.fixture
def app(engine, database_url, monkeypatch, tmp_path):
    yield from serve(database_url, monkeypatch, tmp_path)


def _stripe(app: BillingServer) -> stripe.StripeClient:
    return stripe.StripeClient(app.api_key, base_addresses={"api": app.sandbox})


def test_each_process_makes_up_its_own_sandbox_key_and_only_its_owner_can_read_it(app, tmp_path):
    assert app.api_key.startswith("sk_test_") and app.api_key != OLD_CONSTANT_KEY
    key_file = tmp_path / "control-key"
    assert key_file.read_text() == app.api_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    refused = httpx.get(
        f"{app.sandbox}/v1/customers", headers={"Authorization": f"Bearer {OLD_CONSTANT_KEY}"}
    )
    assert refused.status_code == 401


def test_controls_are_off_unless_asked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("PAYMENTS", "sandbox")
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:9")
    for name in ("SANDBOX_CONTROLS", "STRIPE_SECRET_KEY", "STRIPE_API_BASE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(sandbox_control_key_file=tmp_path / "key")
    api = build_api(settings)
    with TestClient(api, base_url="http://127.0.0.1:9") as client:
        assert client.post("/stripe-sandbox/_sandbox/reset").status_code == 404
        assert client.get("/api/health").status_code in (200, 503)
    assert not (tmp_path / "key").exists()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "https://evil.example/billing/success",
        "//evil.example/billing/success",
        "http://127.0.0.1:1/elsewhere",
    ],
)
def test_return_urls_must_be_on_the_apps_origin(app, url):
    client = _stripe(app)
    customer = client.v1.customers.create(params={"email": "r@example.com"})
    product = client.v1.products.create(params={"name": "Pack"})
    price = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 800, "product": product.id}
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "customer": customer.id,
                "line_items": [{"price": price.id, "quantity": 1}],
                "success_url": url,
                "cancel_url": f"{app.url}/pricing",
            }
        )
    assert refused.value.param == "success_url"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing_portal.sessions.create(
            params={"customer": customer.id, "return_url": url}
        )
    ours = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": f"{app.url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{app.url}/pricing",
        }
    )
    assert ours.url.startswith(app.sandbox)


def test_the_sandbox_answers_only_requests_addressed_to_this_machine(app):
    page = httpx.get(f"{app.sandbox}/_sandbox/deliveries", headers={"Host": "evil.example"})
    assert page.status_code == 404
    assert app.control("GET", "deliveries").status_code == 200


def test_the_api_carries_its_services_and_installs_nothing(monkeypatch, tmp_path):
    """build_api hands the gateway and the tab pusher to its routes (app.state); only the
    Reflex app's server() installs them process-wide, so building an API has no side effect."""
    monkeypatch.setenv("PAYMENTS", "sandbox")
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:9")
    for name in ("SANDBOX_CONTROLS", "STRIPE_SECRET_KEY", "STRIPE_API_BASE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(app_services, "_installed", None)
    pushed: list[str] = []

    async def push(user_id: str) -> None:
        pushed.append(user_id)

    api = build_api(Settings(sandbox_control_key_file=tmp_path / "key"), push_account=push)
    services = api.state.services
    assert services.payments.sandbox
    assert services.gateway.config.api_base == "http://127.0.0.1:9/stripe-sandbox"
    async_run.run(services.account_changed(["a", "b"]))
    assert pushed == ["a", "b"]
    with pytest.raises(RuntimeError, match="not installed"):
        app_services.current()
