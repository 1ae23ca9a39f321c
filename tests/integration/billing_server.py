"""The app's HTTP side (webhook route + embedded Stripe sandbox) served by uvicorn on a
free port, against one test database: real HTTP both ways, nothing mocked."""

import socket
import threading
import time
import uuid
from dataclasses import dataclass

import httpx
import uvicorn
from sqlalchemy import Engine, select

from credit_app import credits, db, settings
from credit_app.api import build_api
from credit_app.billing import checkout, runtime
from credit_app.billing.stripe_gateway import StripeGateway
from credit_app.db import session_scope
from credit_app.models import UserSubscription
from tests import async_run
from tests.html_forms import submit

CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_FAILS_LATER = "4000 0000 0000 0341"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BillingServer:
    url: str
    engine: Engine
    gateway: StripeGateway

    @property
    def sandbox(self) -> str:
        return self.url + runtime.SANDBOX_PATH

    @property
    def api_key(self) -> str:
        """The embedded sandbox's key, made up at start (the test controls take it too)."""
        return self.gateway.config.secret_key

    def control(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = httpx.request(
            method,
            f"{self.sandbox}/_sandbox/{path}",
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
            **kwargs,
        )
        response.raise_for_status()
        return response

    def wait_idle(self, timeout: float = 30) -> None:
        """Poll until every webhook delivery has finished (no sleeping a fixed time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.control("GET", "idle").json()["pending"] == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"webhooks still pending after {timeout}s")

    def checkout(self, user_id: uuid.UUID, plan_id: str, card: str = CARD_OK) -> httpx.Response:
        # A fresh gateway: its httpx client must belong to the event loop that runs it.
        url = async_run.run(
            checkout.start_checkout(
                StripeGateway(self.gateway.config),
                user_id=user_id,
                plan_id=plan_id,
                app_url=self.url,
                create_missing_price=True,
            )
        )
        with httpx.Client(timeout=30) as client:
            response = submit(client, url, button="", fields={"Card number": card})
        self.wait_idle()
        return response

    def purchase_url(self, user_id: uuid.UUID, plan_id: str) -> str:
        """Where the pricing page sends this user for `plan_id` (Checkout, or for a
        subscriber the portal's confirmation of the change)."""
        return async_run.run(
            checkout.start_purchase(
                StripeGateway(self.gateway.config),
                user_id=user_id,
                plan_id=plan_id,
                app_url=self.url,
                create_missing_price=True,
            )
        )

    def change_plan(self, user_id: uuid.UUID, plan_id: str) -> httpx.Response:
        """A subscriber picks another plan on the pricing page and confirms it in the
        portal; returns the portal's answer (a redirect to the dashboard when done)."""
        url = self.purchase_url(user_id, plan_id)
        with httpx.Client(timeout=30) as client:
            response = submit(client, url, button="Confirm")
        self.wait_idle()
        return response

    def balance(self, user_id: uuid.UUID) -> int:
        with session_scope(self.engine) as session:
            return credits.balance(session, user_id=user_id)

    def subscription(self, user_id: uuid.UUID) -> UserSubscription | None:
        with session_scope(self.engine) as session:
            return session.scalar(
                select(UserSubscription).where(UserSubscription.user_id == user_id)
            )

    def advance(self, user_id: uuid.UUID) -> dict:
        sub_id = self.subscription(user_id).stripe_subscription_id
        invoice = self.control("POST", f"subscriptions/{sub_id}/advance").json()
        self.wait_idle()
        return invoice


def serve(database_url: str, monkeypatch, tmp_path):
    """Context: start the server for `database_url`; yields a BillingServer."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("APP_URL", url)
    monkeypatch.setenv("PAYMENTS", "sandbox")
    monkeypatch.setenv("SANDBOX_CONTROLS", "true")
    monkeypatch.setenv("SANDBOX_CONTROL_KEY_FILE", str(tmp_path / "control-key"))
    for name in ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    api = build_api()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("billing server did not start")
        time.sleep(0.02)
    try:
        yield BillingServer(url=url, engine=db.get_engine(), gateway=api.state.services.gateway)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.get_engine().dispose()
        settings.get_settings.cache_clear()
        db.get_engine.cache_clear()
