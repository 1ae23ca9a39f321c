"""success_url, cancel_url and return_url: absolute http(s) only, optionally on allowed
origins, refused with Stripe's 400 `url_invalid` before anything is created."""

from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import SandboxSettings
from stripe_sandbox.urls import origin

from .conftest import API_KEY, Env, sandbox_with

UNSAFE = [
    "javascript:alert(document.cookie)",
    "JavaScript://app.test/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/path",
    "/relative/path",
    "app.test/no-scheme",
    "ftp://app.test/file",
    "http:\\\\evil.example",
    "http://app.test\\@evil.example/",
    "https://user:pass@app.test/",
    "https://app.test@evil.example/",
    "http://app.test/a\nb",
    "http://app.test/\x00",
    " http://app.test/",
    "http://app.test:99999/",
    "http:///nohost",
    "http://{CHECKOUT_SESSION_ID}.evil.example/",
    "http://" + "a" * 5000 + ".test/",
]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://app.test/done?s={CHECKOUT_SESSION_ID}", "http://app.test"),
        ("HTTPS://App.Example:443/x", "https://app.example"),
        ("http://app.example:80", "http://app.example"),
        ("http://127.0.0.1:3000/billing", "http://127.0.0.1:3000"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("https://app.example:8443/", "https://app.example:8443"),
    ],
)
def test_origin_of_a_safe_url(url: str, expected: str) -> None:
    assert origin(url) == expected


@pytest.mark.parametrize("url", UNSAFE)
def test_unsafe_urls_have_no_origin(url: str) -> None:
    assert origin(url) is None


def _refused(call: Any, param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call()
    error = caught.value
    assert error.http_status == 400
    assert (error.param, error.code) == (param, "url_invalid")


@pytest.mark.parametrize("param", ["success_url", "cancel_url"])
@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "//evil.example", "https://u:p@app.test/"]
)
def test_checkout_refuses_unsafe_urls_and_creates_nothing(env: Env, param: str, url: str) -> None:
    price = env.catalog()
    _refused(lambda: env.checkout(price.id, **{param: url}), param)
    assert env.client.v1.checkout.sessions.list().data == []


def test_portal_refuses_an_unsafe_return_url(env: Env) -> None:
    cust = env.client.v1.customers.create(params={"email": "p@x.io"})
    create = env.client.v1.billing_portal.sessions.create
    bad = {"customer": cust.id, "return_url": "javascript:x"}
    _refused(lambda: create(params=bad), "return_url")
    nested = httpx.post(
        env.url + "/v1/billing_portal/sessions",
        data={"customer": cust.id, "return_url[0]": "http://app.test/"},
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    assert nested.status_code == 400 and nested.json()["error"]["code"] == "url_invalid"


def test_allowed_origins_restrict_every_return_url() -> None:
    with sandbox_with(
        api_key=API_KEY, allowed_return_origins=("https://App.example/", "http://127.0.0.1:3000")
    ) as url:
        c = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0).v1
        prod = c.products.create(params={"name": "Pack"})
        price = c.prices.create(params={"product": prod.id, "unit_amount": 500, "currency": "usd"})

        def checkout(**urls: str) -> Any:
            params = {"mode": "payment", "line_items": [{"price": price.id}], **urls}
            return c.checkout.sessions.create(params=params)

        for foreign in (
            "http://app.example/done",  # other scheme
            "https://app.example:8443/done",  # other port
            "https://app.example.evil.com/done",
            "https://evil.example/?next=https://app.example/",
            "http://localhost:3000/done",  # same machine, other name
        ):
            _refused(lambda foreign=foreign: checkout(success_url=foreign), "success_url")
            _refused(lambda foreign=foreign: checkout(cancel_url=foreign), "cancel_url")
        assert c.checkout.sessions.list().data == []

        session = checkout(
            success_url="https://APP.example:443/done?session={CHECKOUT_SESSION_ID}",
            cancel_url="http://127.0.0.1:3000/cancel",
        )
        page = httpx.get(session.url)
        assert 'href="http://127.0.0.1:3000/cancel"' in page.text
        paid = httpx.post(session.url, data={"cardnumber": "4242424242424242", "email": "a@x.io"})
        assert paid.status_code == 303
        assert paid.headers["location"] == f"https://APP.example:443/done?session={session.id}"

        cust = c.customers.create(params={"email": "a@x.io"})
        portal = c.billing_portal.sessions.create
        _refused(
            lambda: portal(params={"customer": cust.id, "return_url": "https://evil.example/"}),
            "return_url",
        )
        ok = portal(params={"customer": cust.id, "return_url": "https://app.example/account"})
        assert 'href="https://app.example/account"' in httpx.get(ok.url).text


def test_settings_refuse_an_allowed_origin_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="allowed_return_origins"):
        SandboxSettings(
            api_key=None,
            webhook_secret="whsec_x",
            webhook_url=None,
            public_url="http://127.0.0.1:1",
            allowed_return_origins=("javascript:alert(1)",),
        )


def test_pages_escape_what_they_render_and_forbid_script(env: Env) -> None:
    price = env.catalog(name='<img src=x onerror="alert(1)">')
    session = env.checkout(
        price.id,
        customer_email='"><script>alert(1)</script>@x.io',
        cancel_url="http://app.test/cancel?x=\"><b>y</b>'",
    )
    page = httpx.get(session.url)
    assert "<script>" not in page.text and "<img" not in page.text and "<b>" not in page.text
    assert 'href="http://app.test/cancel?x=&quot;&gt;&lt;b&gt;y&lt;/b&gt;&#x27;"' in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
