"""Who can reach the sandbox: controls switched off, the API key on controls, loopback-only
Host checks, and the standalone CLI's settings."""

import httpx
import pytest
import stripe

from stripe_sandbox.__main__ import settings_from_env
from stripe_sandbox.hosts import is_loopback_host

from .conftest import API_KEY, SECRET, sandbox_with
from .harness import sandbox_process, standalone_sandbox

AUTH = {"authorization": f"Bearer {API_KEY}"}

# Every control route, with ids that exist nowhere (a routed control answers 401/400/404
# JSON from its handler; an unrouted one answers the not-found error of unknown paths).
CONTROL_CALLS = [
    ("GET", "/_sandbox/health"),
    ("GET", "/_sandbox/faults"),
    ("POST", "/_sandbox/faults"),
    ("DELETE", "/_sandbox/faults"),
    ("GET", "/_sandbox/deliveries"),
    ("GET", "/_sandbox/idle"),
    ("POST", "/_sandbox/subscriptions/sub_x/advance"),
    ("POST", "/_sandbox/charges/ch_x/dispute"),
    ("POST", "/_sandbox/disputes/dp_x/close"),
    ("POST", "/_sandbox/checkout/cs_x/pay"),
    ("POST", "/_sandbox/events/evt_x/resend"),
    ("POST", "/_sandbox/reset"),
]


def _unrouted(response: httpx.Response, method: str, path: str) -> bool:
    message = f"Unrecognized request URL ({method}: {path})."
    return response.status_code == 404 and response.json()["error"]["message"] == message


def test_without_controls_no_sandbox_route_exists() -> None:
    with sandbox_with(api_key=API_KEY, controls=False) as url:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
        cust = client.v1.customers.create(params={"email": "kept@x.io"})
        for method, path in CONTROL_CALLS:
            for headers in ({}, AUTH):
                response = httpx.request(method, url + path, headers=headers, json={})
                assert _unrouted(response, method, path), (method, path, response.text)
        # Nothing was reset: the API still serves what was there.
        assert client.v1.customers.retrieve(cust.id).email == "kept@x.io"


def test_controls_require_the_configured_key() -> None:
    with sandbox_with(api_key=API_KEY) as url:
        for method, path in CONTROL_CALLS:
            for headers in ({}, {"authorization": "Bearer sk_test_wrong"}, {"authorization": "x"}):
                response = httpx.request(method, url + path, headers=headers, json={})
                if path == "/_sandbox/health":  # says only that it runs, and where
                    assert response.status_code == 200
                else:
                    assert response.status_code == 401, (method, path, headers)
        assert httpx.get(url + "/_sandbox/deliveries", headers=AUTH).json() == {"data": []}
        # A non-ASCII header is compared (and refused), not a crash.
        odd = httpx.get(url + "/_sandbox/idle", headers={"authorization": "Bearer é".encode()})
        assert odd.status_code == 401


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST:3000", True),
        ("app.localhost:8000", True),
        ("127.0.0.1", True),
        ("127.8.9.10:3000", True),
        ("[::1]", True),
        ("[::1]:3000", True),
        ("", False),
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io:3000", False),
        ("evil.example:3000@127.0.0.1", False),
        ("localhost:3000:80", False),
        ("[::1]x", False),
        ("[::2]:3000", False),
        ("10.0.0.1", False),
        ("0.0.0.0:3000", False),
    ],
)
def test_loopback_host_names(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_loopback_only_ignores_other_hosts_without_touching_state() -> None:
    with sandbox_with(api_key=API_KEY, loopback_only=True) as url:
        port = url.rsplit(":", 1)[1]
        foreign = {**AUTH, "host": f"rebound.example:{port}"}
        for method, path in [
            ("POST", "/v1/customers"),
            ("POST", "/_sandbox/reset"),
            ("GET", "/checkout/cs_test_x"),
            ("POST", "/checkout/cs_test_x"),
            ("GET", "/_sandbox/health"),
        ]:
            response = httpx.request(method, url + path, headers=foreign, data={"email": "e@x"})
            assert response.status_code == 404, (method, path)
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"app.localhost:{port}"):
            listed = httpx.get(url + "/v1/customers", headers={**AUTH, "host": host})
            assert listed.status_code == 200 and listed.json()["data"] == []
        # Without a Host override httpx sends 127.0.0.1:port, the host of public_url.
        created = httpx.post(url + "/v1/customers", headers=AUTH, data={"email": "ok@x.io"})
        assert created.status_code == 200


def test_settings_from_env_defaults_and_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SANDBOX_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("STRIPE_SANDBOX_PUBLIC_URL", "http://127.0.0.1:12111")
    defaults = settings_from_env()
    assert defaults.controls and not defaults.loopback_only
    assert defaults.allowed_return_origins == ()
    assert defaults.max_body_bytes == 256 * 1024
    monkeypatch.setenv("STRIPE_SANDBOX_ALLOWED_RETURN_ORIGINS", "http://a.test https://b.test")
    monkeypatch.setenv("STRIPE_SANDBOX_LOOPBACK_ONLY", "1")
    custom = settings_from_env()
    assert custom.allowed_return_origins == ("http://a.test", "https://b.test")
    assert custom.loopback_only and custom.controls


def test_cli_refuses_a_bad_allowed_origin() -> None:
    proc = sandbox_process(
        "--webhook-secret", SECRET, "--allowed-return-origin", "javascript:alert(1)"
    )
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 2 and b"not an http(s) origin" in output


def test_cli_allowed_return_origins() -> None:
    with standalone_sandbox(
        "--webhook-secret", SECRET, "--api-key", API_KEY,
        "--allowed-return-origin", "http://app.test",
        "--allowed-return-origin", "https://other.test:8443",
    ) as url:  # fmt: skip
        c = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0).v1
        prod = c.products.create(params={"name": "CLI"})
        price = c.prices.create(params={"product": prod.id, "unit_amount": 100, "currency": "usd"})
        base = {"mode": "payment", "line_items": [{"price": price.id}]}
        for allowed in ("http://app.test/ok", "https://other.test:8443/ok"):
            made = c.checkout.sessions.create(params={**base, "success_url": allowed})
            assert made.success_url == allowed
        with pytest.raises(stripe.InvalidRequestError) as caught:
            c.checkout.sessions.create(params={**base, "success_url": "https://evil.test/"})
        assert caught.value.code == "url_invalid"
        # Still the test tool: controls answer.
        assert httpx.get(url + "/_sandbox/idle", headers=AUTH).json() == {"pending": 0}
