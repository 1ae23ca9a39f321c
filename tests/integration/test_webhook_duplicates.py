"""A repeated Stripe event is answered from our own records: no request reaches Stripe
and the database is read once, whether the first delivery has finished or is still
running. Real HTTP to a Stripe-compatible server (the sandbox, served on a free port
behind a counter of the requests that reach it), to the app's webhook route for signed
deliveries, and a real database, on SQLite and PostgreSQL; the events are the sandbox's
own, for a user who subscribed through Checkout."""

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, event
from starlette.types import ASGIApp, Receive, Scope, Send

from credit_app import routes, settings
from credit_app.api import build_api
from credit_app.billing import checkout
from credit_app.billing.stripe_gateway import StripeConfig, StripeGateway
from credit_app.billing.webhooks import process_event
from credit_app.models import EventOutcome
from stripe_sandbox import SandboxSettings, create_app
from tests import async_run
from tests.factories import make_user
from tests.integration.billing_server import free_port
from tests.integration.conftest import balance

API_KEY = "sk_test_duplicates"
WEBHOOK_SECRET = "whsec_duplicates"
APP_URL = "http://127.0.0.1:9"  # Checkout's return URLs; nothing is served there
APPLIED, DUPLICATE = EventOutcome.APPLIED, EventOutcome.DUPLICATE


class CountingProxy:
    """The requests that reach the Stripe-compatible server, by path (an ASGI layer in
    front of the sandbox: counted as they arrive, before the sandbox answers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            self.paths.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@dataclass
class StatementLog:
    """The SQL statements the app's engine sends while `recording` (SQLite's explicit
    BEGIN left out: it is how a transaction starts there, not a statement of ours)."""

    statements: list[str] = field(default_factory=list)
    recording: bool = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.recording and not statement.startswith("BEGIN"):
            self.statements.append(statement)


@dataclass
class Stripe:
    url: str
    counter: CountingProxy
    gateway_config: StripeConfig

    def control(self, path: str, **json: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/_sandbox/{path}",
            json=json,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def invoice_paid_events(self) -> list[dict[str, Any]]:
        """The sandbox's `invoice.paid` events, newest first (it delivers none itself)."""
        response = httpx.get(
            f"{self.url}/v1/events",
            params={"type": "invoice.paid", "limit": 100},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["data"]


@contextmanager
def _serve(app: ASGIApp, port: int) -> Iterator[None]:
    """`app` served by uvicorn on `port` in a thread, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def stripe() -> Iterator[Stripe]:
    """The sandbox behind the request counter; it keeps its events and delivers none."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = create_app(
        SandboxSettings(
            api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, webhook_url=None, public_url=url
        )
    )
    counter = CountingProxy(sandbox)
    with _serve(counter, port):
        yield Stripe(url, counter, StripeConfig(API_KEY, WEBHOOK_SECRET, api_base=url))


@pytest.fixture
def statements(app_db: Engine) -> Iterator[StatementLog]:
    log = StatementLog()
    event.listen(app_db, "before_cursor_execute", log)
    yield log
    event.remove(app_db, "before_cursor_execute", log)


def _subscribe(stripe: Stripe, engine: Engine) -> tuple[uuid.UUID, str]:
    """A user subscribed to Pro through Checkout, as the pricing page does it; returns
    the user and the subscription."""
    user_id = make_user(engine)

    async def start() -> str:
        return await checkout.start_checkout(
            StripeGateway(stripe.gateway_config),
            user_id=user_id,
            plan_id="pro_monthly",
            app_url=APP_URL,
            create_missing_price=True,
            engine=engine,
        )

    session_id = async_run.run(start()).rsplit("/", 1)[1]
    paid = stripe.control(f"checkout/{session_id}/pay")
    return user_id, paid["subscription"]


def _deliver(stripe: Stripe, evt: dict[str, Any], engine: Engine, copies: int = 1):
    """`copies` deliveries of `evt` at once, as the webhook route runs them (one process,
    one event loop)."""

    async def deliver() -> list:
        gateway = StripeGateway(stripe.gateway_config)
        return await asyncio.gather(
            *(process_event(gateway, evt, engine=engine) for _ in range(copies))
        )

    return async_run.run(deliver())


def _measured(stripe: Stripe, statements: StatementLog, run) -> tuple[Any, list[str], list[str]]:
    """What `run()` returned, the Stripe requests and the SQL statements it made."""
    stripe.counter.paths.clear()
    statements.statements.clear()
    statements.recording = True
    try:
        result = run()
    finally:
        statements.recording = False
    return result, list(stripe.counter.paths), list(statements.statements)


def test_a_repeated_event_asks_stripe_nothing_and_reads_once(stripe, app_db, statements):
    user_id, subscription = _subscribe(stripe, app_db)
    [paid] = stripe.invoice_paid_events()

    [first], asked, first_sql = _measured(
        stripe, statements, lambda: _deliver(stripe, paid, app_db)
    )
    assert first.outcome is APPLIED
    # What a first delivery costs: the subscription re-fetched (its state and prices).
    assert asked == [f"GET /v1/subscriptions/{subscription}"]
    assert balance(app_db, str(user_id)) == 100 + 1000

    for _ in range(3):
        [again], asked, sql = _measured(stripe, statements, lambda: _deliver(stripe, paid, app_db))
        assert again.outcome is DUPLICATE and again.detail == "already processed (applied)"
        assert asked == []
        # One read of the event's own row, by its primary key.
        assert len(sql) == 1 and "FROM stripe_events" in sql[0], sql
        assert "WHERE stripe_events.id =" in sql[0]
    assert len(first_sql) > 5  # the claim, the grant and the outcome: far more than a read
    assert balance(app_db, str(user_id)) == 100 + 1000


def test_copies_arriving_together_ask_stripe_once_and_grant_once(stripe, app_db, statements):
    user_id, subscription = _subscribe(stripe, app_db)
    stripe.control(f"subscriptions/{subscription}/advance")
    renewal, first_invoice = stripe.invoice_paid_events()
    _deliver(stripe, first_invoice, app_db)

    outcomes, asked, _ = _measured(
        stripe, statements, lambda: _deliver(stripe, renewal, app_db, copies=6)
    )
    assert sorted(o.outcome for o in outcomes) == [APPLIED] + [DUPLICATE] * 5
    # Only the attempt that ran asked Stripe; the copies waited for its outcome.
    assert asked == [f"GET /v1/subscriptions/{subscription}"]
    assert balance(app_db, str(user_id)) == 100 + 2 * 1000


@pytest.fixture
def webhook_url(stripe, app_db, monkeypatch) -> Iterator[str]:
    """The app's webhook route (`build_api`, PAYMENTS=stripe) against the counted sandbox;
    app_db points the app at the test's database and resets the settings afterwards."""
    port = free_port()
    monkeypatch.setenv("APP_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PAYMENTS", "stripe")
    monkeypatch.setenv("STRIPE_SECRET_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", stripe.url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    settings.get_settings.cache_clear()
    with _serve(build_api(), port):
        yield f"http://127.0.0.1:{port}{routes.STRIPE_WEBHOOK}"


def _signed(evt: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The event as Stripe sends it: the body and its `Stripe-Signature`."""
    body = json.dumps(evt).encode()
    timestamp = int(time.time())
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return body, {"Stripe-Signature": f"t={timestamp},v1={digest}"}


def test_the_webhook_route_answers_a_redelivery_without_asking_stripe(stripe, webhook_url, app_db):
    user_id, subscription = _subscribe(stripe, app_db)
    [paid] = stripe.invoice_paid_events()
    body, headers = _signed(paid)

    stripe.counter.paths.clear()
    first = httpx.post(webhook_url, content=body, headers=headers, timeout=30)
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    assert stripe.counter.paths == [f"GET /v1/subscriptions/{subscription}"]

    stripe.counter.paths.clear()
    for _ in range(3):
        again = httpx.post(webhook_url, content=body, headers=headers, timeout=30)
        assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert stripe.counter.paths == []
    assert balance(app_db, str(user_id)) == 100 + 1000
