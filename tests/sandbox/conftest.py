"""One real sandbox and one real webhook receiver for the whole sandbox suite; every test
starts from an empty sandbox (POST /_sandbox/reset) and an empty receiver."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from stripe_sandbox import SandboxControl, SandboxSettings, create_app

from .harness import Receiver, free_port, serve

SECRET = "whsec_sandbox_test_secret"
API_KEY = "sk_test_sandbox_suite"


@dataclass
class Env:
    url: str
    client: stripe.StripeClient
    control: SandboxControl
    receiver: Receiver

    def catalog(
        self, amount: int = 2000, interval: str | None = "month", name: str = "Pro"
    ) -> dict[str, Any]:
        prod = self.client.v1.products.create(params={"name": name})
        params: dict[str, Any] = {"product": prod.id, "unit_amount": amount, "currency": "usd"}
        if interval:
            params["recurring"] = {"interval": interval}
        return self.client.v1.prices.create(params=params)

    def settle(self) -> None:
        """Wait until earlier events arrived, then forget them."""
        self.control.wait_idle()
        self.receiver.clear()

    def checkout(self, price_id: str, mode: str = "subscription", **extra: Any) -> Any:
        params = {
            "mode": mode,
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": "http://app.test/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://app.test/cancel",
            **extra,
        }
        return self.client.v1.checkout.sessions.create(params=params)

    def pay(self, session: Any, card: str = "4242 4242 4242 4242") -> httpx.Response:
        """Fill in and submit the hosted checkout form, as a browser would."""
        page = httpx.get(session.url)
        assert page.status_code == 200, page.text
        return submit_form(page.text, {"cardnumber": card, "email": "buyer@example.com"})

    def subscribe(self, card: str = "4242 4242 4242 4242", amount: int = 2000) -> Any:
        price = self.catalog(amount=amount)
        self.settle()  # keep only the checkout's own events
        session = self.checkout(
            price.id, customer_email="sub@example.com", subscription_data={"metadata": {"u": "1"}}
        )
        assert self.pay(session, card).status_code == 303
        self.control.wait_idle()
        return self.client.v1.checkout.sessions.retrieve(session.id)


def form_fields(html: str, form_index: int = 0) -> tuple[str, dict[str, str], list[str]]:
    """The action, hidden inputs and other input names of the n-th form on a page."""
    forms = re.findall(r"<form[^>]*>.*?</form>", html, flags=re.S)
    form = forms[form_index]
    action = re.search(r'action="([^"]+)"', form).group(1).replace("&amp;", "&")
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    names = re.findall(r'<input type="(?:text|email)" id="[^"]+" name="([^"]+)"', form)
    return action, hidden, names


def submit_form(html: str, values: dict[str, str], form_index: int = 0) -> httpx.Response:
    action, hidden, names = form_fields(html, form_index)
    data = {**hidden, **{name: values[name] for name in names if name in values}}
    return httpx.post(action, data=data)


@contextmanager
def sandbox_with(**settings: Any) -> Iterator[str]:
    """A sandbox of its own (no webhooks) for tests of non-default settings; yields its URL."""
    port = free_port()
    base = {"api_key": None, "webhook_secret": SECRET, "webhook_url": None}
    app = create_app(
        SandboxSettings(**{**base, "public_url": f"http://127.0.0.1:{port}", **settings})
    )
    with serve(app, port) as url:
        yield url


@pytest.fixture(scope="session")
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver(SECRET)
    with serve(rec.app(), free_port()) as url:
        yield rec, url + "/webhook"


@pytest.fixture(scope="session")
def sandbox_url(receiver: tuple[Receiver, str]) -> Iterator[str]:
    port = free_port()
    settings = SandboxSettings(
        api_key=None,
        webhook_secret=SECRET,
        public_url=f"http://127.0.0.1:{port}",
        webhook_url=receiver[1],
        retry_base_seconds=0.05,
        max_attempts=4,
    )
    with serve(create_app(settings), port) as url:
        yield url


@pytest.fixture
def env(sandbox_url: str, receiver: tuple[Receiver, str]) -> Iterator[Env]:
    control = SandboxControl(sandbox_url)
    control.reset()
    receiver[0].clear()
    client = stripe.StripeClient(
        API_KEY, base_addresses={"api": sandbox_url}, max_network_retries=0
    )
    yield Env(sandbox_url, client, control, receiver[0])
    control.close()
