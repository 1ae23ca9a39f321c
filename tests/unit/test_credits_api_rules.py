"""The credits API's rules that need no server: its settings refuse to start on a bad
rate or origin, the ledger keys of API requests, what makes two requests the same one,
the ledger's refusals as answers, and a crash answered without a word about the server."""

import uuid

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from credit_app import credits
from credit_app.api.app_services import AppServices
from credit_app.api.v1 import create_v1, errors
from credit_app.credits import keys
from credit_app.credits_api import operations
from credit_app.credits_api.requests import IdempotentRequest, scope_of
from credit_app.settings import Settings

USER = uuid.UUID("6f1c2a4e-0b7d-4c1e-9a55-3d2f8e7b6a10")


@pytest.mark.parametrize("rate", ["120/minute", "10/second", "1000 per hour", "1/day"])
def test_api_rate_limit_takes_one_rate(rate):
    assert Settings(api_rate_limit=rate).api_rate_limit == rate


@pytest.mark.parametrize("rate", ["", "fast", "0/minute", "10/fortnight", "1/second;10/minute"])
def test_a_bad_api_rate_limit_stops_the_start(rate):
    with pytest.raises(ValidationError, match="api_rate_limit"):
        Settings(api_rate_limit=rate)


def test_a_bad_api_rate_limit_in_the_environment_stops_the_start(monkeypatch):
    monkeypatch.setenv("API_RATE_LIMIT", "lots")
    with pytest.raises(ValidationError, match="API_RATE_LIMIT"):
        Settings()


@pytest.mark.parametrize(
    "origins, listed",
    [
        ("", []),
        ("https://shop.example", ["https://shop.example"]),
        (
            "https://shop.example, http://localhost:5173,http://[::1]:8080",
            ["https://shop.example", "http://localhost:5173", "http://[::1]:8080"],
        ),
        ("https://xn--bcher-kva.example:8443,", ["https://xn--bcher-kva.example:8443"]),
    ],
)
def test_api_cors_origins_are_exact_origins(origins, listed):
    assert Settings(api_cors_origins=origins).api_cors_origin_list == listed


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://*.shop.example",
        "null",
        "shop.example",
        "ftp://shop.example",
        "https://shop.example/",
        "https://shop.example/app",
        "https://shop.example?x=1",
        "https://Shop.example",
        "https://user@shop.example",
        "https://shop.example:443",
        "http://shop.example:80",
        "https://shop.example:",
        "https://shop.example:99999",
        "https://bücher.example",
        "https://shop example",
    ],
)
def test_a_bad_api_cors_origin_stops_the_start(origin):
    with pytest.raises(ValidationError, match="api_cors_origins"):
        Settings(api_cors_origins=f"https://ok.example,{origin}")


def test_an_api_request_has_a_ledger_key_of_its_own_per_scope_and_key():
    mine = keys.api_request(scope_of(USER), "order-1")
    assert mine.startswith(f"api:user:{USER}:") and len(mine) == len(f"api:user:{USER}:") + 64
    service = keys.api_request(scope_of(None), "order-1")
    assert service.startswith("api:service:")
    assert len({mine, service, keys.api_request(scope_of(USER), "order-2")}) == 3
    # The client's key is hashed: no Idempotency-Key spells another namespace's key.
    assert "order-1" not in mine and len(keys.api_request("service", "x" * 255)) < 255
    for scope in ("user:me", "users", "", f"user:{USER}:x"):
        with pytest.raises(ValueError):
            keys.api_request(scope, "order-1")
    with pytest.raises(ValueError):
        keys.api_request("service", "")
    with pytest.raises(ValueError):
        keys.admin_grant(service)  # an operator cannot pre-empt an API request's key


def _request(**changes) -> IdempotentRequest:
    fields = {
        "owner": USER,
        "key": "k-1",
        "method": "POST",
        "path": "/spend",
        "user_id": USER,
        "body": {"amount": 5, "feature": "chat", "description": None},
    } | changes
    return IdempotentRequest.of(**fields)


def test_the_same_request_is_the_same_whatever_the_order_of_its_fields():
    same = _request(body={"description": None, "feature": "chat", "amount": 5}, method="post")
    assert same == _request()
    assert _request().scope == f"user:{USER}" and _request(owner=None).scope == "service"


@pytest.mark.parametrize(
    "change",
    [
        {"path": "/holds"},
        {"method": "GET"},
        {"user_id": uuid.UUID(int=1)},
        {"body": {"amount": 6, "feature": "chat", "description": None}},
        {"body": {"amount": 5, "feature": "chat", "description": "x"}},
    ],
)
def test_another_method_path_account_or_body_is_another_request(change):
    assert _request(**change).request_hash != _request().request_hash


def test_the_ledgers_refusals_answer_with_their_numbers():
    short = errors.refusal(credits.InsufficientCredits(required=50, available=10))
    assert short.status == 402
    assert short.body == (
        '{"error":{"available":10,"code":"insufficient_credits",'
        '"message":"Needs 50 credits; 10 available.","required":50}}'
    )
    limit = errors.refusal(credits.SpendingLimitReached(required=7, limit=10, used=4))
    assert limit.status == 402 and '"code":"spending_limit"' in limit.body
    assert '"limit":10' in limit.body and '"used":4' in limit.body and '"available":6' in limit.body
    assert errors.refusal(operations.NoSuchHold(7)).status == 404
    assert errors.refusal(credits.HoldNotActive(7, "unknown")).status == 404
    settled = errors.refusal(credits.HoldNotActive(7, "expired"))
    assert settled.status == 409 and '"status":"expired"' in settled.body
    with pytest.raises(TypeError):
        errors.refusal(ValueError("not the ledger's"))


def test_a_crash_answers_500_in_the_error_shape_and_says_nothing_of_the_server():
    services = AppServices(payments=None, gateway=None)  # type: ignore[arg-type]
    app = create_v1(services, Settings(api_rate_limit="100/minute"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM users WHERE password = 'hunter2'")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side."}
    }
