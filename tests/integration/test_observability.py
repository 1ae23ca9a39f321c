"""Metrics, readiness and request ids through the real services and the real ASGI stack
the backend serves (`server()`: the guard, /metrics, the routes), on SQLite and
PostgreSQL. Counters are read before and after, so other tests in this process do not
matter."""

import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from credit_app import credits, db, routes, settings
from credit_app.api import server
from credit_app.credits import limits
from credit_app.db import session_scope
from credit_app.models import GrantSource, utcnow
from tests import stripe_payloads as sp
from tests.factories import make_user


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def spends(feature: str) -> tuple[float, float]:
    return (
        sample("credit_app_spends_total", feature=feature),
        sample("credit_app_spent_credits_total", feature=feature),
    )


def _spend(engine, user_id, amount: int, feature: str = "qr", key: str | None = None):
    with session_scope(engine) as session:
        return credits.spend(
            session,
            user_id=user_id,
            amount=amount,
            idempotency_key=key or f"test:{uuid.uuid4()}",
            feature=feature,
        )


def test_a_committed_spend_is_counted_once_by_its_tool(engine):
    user_id = make_user(engine)
    before = spends("qr")
    _spend(engine, user_id, 3, key="once")
    _spend(engine, user_id, 3, key="once")  # replayed: nothing new
    assert spends("qr") == (before[0] + 1, before[1] + 3)


def test_a_feature_named_by_an_api_caller_is_counted_as_other(engine):
    user_id = make_user(engine)
    before = spends("other")
    _spend(engine, user_id, 2, feature=f"caller-{uuid.uuid4().hex}")
    assert spends("other") == (before[0] + 1, before[1] + 2)


def test_a_spend_rolled_back_with_its_transaction_counts_nothing(engine):
    user_id = make_user(engine)
    before = spends("qr")
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        credits.spend(session, user_id=user_id, amount=5, idempotency_key="gone", feature="qr")
        raise RuntimeError("the rest of the transaction failed")
    assert spends("qr") == before
    with session_scope(engine) as session:
        assert credits.balance(session, user_id=user_id) == 100


def test_refused_spends_are_counted_by_reason(engine):
    user_id = make_user(engine)
    insufficient = sample("credit_app_spend_refusals_total", reason="insufficient_credits")
    limited = sample("credit_app_spend_refusals_total", reason="spending_limit")
    before = spends("qr")
    with pytest.raises(credits.InsufficientCredits):
        _spend(engine, user_id, 101)
    with session_scope(engine) as session:
        limits.set_spend_limit(session, user_id=user_id, limit=10, now=utcnow())
    with pytest.raises(credits.SpendingLimitReached):
        _spend(engine, user_id, 11)
    assert sample("credit_app_spend_refusals_total", reason="insufficient_credits") == (
        insufficient + 1
    )
    assert sample("credit_app_spend_refusals_total", reason="spending_limit") == limited + 1
    assert spends("qr") == before


def test_grants_are_counted_by_kind_and_source(engine):
    signups = sample("credit_app_grants_total", kind="grant", source="signup")
    user_id = make_user(engine)
    assert sample("credit_app_grants_total", kind="grant", source="signup") == signups + 1
    packs = sample("credit_app_granted_credits_total", kind="grant", source="pack")
    with session_scope(engine) as session:
        credits.grant(
            session, user_id=user_id, amount=500, idempotency_key="pack:1", source=GrantSource.PACK
        )
    assert sample("credit_app_granted_credits_total", kind="grant", source="pack") == packs + 500


# --- The served stack -------------------------------------------------------------------


async def _not_found(_request: Request) -> PlainTextResponse:
    """Stands in for the Reflex app that server() mounts last: its catch-all."""
    return PlainTextResponse("Not Found", status_code=404)


# With REDIS_URL (several workers) the embedded sandbox refuses to start: Stripe's test
# mode settings, never called by these tests.
STRIPE_TEST_MODE = {
    "PAYMENTS": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_observability",
    "STRIPE_WEBHOOK_SECRET": "whsec_observability",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(app_db, monkeypatch, tmp_path) -> Iterator[Callable]:
    """`served(client_address, **env)`: a TestClient on what the backend serves, built
    the way it is at start (server()), with these settings."""

    def serve(client: str = "127.0.0.1", **env: str) -> TestClient:
        monkeypatch.setenv("PAYMENTS", "sandbox")
        monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
        for name in (
            "REDIS_URL",
            "METRICS_ALLOW",
            "LOG_FORMAT",
            "SANDBOX_CONTROLS",
            "STRIPE_API_BASE",
        ):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings.get_settings.cache_clear()
        db.get_engine.cache_clear()
        reflex_stand_in = Starlette(routes=[Route("/{path:path}", _not_found)])
        app = server(tmp_path, push_account=_no_tabs)(reflex_stand_in)
        return TestClient(app, client=(client, 50000))

    yield serve
    settings.get_settings.cache_clear()


async def _no_tabs(_user_id: str) -> None:
    return None


def test_metrics_are_served_to_a_direct_loopback_peer(served, engine):
    _spend(engine, make_user(engine), 1)
    response = served().get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 'credit_app_spends_total{feature="qr"}' in response.text
    assert "# TYPE credit_app_stripe_webhook_seconds histogram" in response.text


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "127.0.0.1"},
        {"Forwarded": "for=127.0.0.1"},
        {"X-Real-IP": "127.0.0.1"},
    ],
    ids=["x-forwarded-for", "forwarded", "x-real-ip"],
)
def test_metrics_through_a_proxy_look_like_any_unknown_path(served, header):
    client = served()
    unknown = client.get("/no-such-page")
    refused = client.get("/metrics", headers=header)
    assert (refused.status_code, refused.text) == (unknown.status_code, unknown.text)
    assert refused.status_code == 404
    assert "credit_app_" not in refused.text


def test_metrics_refuse_a_peer_outside_metrics_allow(served):
    # A public demo's settings: the simulated payments answer other machines too.
    public = {"ALLOW_PUBLIC_SANDBOX": "true"}
    outside = served(client="10.1.2.3", **public)
    assert outside.get("/metrics").status_code == 404
    assert outside.get("/api/health").status_code == 200
    allowed = served(client="10.1.2.3", METRICS_ALLOW="10.0.0.0/8, ::1", **public)
    assert allowed.get("/metrics").status_code == 200
    # The default allows loopback only; IPv6 loopback too.
    assert served(client="::1").get("/metrics").status_code == 200


def test_api_requests_are_timed_by_route(served):
    client = served()
    health = sample("credit_app_http_request_seconds_count", route="/api/health", status="2xx")
    balance = sample("credit_app_http_request_seconds_count", route="/api/v1/balance", status="4xx")
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/v1/balance").status_code == 401  # no key
    assert (
        sample("credit_app_http_request_seconds_count", route="/api/health", status="2xx")
        == health + 1
    )
    assert (
        sample("credit_app_http_request_seconds_count", route="/api/v1/balance", status="4xx")
        == balance + 1
    )


def test_a_request_id_is_echoed_when_well_formed_and_made_up_otherwise(served):
    client = served()
    assert client.get("/api/health", headers={"X-Request-Id": "lb-42-a"}).headers[
        "x-request-id"
    ] == ("lb-42-a")
    made_up = client.get("/api/health", headers={"X-Request-Id": "x\r\nlevel: forged"})
    assert made_up.headers["x-request-id"].isalnum()
    assert made_up.headers["x-request-id"] != client.get("/api/health").headers["x-request-id"]


def test_ready_when_the_database_answers_and_redis_is_not_configured(served):
    response = served().get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": True, "redis": None}


def test_ready_checks_redis_when_it_is_configured(served):
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    response = served(REDIS_URL="redis://127.0.0.1:6379/15", **STRIPE_TEST_MODE).get("/api/ready")
    assert response.json() == {"status": "ready", "database": True, "redis": True}


def test_not_ready_when_redis_does_not_answer(served):
    client = served(REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0", **STRIPE_TEST_MODE)
    started = time.monotonic()
    response = client.get("/api/ready")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "database": True, "redis": False}


def test_not_ready_when_the_database_does_not_answer(served, tmp_path):
    client = served(DATABASE_URL=f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
    response = client.get("/api/ready")
    assert response.status_code == 503
    assert response.json()["database"] is False


def _signed(body: bytes, secret: str) -> str:
    at = int(time.time())
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _deliveries(event_type: str, outcome: str) -> float:
    return sample("credit_app_stripe_webhook_seconds_count", event_type=event_type, outcome=outcome)


def test_stripe_webhooks_are_timed_by_event_type_and_outcome(served):
    client = served(**STRIPE_TEST_MODE)
    secret = STRIPE_TEST_MODE["STRIPE_WEBHOOK_SECRET"]
    before = {
        ("customer.deleted", "ignored"): _deliveries("customer.deleted", "ignored"),
        ("other", "ignored"): _deliveries("other", "ignored"),
        ("other", "rejected"): _deliveries("other", "rejected"),
    }
    # A handled type about a customer that is not ours, a type the app does not handle
    # (any name a signed body likes), and a bad signature.
    for kind in ("customer.deleted", f"made.up.{uuid.uuid4().hex}"):
        body = json.dumps(sp.event(kind, {"id": sp.new_id("cus"), "object": "customer"})).encode()
        answer = client.post(
            routes.STRIPE_WEBHOOK, content=body, headers={"Stripe-Signature": _signed(body, secret)}
        )
        assert answer.json()["outcome"] == "ignored"
    refused = client.post(
        routes.STRIPE_WEBHOOK, content=b"{}", headers={"Stripe-Signature": _signed(b"{}", "x")}
    )
    assert refused.status_code == 400
    for labels, count in before.items():
        assert _deliveries(*labels) == count + 1
